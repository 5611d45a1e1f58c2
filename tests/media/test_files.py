from __future__ import annotations

import io
import uuid

from tests.support.files import jpeg_bytes, pdf_bytes, sha256

FILES = "/api/v1/media/files"


def upload(
    media_api, data: bytes, *, user, role="driver", name="photo.jpg", mimetype=None, kind="photo"
):
    return media_api.post(
        FILES,
        user=user,
        role=role,
        data={"file": (io.BytesIO(data), name, mimetype or "image/jpeg"), "kind": kind},
        content_type="multipart/form-data",
    )


def stored_files(settings):
    return [p for p in settings.media_root.rglob("*") if p.is_file()]


def test_jpeg_uploads_and_downloads_byte_identical(media_api, settings):
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


def test_stored_name_is_derived_from_id_not_filename(media_api, settings):
    user = str(uuid.uuid4())
    created = upload(media_api, jpeg_bytes(), user=user, name="../../etc/passwd.jpg")
    assert created.status_code == 201
    paths = stored_files(settings)
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


def test_pdf_is_accepted_by_its_bytes(media_api):
    response = upload(
        media_api,
        pdf_bytes(),
        user=str(uuid.uuid4()),
        name="doc.pdf",
        mimetype="application/pdf",
        kind="document",
    )
    assert response.status_code == 201
    assert response.json["content_type"] == "application/pdf"


def test_html_named_as_jpeg_is_415_and_leaves_nothing(media_api, settings):
    html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
    response = upload(media_api, html, user=str(uuid.uuid4()), name="photo.jpg")
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"
    assert stored_files(settings) == []


def test_drivers_cannot_see_each_others_files(media_api):
    owner, other = str(uuid.uuid4()), str(uuid.uuid4())
    file_id = upload(media_api, jpeg_bytes(), user=owner).json["id"]
    assert media_api.get(f"{FILES}/{file_id}", user=other, role="driver").status_code == 404
    assert media_api.get(f"{FILES}/{file_id}/content", user=other, role="driver").status_code == 404
    assert (
        media_api.get(f"{FILES}/{file_id}", user=str(uuid.uuid4()), role="manager").status_code
        == 200
    )


def test_upload_without_file_part_is_422(media_api):
    response = media_api.post(
        FILES,
        user=str(uuid.uuid4()),
        role="driver",
        data={"kind": "photo"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "file" in response.json["error"]["details"]
