"""The gateway's promises over real sockets: body limits and streaming memory,
the merged OpenAPI document, metrics, security headers."""

from __future__ import annotations

import re
import select
import socket
import threading
import time

import psutil
from openapi_spec_validator import validate

from tests.e2e.helpers import admin_token, bearer, metric_total
from tests.support.files import jpeg_bytes

MB = 1024 * 1024


def gateway_workers(stack) -> list[psutil.Process]:
    master = psutil.Process(stack.stack.processes["gateway"].pid)
    return master.children()


def raw_request(port: int, head: bytes, chunks=(), timeout: float = 10.0) -> bytes:
    """Send ``head`` then ``chunks`` until the server answers; return its head and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(timeout)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        head, _, body = answer.partition(b"\r\n\r\n")
        declared = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        while declared and len(body) < int(declared[1]):
            data = sock.recv(65536)
            if not data:
                break
            body += data
        return answer[: len(head) + 4] + body


def upload_head(stack, token: str, extra: str) -> bytes:
    return (
        f"POST /api/v1/media/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary=xyz\r\n{extra}\r\n"
    ).encode()


def test_an_upload_declared_over_the_limit_is_413_before_its_body_is_read(e2e_stack, http):
    token = admin_token(http, e2e_stack)
    head = upload_head(e2e_stack, token, f"Content-Length: {60 * MB}\r\n")
    started = time.monotonic()
    answer = raw_request(e2e_stack.settings.gateway_port, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    assert b'"payload_too_large"' in body, body[:200]
    # Not a byte of the 60 MB was sent: the answer came from the headers alone.
    assert time.monotonic() - started < 5


def test_a_chunked_upload_going_over_the_limit_is_cut_off_with_413(e2e_stack, http):
    token = admin_token(http, e2e_stack)
    head = upload_head(e2e_stack, token, "Transfer-Encoding: chunked\r\n")
    chunk = b"%x\r\n%s\r\n" % (MB, b"\xff" * MB)
    answer = raw_request(e2e_stack.settings.gateway_port, head, [chunk] * 60)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_45_mb_upload_passes_and_gateway_memory_stays_flat(e2e_stack, http):
    token = admin_token(http, e2e_stack)
    photo = jpeg_bytes(45 * MB)
    workers = gateway_workers(e2e_stack)
    before = {w.pid: w.memory_info().rss for w in workers}
    peak = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for worker in workers:
                peak[worker.pid] = max(peak[worker.pid], worker.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        response = http.post(
            f"{e2e_stack.url}/api/v1/media/files",
            headers=bearer(token),
            files={"file": ("big.jpg", photo, "image/jpeg")},
            timeout=120,
        )
        downloaded = http.get(
            f"{e2e_stack.url}/api/v1/media/files/{response.json()['id']}/content",
            headers=bearer(token),
            timeout=120,
        )
    finally:
        done.set()
        sampler.join()
    assert response.status_code == 201, response.text
    assert downloaded.content == photo
    growth = max(peak[pid] - before[pid] for pid in before)
    assert growth < 20 * MB, f"a gateway worker grew by {growth / MB:.1f} MB"


def test_merged_openapi_document_is_valid_and_covers_every_service(e2e_stack, http):
    response = http.get(f"{e2e_stack.url}/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    paths = document["paths"]
    assert "/api/v1/auth/login" in paths
    assert "/api/v1/fleet/vehicles" in paths
    assert "/api/v1/media/files" in paths
    assert not any(p.startswith("/internal") for p in paths)
    docs = http.get(f"{e2e_stack.url}/api/docs")
    assert docs.status_code == 200
    assert "/api/docs/assets/swagger-ui-bundle.js" in docs.text
    initializer = http.get(f"{e2e_stack.url}/api/docs/assets/frota-docs.js")
    assert initializer.status_code == 200
    assert "/api/v1/openapi.json" in initializer.text


def test_metrics_count_requests_and_are_not_public(e2e_stack, http):
    url = f"{e2e_stack.url}/metrics"
    before = metric_total(http.get(url).text, "frota_http_requests_total", status="401")
    for _ in range(5):
        http.get(f"{e2e_stack.url}/api/v1/fleet/vehicles")
    after_text = http.get(url).text
    assert metric_total(after_text, "frota_http_requests_total", status="401") >= before + 5
    assert "frota_http_request_duration_seconds_bucket" in after_text
    service = http.get(f"{e2e_stack.service_url('fleet')}/metrics")
    assert service.status_code == 200
    assert "frota_http_requests_total" in service.text
    proxied = http.get(url, headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 404


def test_security_headers_on_every_response(e2e_stack, http):
    for response in (
        http.get(f"{e2e_stack.url}/api/v1/fleet/vehicles"),
        http.get(
            f"{e2e_stack.url}/api/v1/fleet/vehicles", headers=bearer(admin_token(http, e2e_stack))
        ),
        http.get(f"{e2e_stack.url}/health"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        # Plain HTTP from an untrusted peer: no HSTS (it would be a lie).
        assert "Strict-Transport-Security" not in response.headers
