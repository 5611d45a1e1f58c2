"""What Pillow tells us about images: checked at upload, and thumbnails on demand.

Memory stays bounded whatever the image: the upload check reads headers only
(never pixels); a thumbnail decodes at most ``max_pixels`` (weighted by what
each decoder really holds), JPEG and HEIC decoding reduced where they can;
and the media workers of one machine decode at most a few images at a time
between them (:class:`Decoder`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import hashlib
import io
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pillow_heif
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from shared.errors import APIError

T = TypeVar("T")

# glibc's malloc_trim, where there is one (musl and others: nothing to trim).
_LIBC_PATH = ctypes.util.find_library("c")
_LIBC = ctypes.CDLL(_LIBC_PATH) if _LIBC_PATH else None
if _LIBC is not None and not hasattr(_LIBC, "malloc_trim"):
    _LIBC = None

# HEIC (iPhone photos) opens through Pillow like any other format.
pillow_heif.register_heif_opener()
# Pillow's own bomb check counts the pixels of the header (warning at 89 M,
# refusing at 179 M). Ours counts what a thumbnail really decodes, before
# anything is decoded, so a 200 MP JPEG (decoded at an eighth a side) still
# gets one and a 30 MP WebP does not: it replaces Pillow's.
Image.MAX_IMAGE_PIXELS = None

# Pillow's format name for each content type we accept as an image.
PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
}
THUMBNAIL_SIZES = (160, 320, 640)
DEFAULT_THUMBNAIL_SIZE = 320
# EXIF orientations that turn the picture a quarter: width and height swap on screen.
QUARTER_TURNS = frozenset({5, 6, 7, 8})
EXIF_TIME_FORMAT = "%Y:%m:%d %H:%M:%S"
# Pillow's errors for a file it cannot parse as an image.
UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError)
# thumbnail()'s first, cheap reduction stops at twice the final size (then resamples).
REDUCING_GAP = 2.0
# Bytes a decode holds per pixel, measured with Pillow 13 and pillow-heif 1.8
# on 24 MP pictures: Pillow's own image takes 4 (RGB too), HEIC about 7
# (libheif keeps its own planes), WebP about 15 (its decoder copies the
# picture twice). Alpha doubles it: resampling works on a premultiplied copy.
# A pixel of the bound is 4 bytes; others count in proportion.
PILLOW_BYTES_PER_PIXEL = 4
DECODE_BYTES_PER_PIXEL = {"HEIF": 7, "WEBP": 16}


@dataclass(frozen=True)
class ImageFacts:
    width: int | None = None
    height: int | None = None
    captured_at: datetime | None = None


def is_image(content_type: str) -> bool:
    return content_type in PILLOW_FORMATS


def inspect_image(path: Path, content_type: str) -> ImageFacts:
    """Check that ``path`` parses as the image type its signature claims; read its facts.

    Pillow parses only the header here, never the pixels, so this is cheap
    for large files and pixel bombs too (which are kept, and refused a
    thumbnail). A file that does not parse as that type (a forged or
    truncated header, a polyglot) is refused with 415. Width and height are
    as displayed, after the EXIF orientation.
    """
    try:
        with Image.open(path, formats=[PILLOW_FORMATS[content_type]]) as image:
            width, height = image.size
            orientation, captured_at = _exif_facts(image)
    except UNREADABLE:
        raise APIError(
            415, "unsupported_media_type", "The file is not a readable image of its type"
        ) from None
    if orientation in QUARTER_TURNS:
        width, height = height, width
    return ImageFacts(width=width, height=height, captured_at=captured_at)


def _exif_facts(image: Image.Image) -> tuple[int, datetime | None]:
    """The EXIF orientation and capture time (the camera's clock, no time zone)."""
    if image.format == "PNG" and "exif" not in image.info:
        # An eXIf chunk after the pixels: Pillow would decode the whole image
        # to reach it (a 20000 x 20000 PNG of a few KB: 1.6 GB). Phones write
        # EXIF into JPEG and HEIC; a PNG without it up front has none for us.
        return 1, None
    try:
        exif = image.getexif()
        orientation = exif.get(ExifTags.Base.Orientation, 1)
        raw = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
        raw = raw or exif.get(ExifTags.Base.DateTime)
    except Exception:
        # Malformed EXIF is common and only costs us metadata, never the upload.
        return 1, None
    captured_at = None
    if isinstance(raw, str):
        try:
            captured_at = datetime.strptime(raw.strip("\x00 "), EXIF_TIME_FORMAT)
        except ValueError:
            # Cameras with an unset clock write "0000:00:00 00:00:00".
            captured_at = None
    return orientation if isinstance(orientation, int) else 1, captured_at


class Decoder:
    """Where images are decoded: at most ``slots`` at once on this machine, on threads of their own.

    The bound holds across every worker process of the media service on one
    machine (one container), which is what shares a memory limit: a decode
    first takes one of ``slots`` file locks under ``lock_dir`` (a directory
    of the machine, not of the shared volume). A process that dies drops
    its locks with it.

    Each process decodes on ``slots`` threads of its own rather than on the
    request threads, and gives the memory a decode freed back to the system
    afterwards: glibc keeps freed memory in the arena of the thread that used
    it, so an idle worker would otherwise keep a decoded image's worth
    resident per thread that ever decoded one (measured: 48 MB after a 24 MP
    PNG).

    A request waits up to ``wait_seconds`` for a slot (a page of thumbnails
    arrives at once, each decode takes a fraction of a second), then gets 503
    ``thumbnails_busy`` with Retry-After, so that a queue behind slow decodes
    does not hold the worker's request threads for long.
    """

    def __init__(self, slots: int, wait_seconds: float, lock_dir: Path) -> None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        self._locks = [lock_dir / f"decode-{slot}.lock" for slot in range(slots)]
        self._pool = ThreadPoolExecutor(slots, thread_name_prefix="image-decode")
        self.wait_seconds = wait_seconds

    def run(self, decode: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.wait_seconds
        future = self._pool.submit(self._in_a_slot, decode, deadline)
        try:
            return future.result(timeout=self.wait_seconds)
        except FutureTimeout:
            if future.cancel():  # still queued behind this process's other decodes
                raise _busy() from None
            # Waiting for a slot (it gives up at the deadline) or decoding (ends soon).
            return future.result()

    def _in_a_slot(self, decode: Callable[[], T], deadline: float) -> T:
        while True:
            for path in self._locks:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                try:
                    return decode()
                finally:
                    os.close(fd)  # and with it the lock
                    _give_freed_memory_back()
            if time.monotonic() >= deadline:
                raise _busy()
            time.sleep(0.02)


def _busy() -> APIError:
    return APIError(
        503,
        "thumbnails_busy",
        "Too many thumbnails are being made; retry shortly",
        headers={"Retry-After": "1"},
    )


def decode_lock_dir(media_root: Path) -> Path:
    """The directory of this machine where the media service's decodes take their slots.

    Under the temporary directory (a tmpfs of its own in each container), one
    per media volume, so that two stacks on one machine do not share slots.
    """
    volume = hashlib.sha256(str(media_root).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "frota-image-decodes" / volume


def _give_freed_memory_back() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def decode_cost(image: Image.Image, size: int) -> int:
    """The pixels a ``size`` thumbnail of ``image`` decodes, weighted by its decoder's memory.

    Call it on a freshly opened image, before anything is decoded: it also
    sets JPEG up to decode at 1/2, 1/4 or 1/8 scale and HEIC to decode an
    embedded thumbnail when one is big enough (``draft``). A progressive JPEG
    counts in full: libjpeg holds the coefficients of the whole image
    whatever the scale.
    """
    full = image.width * image.height
    target = int(size * REDUCING_GAP)
    image.draft("RGB", (target, target))
    # Only JPEG (and MPO, the JPEG of multi-picture cameras) sets "progressive".
    progressive = bool(image.info.get("progressive"))
    pixels = full if progressive else image.width * image.height
    per_pixel = DECODE_BYTES_PER_PIXEL.get(image.format or "", PILLOW_BYTES_PER_PIXEL)
    if "A" in image.mode or "transparency" in image.info:
        per_pixel *= 2
    return pixels * per_pixel // PILLOW_BYTES_PER_PIXEL


def make_thumbnail(source: Path, size: int, *, max_pixels: int, decoder: Decoder) -> bytes:
    """A JPEG within ``size`` x ``size`` px, upright, with no metadata (no EXIF, no GPS).

    An image that would decode more than ``max_pixels`` (see :func:`decode_cost`)
    is refused with 422 ``image_too_large`` before any pixel is decoded.
    """
    try:
        with Image.open(source, formats=list(PILLOW_FORMATS.values())) as image:
            cost = decode_cost(image, size)
            if cost > max_pixels:
                raise APIError(
                    422,
                    "image_too_large",
                    "The image has too many pixels for a thumbnail",
                    details={"decoded_pixels": cost, "max_pixels": max_pixels},
                )
            return decoder.run(lambda: _encode_thumbnail(image, size))
    except UNREADABLE:
        raise APIError(422, "image_unreadable", "The image could not be decoded") from None


def _encode_thumbnail(image: Image.Image, size: int) -> bytes:
    image.thumbnail((size, size), reducing_gap=REDUCING_GAP)
    upright = ImageOps.exif_transpose(image)
    # A fresh canvas carries none of the source's metadata into the output;
    # transparent areas become white, as JPEG has no alpha.
    canvas = Image.new("RGB", upright.size, "white")
    rgba = upright.convert("RGBA")
    canvas.paste(rgba, mask=rgba)
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85)
    return out.getvalue()
