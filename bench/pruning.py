"""Scenario 5: retention pruning of 100 000 expired files — files per second and peak
memory (RSS of the pruning process, and Python's own traced peak)."""

from __future__ import annotations

import resource
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.harness import bench_database
from frota.database import migrate
from media_service.models import MediaFile, VolumeUsage
from media_service.pruning import prune_media
from media_service.storage import LocalStorage
from shared.config import Settings
from shared.db import make_engine

FILES = 100_000
SIZE = 64
INSERT_BATCH = 10_000


def _seed(session: Session, storage: LocalStorage, count: int) -> None:
    created = datetime.now(UTC) - timedelta(days=90)
    owner = uuid.uuid4()
    content = b"x" * SIZE
    for start in range(0, count, INSERT_BATCH):
        rows = []
        for _ in range(min(INSERT_BATCH, count - start)):
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
                    "size": SIZE,
                    "sha256": "0" * 64,
                    "held": False,
                    "created_at": created,
                    "expires_at": created + timedelta(days=60),
                }
            )
        session.execute(sa.insert(MediaFile), rows)
    session.execute(sa.update(VolumeUsage).values(used_bytes=VolumeUsage.used_bytes + count * SIZE))
    session.commit()


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(files: int = FILES) -> list[str]:
    with bench_database() as url, tempfile.TemporaryDirectory() as media_root:
        engine = make_engine(url, Settings())
        try:
            migrate(url)
            storage = LocalStorage(Path(media_root))
            with Session(engine) as session:
                _seed(session, storage, files)
            rss_before = _max_rss_mb()
            tracemalloc.start()
            started = time.perf_counter()
            with Session(engine) as session:
                result = prune_media(db_session=session, storage=storage, quota_bytes=10 * 1024**3)
            elapsed = time.perf_counter() - started
            _, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            if result.files != files:
                raise RuntimeError(f"pruned {result.files} of {files} files")
            return [
                f"| 5 | prune {files:,} expired files: rate | {files / elapsed:,.0f} files/s |",
                f"| 5 | prune: Python traced memory peak | {traced_peak / 1024 / 1024:.1f} MB |",
                f"| 5 | prune: process max RSS before / after | {rss_before:.0f} / "
                f"{_max_rss_mb():.0f} MB |",
            ]
        finally:
            engine.dispose()
