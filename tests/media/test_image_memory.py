"""Hostile images do not blow up the media workers' memory.

A real gunicorn media process (2 workers, 4 threads each) is sent, from
several threads at once, images made to be small on disk and huge in pixels,
then asked for their thumbnails from many threads at once, while the resident
memory of its workers is sampled every 5 ms. Before the fix, the PNG below
was decoded in full at upload (its EXIF lookup) and by every thumbnail
request at once: 18 concurrent thumbnails grew the two workers by 1.18 GB and
734 MB.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
import requests
from PIL import Image

from media_service.images import decode_cost
from shared.config import Settings
from tests.e2e.conftest import module_stack
from tests.media.conftest import FILES, MB, multipart
from tests.support.identity import gateway_credential

# Small enough for the test to be quick, large enough for real photos' thumbnails.
MAX_PIXELS = 16_000_000
WORKERS = 2
# Pillow holds 4 bytes a pixel (RGB too); resampling and the decoder's buffers
# add about a tenth (measured: 24 MP PNG, 100 MB). One image is decoded at a
# time across both workers (MEDIA_IMAGE_DECODES=1), so together they should
# never hold more than one decode at the bound, plus slack for the allocator
# and the request threads of each. Two decodes at once would be ~150 MB.
ONE_DECODE = int(4.4 * MAX_PIXELS)
TOTAL_BOUND = ONE_DECODE + WORKERS * 20 * MB


def flat_png(width: int, height: int) -> bytes:
    """An RGB PNG of one colour: ~1 MB on disk, ``width * height * 4`` bytes decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    row = b"\x00" + b"\x80" * (width * 3)  # filter byte, then the pixels
    compressor = zlib.compressobj(1)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def flat_jpeg(width: int, height: int) -> bytes:
    """A baseline grey JPEG of any size, written by hand: 2 bits a block, every block alike.

    Its Huffman tables have one code each ("0": DC unchanged; "0": end of
    block), so the scan is all zero bytes.
    """

    def segment(marker: int, payload: bytes) -> bytes:
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload

    one_code = bytes([1] + [0] * 15) + b"\x00"
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    return (
        b"\xff\xd8"
        + segment(0xDB, b"\x00" + b"\x01" * 64)
        + segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
        + segment(0xC4, b"\x00" + one_code)
        + segment(0xC4, b"\x10" + one_code)
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x00" * (blocks * 2 // 8)
        + b"\xff\xd9"
    )


media_process = module_stack(
    "image-memory",
    parts=("media",),
    WEB_CONCURRENCY=str(WORKERS),
    MEDIA_MAX_IMAGE_PIXELS=str(MAX_PIXELS),
    MEDIA_IMAGE_DECODES="1",
    MEDIA_IMAGE_DECODE_WAIT_SECONDS="30",
)


class RssSampler:
    """Every 5 ms: the largest growth of each worker's RSS, and of their sum, over the start."""

    def __init__(self, master_pid: int) -> None:
        self.workers = psutil.Process(master_pid).children()
        assert len(self.workers) == WORKERS
        self.baseline = {w.pid: w.memory_info().rss for w in self.workers}
        self.growth = dict.fromkeys(self.baseline, 0)
        self.total_growth = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            total = 0
            for worker in self.workers:
                grown = worker.memory_info().rss - self.baseline[worker.pid]
                self.growth[worker.pid] = max(self.growth[worker.pid], grown)
                total += grown
            self.total_growth = max(self.total_growth, total)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def credential(settings, role: str = "manager") -> dict[str, str]:
    return gateway_credential(
        settings.internal_secret_key, "media", user_id=str(uuid.uuid4()), role=role
    )


