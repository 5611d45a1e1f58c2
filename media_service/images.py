"""What Pillow tells us about images: checked at upload, and thumbnails on demand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import pillow_heif
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from shared.errors import APIError

# HEIC (iPhone photos) opens through Pillow like any other format.
pillow_heif.register_heif_opener()

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


@dataclass(frozen=True)
class ImageFacts:
    width: int | None = None
    height: int | None = None
    captured_at: datetime | None = None


def is_image(content_type: str) -> bool:
    return content_type in PILLOW_FORMATS


def inspect_image(path: Path, content_type: str) -> ImageFacts:
    """Check that ``path`` parses as the image type its signature claims; read its facts.

    Pillow parses only the header here, so this is cheap for large files too. A
    file that does not parse as that type (a forged or truncated header, a
    polyglot) is refused with 415. Width and height are as displayed, after the
    EXIF orientation.
    """
    try:
        with Image.open(path, formats=[PILLOW_FORMATS[content_type]]) as image:
            width, height = image.size
            orientation, captured_at = _exif_facts(image)
    except Image.DecompressionBombError:
        # Too many pixels to decode safely: the bytes are kept, but we learn
        # nothing from them and never make a thumbnail.
        return ImageFacts()
    except UNREADABLE:
        raise APIError(
            415, "unsupported_media_type", "The file is not a readable image of its type"
        ) from None
    if orientation in QUARTER_TURNS:
        width, height = height, width
    return ImageFacts(width=width, height=height, captured_at=captured_at)


def _exif_facts(image: Image.Image) -> tuple[int, datetime | None]:
    """The EXIF orientation and capture time (the camera's clock, no time zone)."""
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


def write_thumbnail(source: Path, size: int, out: IO[bytes]) -> None:
    """A JPEG within ``size`` x ``size`` px, upright, with no metadata (no EXIF, no GPS).

    Images over Pillow's pixel limit (decompression bombs) are refused with 422
    before anything is decoded.
    """
    try:
        with Image.open(source, formats=list(PILLOW_FORMATS.values())) as image:
            if image.width * image.height > Image.MAX_IMAGE_PIXELS:
                raise _too_large()
            # For JPEG this decodes at a reduced scale: memory follows the thumbnail.
            image.thumbnail((size, size))
            upright = ImageOps.exif_transpose(image)
            # A fresh canvas carries none of the source's metadata into the output;
            # transparent areas become white, as JPEG has no alpha.
            canvas = Image.new("RGB", upright.size, "white")
            rgba = upright.convert("RGBA")
            canvas.paste(rgba, mask=rgba)
            canvas.save(out, "JPEG", quality=85)
    except Image.DecompressionBombError:
        raise _too_large() from None
    except UNREADABLE:
        raise APIError(422, "image_unreadable", "The image could not be decoded") from None


def _too_large() -> APIError:
    return APIError(422, "image_too_large", "The image has too many pixels for a thumbnail")
