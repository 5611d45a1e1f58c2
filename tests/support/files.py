"""Small real files of each accepted type (and some that must be refused), made in memory."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from datetime import datetime

import pillow_heif
from PIL import ExifTags, Image

# Pillow writes HEIC (as iPhones do) only with this plugin registered.
pillow_heif.register_heif_opener()

# A JPEG comment segment holds at most this many bytes of payload.
MAX_COMMENT = 65_533


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg_bytes(size: int = 20_000) -> bytes:
    """A real JPEG of exactly ``size`` bytes: a tiny picture padded with comment segments."""
    picture = _encode(Image.new("RGB", (8, 8), (200, 30, 30)), "JPEG")
    missing = size - len(picture)
    assert missing == 0 or missing >= 4, f"a JPEG here has {len(picture)} bytes or 4 more"
    # Each segment costs 4 bytes of marker and length besides its payload.
    segments = -(-missing // (MAX_COMMENT + 4))
    padding = bytearray()
    for index in range(segments):
        payload = missing // segments + (index < missing % segments) - 4
        padding += b"\xff\xfe" + struct.pack(">H", payload + 2) + _filler(payload)
    return picture[:2] + bytes(padding) + picture[2:]


def _filler(size: int) -> bytes:
    return (bytes(range(251)) * (size // 251 + 1))[:size]


def photo_with_exif(
    *,
    width: int = 64,
    height: int = 48,
    orientation: int = 6,
    captured_at: datetime = datetime(2026, 3, 14, 9, 26, 53),
) -> bytes:
    """A JPEG that a phone could have taken: EXIF orientation, capture time and GPS position.

    The left half is red and the right half blue, so a test can tell which way up it is.
    """
    image = Image.new("RGB", (width, height), (220, 0, 0))
    image.paste((0, 0, 220), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "FrotaCam"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = captured_at.strftime(
        "%Y:%m:%d %H:%M:%S"
    )
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (23.0, 33.0, 1.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (46.0, 38.0, 2.0)
    return _encode(image, "JPEG", exif=exif, quality=95)


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    return _encode(Image.new("RGBA", (width, height), (0, 128, 0, 128)), "PNG")


def webp_bytes() -> bytes:
    return _encode(Image.new("RGB", (30, 20), (0, 0, 200)), "WEBP")


def heic_bytes() -> bytes:
    return _encode(Image.new("RGB", (30, 20), (0, 200, 0)), "HEIF")


def decompression_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG of a few hundred bytes that declares ``width`` x ``height`` pixels.

    Decoded, it would take tens of gigabytes; the header alone is what gives it away.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    # A few rows of zeros; the rest of the image is simply missing.
    rows = zlib.compress(b"\x00" * (1 + width // 8) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def pdf_bytes() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def html_bytes() -> bytes:
    return b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def svg_bytes() -> bytes:
    return (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
        b"<script>alert(1)</script></svg>"
    )


def exe_bytes() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
