"""The project's PostgreSQL tables: schema, migrations and the repository the tasks write through."""

from __future__ import annotations

from pipeline.db.migrate import upgrade
from pipeline.db.repository import Registration, VideoRepository, connect

__all__ = ["Registration", "VideoRepository", "connect", "upgrade"]
