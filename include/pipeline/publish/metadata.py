"""What a destination is told about a finished video version: read from the project's rows and storage."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from pipeline.db.schema import (
    audio_assets,
    media_assets,
    music_tracks,
    projects,
    rendered_videos,
    requests,
    scenes,
    scripts,
)
from pipeline.errors import InvalidRequest, MissingAsset
from pipeline.publish.webhook import VideoMetadata
from pipeline.render.spec import spec_key
from pipeline.storage import Storage

SUMMARY_CHARS = 300
GENERATED_PICTURES = frozenset({"stability"})  # image models
NEURAL_VOICES = frozenset({"polly"})  # voices a listener may take for a person


@dataclass(frozen=True)
class PublishedVersion:
    metadata: VideoMetadata
    video_key: str
    thumbnail_key: str | None


def published_version(engine: Engine, storage: Storage, *, project_id: int, language: str) -> PublishedVersion:
    """The published render of ``language`` with short-lived links (S3: presigned), the script's opening as the
    description, the credits of its stock media and music, the scenes' keywords as tags;
    ``InvalidRequest`` when that version is not published."""
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
        keywords = conn.execute(
            select(scenes.c.keywords).where(scenes.c.project_id == project_id).order_by(scenes.c.scene_index)
        ).scalars()
        tags = tuple(dict.fromkeys(str(word) for words in keywords for word in words or ()))
        pictures = set(
            conn.execute(
                select(media_assets.c.provider)
                .join(scenes, scenes.c.id == media_assets.c.scene_id)
                .where(scenes.c.project_id == project_id)
            ).scalars()
        )
        voices = set(
            conn.execute(
                select(audio_assets.c.provider)
                .join(scenes, scenes.c.id == audio_assets.c.scene_id)
                .where(scenes.c.project_id == project_id, audio_assets.c.language == language)
            ).scalars()
        )
        music = _music_credit(conn, storage, spec_key(row["request_key"], row["dag_run_id"], language))
        credited = tuple(dict.fromkeys([*credits, *([music] if music else [])]))  # once each, in scene order
    metadata = VideoMetadata(
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
        tags=tags,
        ai_made=bool(pictures & GENERATED_PICTURES or voices & NEURAL_VOICES),
    )
    return PublishedVersion(metadata, row["video_key"], row["thumbnail_key"])


def _music_credit(conn: Connection, storage: Storage, spec: str) -> str | None:
    """ "Music: NAME (LICENCE)" for the track the render's spec used; None without music (or without the spec)."""
    import json

    try:
        key = json.loads(storage.read_bytes(spec)).get("music_key")
    except (MissingAsset, ValueError, OSError):
        return None
    if not key:
        return None
    name = str(key).removeprefix("music/")
    licence = conn.execute(select(music_tracks.c.licence).where(music_tracks.c.name == name)).scalar_one_or_none()
    return f"Music: {name}" + (f" ({licence})" if licence else "")


def _summary(script: str) -> str:
    """The script's first paragraph, cut at a word within ``SUMMARY_CHARS``."""
    first = " ".join((script.strip().split("\n\n") or [""])[0].split())
    if len(first) <= SUMMARY_CHARS:
        return first
    return first[:SUMMARY_CHARS].rsplit(" ", 1)[0] + "…"
