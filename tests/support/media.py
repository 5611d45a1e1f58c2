"""Media files made in bulk: bytes on a volume and their rows, without the upload path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from media_service.models import MediaFile, VolumeUsage
from media_service.storage import LocalStorage


def store_files(
    db_session: Session,
    storage: LocalStorage,
    count: int,
    *,
    size: int = 16,
    age: timedelta = timedelta(days=61),
    held: bool = False,
    retention: timedelta = timedelta(days=60),
) -> list[uuid.UUID]:
    """``count`` files of ``size`` bytes, ``age`` old, written and inserted in bulk."""
    created_at = datetime.now(UTC) - age
    owner = uuid.uuid4()
    content = b"x" * size
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        file_id = uuid.uuid4()
        path = storage.path_for(file_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        rows.append(
            {
                "id": file_id,
                "owner_id": owner,
                "kind": "photo",
                "content_type": "image/jpeg",
                "size": size,
                "sha256": "0" * 64,
                "held": held,
                "created_at": created_at,
                "expires_at": created_at + retention,
            }
        )
    db_session.execute(sa.insert(MediaFile), rows)
    db_session.execute(
        sa.update(VolumeUsage).values(used_bytes=VolumeUsage.used_bytes + count * size)
    )
    db_session.commit()
    return [row["id"] for row in rows]
