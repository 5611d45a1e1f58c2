"""Reading which database constraint refused a write, to answer with the right 409."""

from __future__ import annotations

import sqlalchemy as sa


def violated_constraint(exc: sa.exc.IntegrityError) -> str:
    """The name of the constraint behind ``exc`` ("" when PostgreSQL did not say)."""
    return getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
