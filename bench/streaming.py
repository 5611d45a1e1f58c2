"""Scenario 3: a 50 MB upload and download through the gateway vs straight to the media
service — throughput ratio, and peak RSS growth of every process involved."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psutil
import requests
from PIL import Image

from bench.harness import BenchStack, median_spread

MB = 1024 * 1024


def payload() -> bytes:
    """A real photo-sized JPEG of about 50 MB: 33 megapixels of noise (which JPEG cannot
    compress much), so the media service handles it as it would a camera's file."""
    picture = Image.effect_noise((6700, 5000), 64).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=100)
    return buffer.getvalue()


@contextmanager
def peak_rss(processes: list[psutil.Process]) -> Iterator[dict[int, int]]:
    """Yields {pid: growth}, filled in when the block ends (sampled every 10 ms)."""
    baseline = {p.pid: p.memory_info().rss for p in processes}
    peak = dict(baseline)
    growth: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for proc in processes:
                with suppress(psutil.NoSuchProcess):
                    peak[proc.pid] = max(peak[proc.pid], proc.memory_info().rss)
            time.sleep(0.01)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield growth
    finally:
        done.set()
        thread.join()
        growth.update({pid: peak[pid] - baseline[pid] for pid in baseline})


def part_processes(bench: BenchStack, part: str) -> list[psutil.Process]:
    master = psutil.Process(bench.stack.processes[part].pid)
    return [master, *master.children()]


def transfer(base_url: str, headers: dict[str, str], data: bytes) -> tuple[float, float]:
    """Seconds to upload ``data`` and to download it again (verified)."""
    started = time.perf_counter()
    created = requests.post(
        f"{base_url}/api/v1/media/files",
        headers=headers,
        files={"file": ("bench.jpg", data, "image/jpeg")},
        timeout=300,
    )
    created.raise_for_status()
    upload = time.perf_counter() - started
    started = time.perf_counter()
    received = 0
    with requests.get(
        f"{base_url}/api/v1/media/files/{created.json()['id']}/content",
        headers=headers,
        stream=True,
        timeout=300,
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_content(256 * 1024):
            received += len(chunk)
    download = time.perf_counter() - started
    if received != len(data):
        raise RuntimeError(f"downloaded {received} bytes of {len(data)}")
    return upload, download


def run(bench: BenchStack, *, rounds: int) -> list[str]:
    user_id = bench.create_manager()
    data = payload()
    client = {"Authorization": f"Bearer {bench.client_token(user_id)}"}
    up_ratio: list[float] = []
    down_ratio: list[float] = []
    gateway_growth: list[int] = []
    media_growth: list[int] = []
    for _ in range(rounds):
        direct_headers = {"X-Frota-Internal": bench.internal_token("media", user_id)}
        direct_up, direct_down = transfer(bench.url("media"), direct_headers, data)
        processes = part_processes(bench, "gateway") + part_processes(bench, "media")
        gateway_pids = {p.pid for p in part_processes(bench, "gateway")}
        with peak_rss(processes) as growth:
            via_up, via_down = transfer(bench.url(), client, data)
        up_ratio.append(direct_up / via_up)
        down_ratio.append(direct_down / via_down)
        gateway_growth.append(max(g for pid, g in growth.items() if pid in gateway_pids))
        media_growth.append(max(g for pid, g in growth.items() if pid not in gateway_pids))

    def fmt(values: list[float]) -> str:
        median, spread = median_spread(values)
        return f"{median:.2f} (±{spread / 2:.2f})"

    size = f"{len(data) / MB:.0f} MB JPEG"
    return [
        f"| 3 | {size} upload: gateway / direct throughput | {fmt(up_ratio)} |",
        f"| 3 | {size} download: gateway / direct throughput | {fmt(down_ratio)} |",
        f"| 3 | peak RSS growth of any gateway process during the transfer | "
        f"{max(gateway_growth) / MB:.1f} MB |",
        f"| 3 | peak RSS growth of any media process during the transfer | "
        f"{max(media_growth) / MB:.1f} MB |",
    ]
