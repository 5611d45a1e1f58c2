"""Uploads, downloads, ownership, deletion, holds and usage, through the media API."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

import pytest

import media_service
from tests.conftest import make_settings
from tests.media.conftest import FILES, MB, USAGE, multipart, stored_files, upload, usage_row
from tests.support.files import (
    exe_bytes,
    heic_bytes,
    html_bytes,
    jpeg_bytes,
    pdf_bytes,
    photo_with_exif,
    png_bytes,
    sha256,
    svg_bytes,
    webp_bytes,
)
from tests.support.identity import ApiClient


def test_jpeg_uploads_and_downloads_byte_identical(media_api):
    user = str(uuid.uuid4())
    data = jpeg_bytes(50_000)
    created = upload(media_api, data, user=user)
    assert created.status_code == 201, created.json
    meta = created.json
    assert meta["content_type"] == "image/jpeg"
    assert meta["size"] == len(data)
    assert meta["sha256"] == sha256(data)
    content = media_api.get(f"{FILES}/{meta['id']}/content", user=user, role="driver")
    assert content.status_code == 200
    assert content.data == data
    assert content.headers["Content-Type"] == "image/jpeg"
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    assert content.headers["Content-Disposition"].startswith("inline")


def test_upload_records_uploader_kind_expiry_and_image_facts(media_api):
    user = str(uuid.uuid4())
    photo = photo_with_exif(width=64, height=48, orientation=6)
    meta = upload(media_api, photo, user=user, kind="receipt").json
    assert meta["owner_id"] == user
    assert meta["kind"] == "receipt"
    assert meta["held"] is False
    assert meta["filename"] == "photo.jpg"
    # Orientation 6 turns the picture a quarter: 64x48 as stored, 48x64 as seen.
    assert (meta["width"], meta["height"]) == (48, 64)
    assert meta["captured_at"] == "2026-03-14T09:26:53"
    created = datetime.fromisoformat(meta["created_at"])
    expires = datetime.fromisoformat(meta["expires_at"])
    assert expires - created == timedelta(days=60)
    assert media_api.get(f"{FILES}/{meta['id']}", user=user, role="driver").json == meta


def test_stored_name_is_derived_from_id_not_filename(media_api, settings):
    created = upload(media_api, jpeg_bytes(), user=str(uuid.uuid4()), name="../../etc/passwd.jpg")
    assert created.status_code == 201
    paths = stored_files(settings.media_root)
    assert [p.name for p in paths] == [uuid.UUID(created.json["id"]).hex]
    assert all(settings.media_root in p.parents for p in paths)


def test_etag_and_range_requests(media_api):
    user = str(uuid.uuid4())
    data = jpeg_bytes(10_000)
    file_id = upload(media_api, data, user=user).json["id"]
    url = f"{FILES}/{file_id}/content"
    first = media_api.get(url, user=user, role="driver")
    etag = first.headers["ETag"]
    assert sha256(data) in etag
    again = media_api.get(url, user=user, role="driver", headers={"If-None-Match": etag})
    assert again.status_code == 304
    partial = media_api.get(url, user=user, role="driver", headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.data == data[100:200]
    assert partial.headers["Content-Range"] == f"bytes 100-199/{len(data)}"


def test_pdf_is_accepted_by_its_bytes_and_downloads_as_attachment(media_api):
    user = str(uuid.uuid4())
    response = upload(media_api, pdf_bytes(), user=user, name="doc.pdf", mimetype="application/pdf")
    assert response.status_code == 201
    assert response.json["content_type"] == "application/pdf"
    assert response.json["width"] is None
    content = media_api.get(f"{FILES}/{response.json['id']}/content", user=user, role="driver")
    assert content.headers["Content-Type"] == "application/pdf"
    assert content.headers["Content-Disposition"] == "attachment; filename=doc.pdf"
    assert content.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("make", "declared", "expected"),
    [
        (png_bytes, "image/png", "image/png"),
        (webp_bytes, "image/webp", "image/webp"),
        (heic_bytes, "image/heic", "image/heic"),
        (heic_bytes, "image/heif", "image/heic"),
        (jpeg_bytes, "application/octet-stream", "image/jpeg"),
    ],
)
def test_each_accepted_type_is_recognised_by_its_bytes(media_api, make, declared, expected):
    response = upload(media_api, make(), user=str(uuid.uuid4()), name="x", mimetype=declared)
    assert response.status_code == 201, response.json
    assert response.json["content_type"] == expected


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(html_bytes(), id="html"),
        pytest.param(svg_bytes(), id="svg"),
        pytest.param(exe_bytes(), id="executable"),
        pytest.param(b"", id="empty"),
        # Starts as HTML, carries a JPEG signature later on.
        pytest.param(html_bytes() + jpeg_bytes(), id="html-then-jpeg"),
        # Starts with a JPEG signature but is not a JPEG at all.
        pytest.param(b"\xff\xd8\xff\xe0" + html_bytes() * 20, id="jpeg-signature-then-html"),
    ],
)
def test_anything_but_the_accepted_types_is_415_and_leaves_nothing(
    media_api, settings, db_session, content
):
    response = upload(media_api, content, user=str(uuid.uuid4()), name="photo.jpg")
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"
    assert stored_files(settings.media_root) == []
    assert usage_row(db_session).used_bytes == 0
    assert usage_row(db_session).reserved_bytes == 0


def test_declared_type_that_contradicts_the_bytes_is_415(media_api, settings):
    response = upload(media_api, png_bytes(), user=str(uuid.uuid4()), mimetype="image/jpeg")
    assert response.status_code == 415
    assert response.json["error"]["code"] == "content_type_mismatch"
    assert response.json["error"]["details"] == {"declared": "image/jpeg", "detected": "image/png"}
    assert stored_files(settings.media_root) == []


def test_file_over_the_size_limit_is_413_and_leaves_nothing(media_api, settings, db_session):
    body, content_type = multipart(jpeg_bytes(51 * MB))
    response = media_api.post(
        FILES, user=str(uuid.uuid4()), role="driver", data=body, content_type=content_type
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "file_too_large"
    assert stored_files(settings.media_root) == []
    assert usage_row(db_session).reserved_bytes == 0


def test_body_without_content_length_is_stopped_at_the_limit_while_streaming(
    tmp_path, database, database_url, redis_url, db_session
):
    settings = make_settings(tmp_path, database_url, redis_url, MEDIA_MAX_UPLOAD_MB="1")
    app = media_service.create_app(settings, database=database)
    api = ApiClient(app, "media", settings.internal_secret_key)
    body, content_type = multipart(jpeg_bytes(2 * MB))
    response = api.post(
        FILES,
        user=str(uuid.uuid4()),
        role="driver",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "file_too_large"
    assert stored_files(settings.media_root) == []
    assert usage_row(db_session).reserved_bytes == 0


def test_an_upload_with_many_file_parts_is_400_and_leaves_nothing(media_api, settings, db_session):
    # werkzeug accepts up to 1000 parts: each file part would be a temporary file.
    boundary = uuid.uuid4().hex
    part = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + jpeg_bytes(2000)
        + b"\r\n"
    )
    body = part * 500 + f"--{boundary}--\r\n".encode()
    response = media_api.post(
        FILES,
        user=str(uuid.uuid4()),
        role="driver",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "one_file_per_upload"
    assert stored_files(settings.media_root) == []
    assert usage_row(db_session).reserved_bytes == 0


def test_drivers_see_only_their_own_files_managers_see_all(media_api):
    owner, other = str(uuid.uuid4()), str(uuid.uuid4())
    file_id = upload(media_api, jpeg_bytes(), user=owner).json["id"]
    for path in (f"{FILES}/{file_id}", f"{FILES}/{file_id}/content"):
        response = media_api.get(path, user=other, role="driver")
        assert response.status_code == 404
        assert response.json["error"]["code"] == "file_not_found"
    for role in ("manager", "admin"):
        assert (
            media_api.get(f"{FILES}/{file_id}", user=str(uuid.uuid4()), role=role).status_code
            == 200
        )


def test_a_driver_cannot_delete_another_drivers_file(media_api, settings):
    owner, other = str(uuid.uuid4()), str(uuid.uuid4())
    file_id = upload(media_api, jpeg_bytes(), user=owner).json["id"]
    assert media_api.delete(f"{FILES}/{file_id}", user=other, role="driver").status_code == 404
    assert media_api.get(f"{FILES}/{file_id}", user=owner, role="driver").status_code == 200
    assert len(stored_files(settings.media_root)) == 1


def test_owner_deletes_row_file_and_thumbnail_together(media_api, settings, db_session):
    owner = str(uuid.uuid4())
    data = photo_with_exif()
    file_id = upload(media_api, data, user=owner).json["id"]
    assert (
        media_api.get(f"{FILES}/{file_id}/thumbnail", user=owner, role="driver").status_code == 200
    )
    assert len(stored_files(settings.media_root)) == 2  # the file and its thumbnail
    assert usage_row(db_session).used_bytes == len(data)

    response = media_api.delete(f"{FILES}/{file_id}", user=owner, role="driver")
    assert response.status_code == 204
    assert media_api.get(f"{FILES}/{file_id}", user=owner, role="driver").status_code == 404
    assert stored_files(settings.media_root) == []
    assert usage_row(db_session).used_bytes == 0


def test_a_manager_deletes_anyones_file(media_api, settings):
    file_id = upload(media_api, jpeg_bytes(), user=str(uuid.uuid4())).json["id"]
    manager = str(uuid.uuid4())
    assert media_api.delete(f"{FILES}/{file_id}", user=manager, role="manager").status_code == 204
    assert stored_files(settings.media_root) == []


def test_managers_hold_and_release_files_and_a_held_file_cannot_be_deleted(media_api, settings):
    owner, manager = str(uuid.uuid4()), str(uuid.uuid4())
    file_id = upload(media_api, jpeg_bytes(), user=owner).json["id"]
    hold = f"{FILES}/{file_id}/hold"

    refused = media_api.post(hold, user=owner, role="driver")
    assert refused.status_code == 403
    held = media_api.post(hold, user=manager, role="manager")
    assert held.status_code == 200
    assert held.json["held"] is True

    blocked = media_api.delete(f"{FILES}/{file_id}", user=owner, role="driver")
    assert blocked.status_code == 409
    assert blocked.json["error"]["code"] == "file_held"
    assert len(stored_files(settings.media_root)) == 1

    assert media_api.delete(hold, user=owner, role="driver").status_code == 403
    released = media_api.delete(hold, user=manager, role="manager")
    assert released.json["held"] is False
    assert media_api.delete(f"{FILES}/{file_id}", user=owner, role="driver").status_code == 204


def test_hold_on_a_missing_file_is_404(media_api):
    response = media_api.post(
        f"{FILES}/{uuid.uuid4()}/hold", user=str(uuid.uuid4()), role="manager"
    )
    assert response.status_code == 404
    assert response.json["error"]["code"] == "file_not_found"


def test_usage_reports_bytes_quota_files_and_the_oldest_file(media_api):
    user = str(uuid.uuid4())
    first, second = jpeg_bytes(30_000), jpeg_bytes(20_000)
    first_meta = upload(media_api, first, user=user).json
    upload(media_api, second, user=user)

    assert media_api.get(USAGE, user=user, role="driver").status_code == 403
    usage = media_api.get(USAGE, user=str(uuid.uuid4()), role="manager").json
    assert usage["used_bytes"] == len(first) + len(second)
    assert usage["reserved_bytes"] == 0
    assert usage["quota_bytes"] == 10240 * MB
    assert usage["files"] == 2
    assert usage["oldest_file"]["id"] == first_meta["id"]


def test_upload_without_file_part_is_422_and_releases_its_reservation(media_api, db_session):
    response = media_api.post(
        FILES,
        user=str(uuid.uuid4()),
        role="driver",
        data={"kind": "photo"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "file" in response.json["error"]["details"]
    assert usage_row(db_session).reserved_bytes == 0


def test_upload_with_an_empty_body_is_422(media_api, db_session):
    response = media_api.post(
        FILES,
        user=str(uuid.uuid4()),
        role="driver",
        data=b"",
        content_type="multipart/form-data; boundary=nothing",
    )
    assert response.status_code == 422
    error = response.json["error"]
    assert (error["code"], list(error["details"])) == ("validation_error", ["file"])
    assert usage_row(db_session).reserved_bytes == 0


def test_unknown_kind_is_422(media_api, settings):
    response = upload(media_api, jpeg_bytes(), user=str(uuid.uuid4()), kind="selfie")
    assert response.status_code == 422
    assert "kind" in response.json["error"]["details"]
    assert stored_files(settings.media_root) == []