def test_hostile_images_are_uploaded_and_thumbnailed_concurrently_within_bounded_memory(
    media_process,
):
    settings = media_process.settings
    url = media_process.service_url("media")
    bomb = flat_png(9000, 9000)  # 81 MP: under Pillow's 89 MP, 5x our bound
    photo = flat_png(4000, 4000)  # 16 MP: at our bound, decoded in full
    giant_jpeg = flat_jpeg(24000, 24000)  # 576 MP, decoded at 1/8 a side: 9 MP
    images = {"bomb": bomb, "photo": photo, "giant_jpeg": giant_jpeg}
    assert max(len(data) for data in images.values()) < 3 * MB

    def upload(name: str) -> tuple[str, requests.Response]:
        body, content_type = multipart(images[name], name=f"{name}.img", mimetype="")
        headers = {**credential(settings), "Content-Type": content_type}
        return name, requests.post(f"{url}{FILES}", data=body, headers=headers, timeout=30)

    # Each image twice, all at once: only headers are read at upload.
    with (
        RssSampler(media_process.stack.processes["media"].pid) as uploads,
        ThreadPoolExecutor(2 * len(images)) as pool,
    ):
        uploaded = list(pool.map(upload, [*images, *images]))
    ids: dict[str, list[str]] = {name: [] for name in images}
    for name, response in uploaded:
        assert response.status_code == 201, response.text
        ids[name].append(response.json()["id"])
    assert max(uploads.growth.values()) < 40 * MB, uploads.growth

    # Every size of every file, each asked for by two threads at once: 36 requests,
    # 12 decodes of a 16 MP picture, enough to keep both workers decoding.
    requests_to_make = [
        (name, file_id, size) for name in ids for file_id in ids[name] for size in (160, 320, 640)
    ] * 2

    def thumbnail(job: tuple[str, str, int]) -> tuple[str, int, requests.Response]:
        name, file_id, size = job
        response = requests.get(
            f"{url}{FILES}/{file_id}/thumbnail",
            params={"size": size},
            headers=credential(settings),
            timeout=60,
        )
        return name, size, response

    started = time.monotonic()
    with (
        RssSampler(media_process.stack.processes["media"].pid) as thumbnails,
        ThreadPoolExecutor(len(requests_to_make)) as pool,
    ):
        answers = list(pool.map(thumbnail, requests_to_make))
    elapsed = time.monotonic() - started

    for name, size, response in answers:
        if name == "bomb":
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] == "image_too_large"
        else:
            assert response.status_code == 200, (name, size, response.text)
            assert response.headers["Content-Type"] == "image/jpeg"
    assert thumbnails.total_growth < TOTAL_BOUND, thumbnails.growth
    assert elapsed < 30


def test_decode_cost_counts_what_a_thumbnail_really_decodes(tmp_path):
    def opened(image: Image.Image, name: str, **params: Any) -> Image.Image:
        path = tmp_path / name
        image.save(path, **params)
        return Image.open(path)

    big = Image.new("RGB", (4000, 3000), "grey")
    # A baseline JPEG decodes at 1/2, 1/4 or 1/8 scale: 640 px thumbnails from 1000 x 750.
    with opened(big, "a.jpg") as baseline:
        assert decode_cost(baseline, 640) == 2000 * 1500
    with opened(big, "a.jpg", progressive=True) as progressive:
        # libjpeg keeps a progressive image's coefficients for every pixel.
        assert decode_cost(progressive, 640) == 4000 * 3000
    with opened(big, "a.png") as png:
        assert decode_cost(png, 640) == 4000 * 3000
    with opened(Image.new("RGBA", (400, 300)), "b.png") as transparent:
        assert decode_cost(transparent, 160) == 2 * 400 * 300
    with opened(Image.new("RGB", (400, 300)), "c.webp") as webp:
        assert decode_cost(webp, 160) == 4 * 400 * 300
    with opened(Image.new("RGB", (400, 300)), "d.heic") as heic:
        assert decode_cost(heic, 160) == 400 * 300 * 7 // 4
    # So an iPhone's 24 MP HEIC (5712 x 4284) still gets its thumbnails by default.
    assert Settings().media_max_image_pixels > 5712 * 4284 * 7 // 4
