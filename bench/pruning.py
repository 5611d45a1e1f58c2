"""Scenario 5: retention pruning of 100 000 expired files — files per second and peak
memory (RSS of the pruning process, and Python's own traced peak)."""

from __future__ import annotations

import resource
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from bench.harness import bench_database
from frota.database import migrate
from media_service.pruning import prune_media
from media_service.storage import LocalStorage
from shared.config import Settings
from shared.db import make_engine
from tests.support.media import store_files

FILES = 100_000
SIZE = 64
INSERT_BATCH = 10_000
EXPIRED = timedelta(days=90)  # past the 60 days of retention


def _seed(session: Session, storage: LocalStorage, count: int) -> None:
    for start in range(0, count, INSERT_BATCH):
        store_files(session, storage, min(INSERT_BATCH, count - start), size=SIZE, age=EXPIRED)


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
