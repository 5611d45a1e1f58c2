"""The media volume under stress, through the gateway: an upload cut off mid-stream
and a full volume leave nothing half-written."""

from __future__ import annotations

import socket
import time

import requests

from tests.e2e.conftest import RunningStack, module_stack
from tests.e2e.helpers import db_user_id, stored_media, token_for
from tests.support.files import jpeg_bytes

MB = 1024 * 1024


stack = module_stack(
    "media-faults-var",
    gateway_workers=2,
    MEDIA_MAX_UPLOAD_MB="2",
    MEDIA_QUOTA_MB="3",
)


def upload(stack: RunningStack, headers: dict[str, str], data: bytes) -> requests.Response:
    return requests.post(
        f"{stack.url}/api/v1/media/files",
        headers=headers,
        files={"file": ("photo.jpg", data, "image/jpeg")},
        timeout=30,
    )


def test_an_upload_cut_off_mid_stream_leaves_no_file_and_no_row(stack):
    token = token_for(stack, db_user_id(stack))
    before = stored_media(stack)
    boundary = "cutoff"
    head = (
        f"POST /api/v1/media/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {int(1.5 * MB)}\r\n\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", stack.settings.gateway_port)) as sock:
        sock.sendall(head + jpeg_bytes(MB // 2))
        time.sleep(0.5)
    # The services notice the broken stream and clean up; give them a moment.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and stored_media(stack) != before:
        time.sleep(0.2)
    assert stored_media(stack) == before


def test_a_full_volume_is_507_and_nothing_is_half_written(stack):
    headers = {"Authorization": f"Bearer {token_for(stack, db_user_id(stack))}"}
    accepted = [upload(stack, headers, jpeg_bytes(int(1.2 * MB))) for _ in range(2)]
    assert [r.status_code for r in accepted] == [201, 201]
    before = stored_media(stack)
    refused = upload(stack, headers, jpeg_bytes(int(1.2 * MB)))
    assert refused.status_code == 507
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert stored_media(stack) == before
    usage = requests.get(
        f"{stack.url}/api/v1/media/usage",
        headers={"Authorization": f"Bearer {token_for(stack, db_user_id(stack))}"},
        timeout=10,
    ).json()
    assert usage["files"] == before[0]
