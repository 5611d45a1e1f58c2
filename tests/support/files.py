"""Small real files of each accepted type, made in memory."""

from __future__ import annotations

import hashlib

JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def jpeg_bytes(size: int = 20_000) -> bytes:
    """A JPEG-signed byte string of about ``size`` bytes (enough for type detection)."""
    body = bytes(i % 251 for i in range(max(size - len(JPEG_HEADER) - 2, 0)))
    return JPEG_HEADER + body + b"\xff\xd9"


def pdf_bytes() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
