"""Thumbnails: bounded, upright, without metadata, cached, refused for bombs and PDFs."""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from PIL import Image

from media_service.images import Decoder
from shared.errors import APIError
from tests.media.conftest import FILES, stored_files, upload
from tests.support.files import (
    decompression_bomb_png,
    heic_bytes,
    pdf_bytes,
    photo_with_exif,
    png_bytes,
)


def thumbnail(media_api, file_id, *, user, role="driver", size=None, **kwargs):
    query = {} if size is None else {"size": size}
    return media_api.get(
        f"{FILES}/{file_id}/thumbnail", user=user, role=role, query_string=query, **kwargs
    )


def is_red(pixel):
    red, green, blue = pixel
    return red > 150 and green < 80 and blue < 80


def is_blue(pixel):
    red, green, blue = pixel
    return blue > 150 and red < 80 and green < 80


def test_thumbnail_is_upright_within_its_box_and_carries_no_metadata(media_api):
    user = str(uuid.uuid4())
    # Stored 1000x600 with the left half red; orientation 6 shows it turned a
    # quarter clockwise: 600x1000, red on top.
    photo = photo_with_exif(width=1000, height=600, orientation=6)
    file_id = upload(media_api, photo, user=user).json["id"]

    response = thumbnail(media_api, file_id, user=user)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    with Image.open(io.BytesIO(response.data)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (192, 320)
        assert is_red(thumb.getpixel((96, 40)))
        assert is_blue(thumb.getpixel((96, 280)))
        assert len(thumb.getexif()) == 0
        assert "exif" not in thumb.info
        assert "xmp" not in thumb.info


@pytest.mark.parametrize(("size", "expected"), [(160, (160, 96)), (640, (640, 384))])
def test_thumbnail_sizes_come_from_a_small_allowed_set(media_api, size, expected):
    user = str(uuid.uuid4())
    file_id = upload(media_api, photo_with_exif(width=1000, height=600, orientation=1), user=user)
    response = thumbnail(media_api, file_id.json["id"], user=user, size=size)
    with Image.open(io.BytesIO(response.data)) as thumb:
        assert thumb.size == expected


def test_a_size_outside_the_allowed_set_is_422(media_api):
    user = str(uuid.uuid4())
    file_id = upload(media_api, photo_with_exif(), user=user).json["id"]
    response = thumbnail(media_api, file_id, user=user, size=5000)
    assert response.status_code == 422
    assert "size" in response.json["error"]["details"]


def test_thumbnail_is_made_once_then_served_from_the_volume(media_api, settings):
    user = str(uuid.uuid4())
    file_id = upload(media_api, photo_with_exif(), user=user).json["id"]
    first = thumbnail(media_api, file_id, user=user)
    cached = [p for p in stored_files(settings.media_root) if ".thumbnails" in p.parts]
    assert len(cached) == 1
    cached[0].write_bytes(b"marker")  # served as it is from now on: nothing re-encodes it
    assert thumbnail(media_api, file_id, user=user).data == b"marker"
    again = thumbnail(
        media_api, file_id, user=user, headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304


def test_transparent_png_and_heic_get_jpeg_thumbnails(media_api):
    user = str(uuid.uuid4())
    for data, name in ((png_bytes(), "a.png"), (heic_bytes(), "a.heic")):
        file_id = upload(media_api, data, user=user, name=name, mimetype=None).json["id"]
        response = thumbnail(media_api, file_id, user=user)
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.data)).format == "JPEG"


def test_pdfs_have_no_thumbnail(media_api):
    user = str(uuid.uuid4())
    file_id = upload(
        media_api, pdf_bytes(), user=user, name="a.pdf", mimetype="application/pdf"
    ).json["id"]
    response = thumbnail(media_api, file_id, user=user)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "no_thumbnail"


def test_decompression_bomb_is_stored_but_refused_a_thumbnail(media_api, settings):
    user = str(uuid.uuid4())
    bomb = decompression_bomb_png()
    created = upload(media_api, bomb, user=user, name="bomb.png", mimetype="image/png")
    assert created.status_code == 201
    # Only the header was read: its size is known, no pixel was decoded.
    assert (created.json["width"], created.json["height"]) == (100_000, 100_000)
    response = thumbnail(media_api, created.json["id"], user=user)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "image_too_large"
    assert [p for p in stored_files(settings.media_root) if ".thumbnails" in p.parts] == []
    assert [p for p in stored_files(settings.media_root) if ".incoming" in p.parts] == []


def test_another_drivers_thumbnail_is_404(media_api):
    file_id = upload(media_api, photo_with_exif(), user=str(uuid.uuid4())).json["id"]
    response = thumbnail(media_api, file_id, user=str(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "file_not_found"


@contextmanager
def slot_held(decoder: Decoder) -> Iterator[None]:
    """Inside, a decode on another thread holds one of ``decoder``'s slots."""
    decoding = threading.Event()
    release = threading.Event()

    def slow_decode():
        decoding.set()
        release.wait(10)

    first = threading.Thread(target=decoder.run, args=(slow_decode,))
    first.start()
    try:
        assert decoding.wait(5)
        yield
    finally:
        release.set()
        first.join()


def test_a_thumbnail_waits_its_turn_then_gets_503_with_retry_after(tmp_path):
    decoder = Decoder(1, wait_seconds=0.2, lock_dir=tmp_path)
    with slot_held(decoder):
        started = time.monotonic()
        with pytest.raises(APIError) as busy:
            decoder.run(lambda: b"never decoded")
        assert 0.2 <= time.monotonic() - started < 2
    assert (busy.value.status_code, busy.value.code) == (503, "thumbnails_busy")
    assert busy.value.headers["Retry-After"] == "1"
    assert decoder.run(lambda: b"next turn") == b"next turn"


def test_decode_slots_are_shared_by_every_decoder_of_the_machine(tmp_path):
    # Two decoders on one lock directory, as two gunicorn workers are: one slot in all.
    in_one_worker = Decoder(1, wait_seconds=0.2, lock_dir=tmp_path)
    in_another = Decoder(1, wait_seconds=0.2, lock_dir=tmp_path)
    with slot_held(in_one_worker), pytest.raises(APIError) as busy:
        in_another.run(lambda: b"never decoded")
    assert busy.value.code == "thumbnails_busy"
    assert in_another.run(lambda: b"its turn") == b"its turn"
