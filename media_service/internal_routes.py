"""Routes for other services only (never in the gateway's route table): file look-ups."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import jsonify
from flask.typing import ResponseReturnValue

from media_service.models import MediaFile
from shared.db import current_session
from shared.errors import APIError
from shared.internal_auth import current_identity

bp = APIBlueprint("internal", __name__, url_prefix="/internal")


@bp.get("/files/<uuid:file_id>")
@bp.doc(hide=True)
def file_summary(file_id: uuid.UUID) -> ResponseReturnValue:
    """What a file is and whose, for other services (the fleet service checks attachments)."""
    if current_identity().caller == "gateway":
        raise APIError(403, "services_only", "Only services may call this")
    # Rows marked for deletion are already gone as far as anyone else is concerned.
    media = current_session().scalar(
        sa.select(MediaFile).where(MediaFile.id == file_id, MediaFile.deleting_at.is_(None))
    )
    if media is None:
        raise APIError(404, "file_not_found", "No such file")
    return jsonify(
        id=str(media.id),
        owner_id=str(media.owner_id),
        content_type=media.content_type,
        size=media.size,
        kind=media.kind,
    )
