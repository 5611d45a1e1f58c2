"""The declarative base of the fleet schema."""

from sqlalchemy.orm import DeclarativeBase

from shared.db import schema_metadata


class Base(DeclarativeBase):
    metadata = schema_metadata("fleet")
