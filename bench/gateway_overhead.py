"""Scenarios 1 and 2: an authenticated read through the gateway, straight to the fleet
service, and through nginx (with limit_req) — side by side, round after round."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from bench.harness import BenchStack, WrkResult, free_port, median_spread, wrk

READ_PATH = "/api/v1/fleet/vehicles?limit=20"
VEHICLES = 20
NGINX_CONF = """
worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    limit_req_zone $binary_remote_addr zone=api:10m rate=100000r/s;
    upstream fleet {{ server 127.0.0.1:{fleet_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            limit_req zone=api burst=100000 nodelay;
            proxy_pass http://fleet;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Frota-Internal "{token}";
        }}
    }}
}}
"""


def ensure_nginx() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        subprocess.run(["apt-get", "install", "-y", "-q", "nginx-light"], check=True)
    return binary


def seed_vehicles(bench: BenchStack, token: str) -> None:
    for n in range(VEHICLES):
        response = requests.post(
            f"{bench.url()}/api/v1/fleet/vehicles",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "plate": f"BEN{n:04d}",
                "make": "Fiat",
                "model": "Strada",
                "year": 2023,
                "fuel_types": ["gasoline", "ethanol"],
            },
            timeout=10,
        )
        response.raise_for_status()


class Nginx:
    """nginx proxying to the fleet service, injecting the internal credential itself."""

    def __init__(self, binary: str, fleet_port: int) -> None:
        self.binary = binary
        self.fleet_port = fleet_port
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="frota-bench-nginx-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, token: str) -> None:
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(tmp=self.tmp, fleet_port=self.fleet_port, port=self.port, token=token)
        )
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)])
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{self.port}/health", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def run(bench: BenchStack, *, rounds: int, seconds: int, connections: int) -> list[str]:
    user_id = bench.create_manager()
    client_token = bench.client_token(user_id)
    seed_vehicles(bench, client_token)
    nginx = Nginx(ensure_nginx(), bench.settings.fleet_port)
    results: dict[str, list[WrkResult]] = {"direct": [], "gateway": [], "nginx": []}
    try:
        for _ in range(rounds):
            internal = bench.internal_token("fleet", user_id)
            results["direct"].append(
                wrk(
                    bench.url("fleet") + READ_PATH,
                    headers={"X-Frota-Internal": internal},
                    connections=connections,
                    seconds=seconds,
                )
            )
            results["gateway"].append(
                wrk(
                    bench.url() + READ_PATH,
                    headers={"Authorization": f"Bearer {client_token}"},
                    connections=connections,
                    seconds=seconds,
                )
            )
            nginx.start(bench.internal_token("fleet", user_id))
            try:
                results["nginx"].append(
                    wrk(
                        f"http://127.0.0.1:{nginx.port}{READ_PATH}",
                        headers={},
                        connections=connections,
                        seconds=seconds,
                    )
                )
            finally:
                nginx.stop()
    finally:
        nginx.cleanup()
    return report(results)


def report(results: dict[str, list[WrkResult]]) -> list[str]:
    def ratio(a: str, b: str) -> str:
        values = [
            x.requests_per_second / y.requests_per_second
            for x, y in zip(results[a], results[b], strict=True)
        ]
        median, spread = median_spread(values)
        return f"{median:.2f} (±{spread / 2:.2f})"

    def latency(name: str) -> str:
        p50, _ = median_spread([r.p50_ms for r in results[name]])
        p99, _ = median_spread([r.p99_ms for r in results[name]])
        rps, _ = median_spread([r.requests_per_second for r in results[name]])
        return f"{rps:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"

    gateway_p50 = median_spread([r.p50_ms for r in results["gateway"]])[0]
    direct_p50 = median_spread([r.p50_ms for r in results["direct"]])[0]
    nginx_p50 = median_spread([r.p50_ms for r in results["nginx"]])[0]
    return [
        f"| 1 | authenticated read: gateway / direct throughput | {ratio('gateway', 'direct')} |",
        f"| 1 | added p50 latency through the gateway | {gateway_p50 - direct_p50:+.1f} ms |",
        f"| 2 | nginx (limit_req) / direct throughput | {ratio('nginx', 'direct')} |",
        f"| 2 | gateway / nginx throughput | {ratio('gateway', 'nginx')} |",
        f"| 2 | added p50 latency through nginx | {nginx_p50 - direct_p50:+.1f} ms |",
        f"|   | (direct: {latency('direct')}; gateway: {latency('gateway')}; "
        f"nginx: {latency('nginx')}) | |",
    ]
