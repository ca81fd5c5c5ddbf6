"""What a destination is told about a finished video version: read from the project's rows and storage."""

from __future__ import annotations

from sqlalchemy import Engine, select

from pipeline.db.schema import media_assets, projects, rendered_videos, requests, scenes, scripts
from pipeline.errors import InvalidRequest
from pipeline.publish.webhook import VideoMetadata
from pipeline.storage import Storage

SUMMARY_CHARS = 300


def video_metadata(engine: Engine, storage: Storage, *, project_id: int, language: str) -> VideoMetadata:
    """The published render of ``language`` with short-lived links (S3: presigned), the script's opening as the
    description and the credits of its stock media; ``InvalidRequest`` when that version is not published."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(requests.c.request_key, projects.c.title, rendered_videos)
                .join(projects, projects.c.request_id == requests.c.id)
                .join(rendered_videos, rendered_videos.c.project_id == projects.c.id)
                .where(
                    projects.c.id == project_id,
                    rendered_videos.c.language == language,
                    rendered_videos.c.published.is_(True),
                )
                .order_by(rendered_videos.c.published_at.desc())
                .limit(1)
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            raise InvalidRequest(f"project {project_id} has no published {language or 'original'} version to send")
        body = conn.execute(select(scripts.c.body).where(scripts.c.project_id == project_id)).scalar_one_or_none()
        credits = conn.execute(
            select(media_assets.c.credit)
            .join(scenes, scenes.c.id == media_assets.c.scene_id)
            .where(scenes.c.project_id == project_id, media_assets.c.credit.is_not(None))
            .order_by(scenes.c.scene_index)
        ).scalars()
        credited = tuple(dict.fromkeys(credits))  # once each, in scene order
    return VideoMetadata(
        request_id=row["request_key"],
        language=language,
        title=row["title"],
        description="\n\n".join(part for part in (_summary(body or ""), "\n".join(credited)) if part),
        duration_s=row["duration_s"],
        width=row["width"],
        height=row["height"],
        video_url=storage.url(row["video_key"]),
        subtitles_url=storage.url(row["subtitles_key"]),
        thumbnail_url=storage.url(row["thumbnail_key"]) if row["thumbnail_key"] else None,
        credits=credited,
    )


def _summary(script: str) -> str:
    """The script's first paragraph, cut at a word within ``SUMMARY_CHARS``."""
    first = " ".join((script.strip().split("\n\n") or [""])[0].split())
    if len(first) <= SUMMARY_CHARS:
        return first
    return first[:SUMMARY_CHARS].rsplit(" ", 1)[0] + "…"
