"""The declarative base of the fleet schema."""

from shared.db import make_base

Base = make_base("fleet")
