"""Maintenance: schedules (every N km and/or days) and the records of work done."""
