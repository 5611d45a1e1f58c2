"""Photos a form carries, uploaded to the media API before the record that cites them.

A fuel log or an inspection cites its photos by media id, so the photos go first
(``POST /media/files``, as the signed-in user) and the record second. When the record
is then refused, the photos are deleted again: a refused form leaves no orphan file
behind (the driver sends the photos again with the corrected form).

    with Uploads() as uploads:
        receipt_ids = uploads.add("receipt", form.receipt.data, kind="receipt")
        api().post("/fleet/fuel-logs", {..., "receipt_media_id": receipt_ids[0]})

A photo the media API refuses (too large, not an image, storage full) is an
:class:`UploadRefused` naming the form field it came from, for the page to show
beside that field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from types import TracebackType

from werkzeug.datastructures import FileStorage

from web.api import ApiError, PasswordChangeRequired, SignedOut
from web.forms import plain_words
from web.session import api

logger = logging.getLogger(__name__)

# Refusals of an upload the user can do something about (another photo, a smaller one,
# later); anything else is the console's or the API's problem and its error page.
USER_FIXABLE = frozenset({400, 408, 413, 415, 422, 507})


class UploadRefused(Exception):
    """The media API refused a photo of the form field ``field``."""

    def __init__(self, field: str, error: ApiError) -> None:
        super().__init__(field, error.code)
        self.field = field
        self.error = error

    @property
    def message(self) -> str:
        return plain_words(self.error)

    @property
    def user_fixable(self) -> bool:
        return self.error.status in USER_FIXABLE


class Uploads:
    """The files uploaded for one record: kept if the ``with`` block ends well, else deleted."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def add(
        self,
        field: str,
        files: FileStorage | Iterable[FileStorage] | None,
        *,
        kind: str = "photo",
    ) -> list[str]:
        """Upload the files chosen in the form field ``field``; their media ids, in order.

        An empty file input (nothing chosen) uploads nothing.
        """
        if files is None:
            return []
        chosen = [files] if isinstance(files, FileStorage) else list(files)
        return [self._upload(field, file, kind) for file in chosen if file and file.filename]

    def _upload(self, field: str, file: FileStorage, kind: str) -> str:
        # The bytes, not the stream: the API client may send a request twice (once
        # more after refreshing an expired access token), and a stream reads once.
        content = file.read()
        try:
            response = api().send(
                "POST",
                "/media/files",
                files={"file": (file.filename, content, file.mimetype or None)},
                data={"kind": kind},
            )
        except ApiError as error:
            raise UploadRefused(field, error) from error
        media_id = str(response.json()["id"])
        self.ids.append(media_id)
        return media_id

    def discard(self) -> None:
        """Delete every file uploaded so far (the record citing them was not made)."""
        for media_id in self.ids:
            try:
                api().delete(f"/media/files/{media_id}")
            except (ApiError, SignedOut, PasswordChangeRequired):
                # Not fatal (the refusal that brought us here matters more): an
                # unattached upload is pruned after the media retention period.
                logger.warning("could not delete the refused form's upload %s", media_id)
        self.ids.clear()

    def __enter__(self) -> Uploads:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None:
            self.discard()
