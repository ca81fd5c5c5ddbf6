"""Resolve Airflow connections into what the core takes (engines, clients); secrets stay in Airflow."""

from __future__ import annotations

from airflow.providers.postgres.hooks.postgres import PostgresHook

from pipeline.db import VideoRepository, connect

VIDEO_DB_CONN_ID = "video_db"


def video_repository(conn_id: str = VIDEO_DB_CONN_ID) -> VideoRepository:
    """The project's tables through the ``video_db`` Postgres connection.

    For a Unix-socket server put the socket folder in the extra ``{"sqlalchemy_query": {"host": "/dir"}}``.
    """
    return VideoRepository(connect(PostgresHook(postgres_conn_id=conn_id).sqlalchemy_url))
