"""The videos content ops manage on the Videos page: a filtered, paged list of projects; one project in full; and
deleting one (its rows, and the stored files no other project uses).

Each list page is three queries whatever its size (the page, its total, its costs), on indexed columns.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, true
from sqlalchemy.sql import Select

from pipeline.config import Settings
from pipeline.constants import ProjectStatus
from pipeline.costs import price_usd
from pipeline.db.queue import delete_request
from pipeline.db.schema import (
    audio_assets,
    media_assets,
    projects,
    provider_calls,
    publications,
    rendered_videos,
    requests,
    scenes,
)
from pipeline.render.spec import webvtt_key
from pipeline.request import LANGUAGE_PATTERN
from pipeline.storage import Storage

PAGE_SIZES = (10, 25, 50, 100)
# what the list can be filtered by: the project's status, and the request's when it never became a project
LIST_STATUSES = tuple(s.value for s in ProjectStatus if s != ProjectStatus.PENDING)


@dataclass(frozen=True)
class VideoFilter:
    """The list's filters; None is "any"."""

    status: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    batch: str | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in LIST_STATUSES:
            raise ValueError(f"status must be one of {', '.join(LIST_STATUSES)}")


def _latest_render(language: str = "") -> Any:
    """Per project, its published render of the ``language`` version (the script's own by default), else its
    newest (a lateral subquery: one index probe per row)."""
    return (
        select(
            rendered_videos.c.video_key,
            rendered_videos.c.subtitles_key,
            rendered_videos.c.thumbnail_key,
            rendered_videos.c.duration_s.label("video_duration_s"),
            rendered_videos.c.width,
            rendered_videos.c.height,
            rendered_videos.c.size_bytes,
            rendered_videos.c.published,
            rendered_videos.c.dag_run_id.label("render_run_id"),
        )
        .where(rendered_videos.c.project_id == projects.c.id, rendered_videos.c.language == language)
        .order_by(rendered_videos.c.published.desc(), rendered_videos.c.created_at.desc())
        .limit(1)
        .lateral("render")
    )


def _latest_media() -> Any:
    """Per scene, its newest image or clip (a lateral subquery)."""
    return (
        select(
            media_assets.c.storage_key,
            media_assets.c.provider,
            media_assets.c.kind,
            media_assets.c.credit,
            media_assets.c.licence,
        )
        .where(media_assets.c.scene_id == scenes.c.id)
        .order_by(media_assets.c.created_at.desc())
        .limit(1)
        .lateral("media")
    )


def _filtered(query: Select[Any], flt: VideoFilter) -> Select[Any]:
    if flt.status is not None:
        query = query.where(projects.c.status == flt.status)
    if flt.since is not None:
        query = query.where(projects.c.created_at >= flt.since)
    if flt.until is not None:
        query = query.where(projects.c.created_at < flt.until)
    if flt.batch:
        query = query.where(requests.c.batch_run_id == flt.batch)
    if flt.search:
        pattern = "%" + flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(projects.c.title.ilike(pattern, escape="\\"))
    return query


def list_videos(
    engine: Engine, settings: Settings, flt: VideoFilter, *, page: int = 1, per_page: int = 25
) -> dict[str, Any]:
    """One page of projects, newest first: ``{"total", "page", "per_page", "items": [...]}``."""
    if per_page not in PAGE_SIZES:
        raise ValueError(f"per_page must be one of {', '.join(map(str, PAGE_SIZES))}")
    page = max(page, 1)
    render = _latest_render()
    scene_count = select(func.count()).select_from(scenes).where(scenes.c.project_id == projects.c.id).scalar_subquery()
    columns = (
        projects.c.id,
        projects.c.title,
        projects.c.status,
        projects.c.error,
        projects.c.failed_task,
        projects.c.dag_run_id,
        projects.c.created_at,
        projects.c.completed_at,
        requests.c.request_key,
        requests.c.aspect,
        requests.c.resolution,
        requests.c.batch_run_id,
        requests.c.status.label("request_status"),
        scene_count.label("scene_count"),
        *render.c,
    )
    newest_first = (projects.c.created_at.desc(), projects.c.id.desc())
    # the page's ids first, on the index alone; the joins and subqueries then run for those rows only, not for
    # every row an OFFSET skips
    page_ids = (
        _filtered(select(projects.c.id).select_from(projects.join(requests)), flt)
        .order_by(*newest_first)
        .limit(per_page)
        .offset((page - 1) * per_page)
        .subquery("page_ids")
    )
    query = (
        select(*columns)
        .select_from(page_ids.join(projects, projects.c.id == page_ids.c.id).join(requests).outerjoin(render, true()))
        .order_by(*newest_first)
    )
    count = _filtered(select(func.count()).select_from(projects.join(requests)), flt)
    with engine.connect() as conn:
        total = int(conn.execute(count).scalar_one())
        rows = [dict(r) for r in conn.execute(query).mappings()]
        costs = _costs(conn, [row["id"] for row in rows], settings)
    for row in rows:
        row["cost_usd"] = round(costs.get(row["id"], 0.0), 4)
        ended = row["completed_at"]
        row["duration_s"] = (ended - row["created_at"]).total_seconds() if ended else None
    return {"total": total, "page": page, "per_page": per_page, "items": [_jsonable(row) for row in rows]}


def _costs(conn: Any, project_ids: list[int], settings: Settings) -> dict[int, float]:
    """Estimated provider cost per project (the ledger's paid calls, priced)."""
    if not project_ids:
        return {}
    paid = provider_calls.c.outcome == "ok"
    query = (
        select(
            provider_calls.c.project_id,
            provider_calls.c.provider,
            provider_calls.c.model,
            provider_calls.c.unit_kind,
            func.coalesce(func.sum(provider_calls.c.units).filter(paid), 0).label("units"),
        )
        .where(provider_calls.c.project_id.in_(project_ids))
        .group_by(
            provider_calls.c.project_id, provider_calls.c.provider, provider_calls.c.model, provider_calls.c.unit_kind
        )
    )
    totals: dict[int, float] = defaultdict(float)
    for row in conn.execute(query).mappings():
        totals[row["project_id"]] += price_usd(
            row["provider"], row["model"], row["unit_kind"], float(row["units"]), settings
        )
    return dict(totals)


PUBLICATION_COLUMNS = (
    publications.c.language,
    publications.c.destination,
    publications.c.kind,
    publications.c.status,
    publications.c.external_id,
    publications.c.attempts,
    publications.c.error,
    publications.c.updated_at,
)


def publications_by_request(engine: Engine, request_keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each request's publications (every version and destination; its newest project's), by request key."""
    if not request_keys:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(requests.c.request_key, *PUBLICATION_COLUMNS)
            .join(projects, projects.c.request_id == requests.c.id)
            .join(publications, publications.c.project_id == projects.c.id)
            .where(requests.c.request_key.in_(set(request_keys)))
            .order_by(requests.c.request_key, publications.c.language, publications.c.destination)
        ).mappings()
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            entry = _jsonable(dict(row))
            found[entry.pop("request_key")].append(entry)
    return dict(found)


def video_detail(engine: Engine, settings: Settings, request_key: str) -> dict[str, Any] | None:
    """One project in full: its request, latest render, each scene with its image and narration, the ledger."""
    render = _latest_render()
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(
                    projects.c.id,
                    projects.c.title,
                    projects.c.status,
                    projects.c.error,
                    projects.c.failed_task,
                    projects.c.dag_run_id,
                    projects.c.created_at,
                    projects.c.completed_at,
                    requests.c.request_key,
                    requests.c.payload,
                    requests.c.batch_run_id,
                    requests.c.status.label("request_status"),
                    *render.c,
                )
                .select_from(projects.join(requests).outerjoin(render, true()))
                .where(requests.c.request_key == request_key)
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        detail = dict(row)
        latest_media = _latest_media()
        scene_rows = conn.execute(
            select(
                scenes.c.scene_index,
                scenes.c.text,
                scenes.c.keywords,
                latest_media.c.storage_key.label("image_key"),
                latest_media.c.provider.label("image_provider"),
                latest_media.c.kind.label("media_kind"),
                latest_media.c.credit,
                latest_media.c.licence,
                audio_assets.c.storage_key.label("narration_key"),
                audio_assets.c.voice,
                audio_assets.c.duration_s.label("narration_s"),
            )
            .select_from(
                scenes.outerjoin(latest_media, true()).outerjoin(audio_assets, audio_assets.c.scene_id == scenes.c.id)
            )
            .where(scenes.c.project_id == detail["id"])
            .order_by(scenes.c.scene_index)
        ).mappings()
        detail["scenes"] = [dict(scene) for scene in scene_rows]
        detail["versions"] = [
            dict(version)
            for version in conn.execute(
                select(
                    rendered_videos.c.language,
                    rendered_videos.c.duration_s,
                    rendered_videos.c.published,
                    rendered_videos.c.dag_run_id,
                )
                .where(
                    rendered_videos.c.project_id == detail["id"],
                    rendered_videos.c.dag_run_id == (detail.get("render_run_id") or detail["dag_run_id"]),
                )
                .order_by(rendered_videos.c.language)
            ).mappings()
        ]
        detail["publications"] = [
            dict(row)
            for row in conn.execute(
                select(*PUBLICATION_COLUMNS)
                .where(publications.c.project_id == detail["id"])
                .order_by(publications.c.language, publications.c.destination)
            ).mappings()
        ]
        ledger = conn.execute(
            select(
                provider_calls.c.created_at,
                provider_calls.c.scene_index,
                provider_calls.c.provider,
                provider_calls.c.model,
                provider_calls.c.operation,
                provider_calls.c.units,
                provider_calls.c.unit_kind,
                provider_calls.c.outcome,
                provider_calls.c.dag_run_id,
            )
            .where(provider_calls.c.project_id == detail["id"])
            .order_by(provider_calls.c.created_at, provider_calls.c.id)
        ).mappings()
        detail["ledger"] = []
        for call in ledger:
            line = dict(call)
            paid = line["outcome"] == "ok"
            line["usd"] = round(
                price_usd(line["provider"], line["model"], line["unit_kind"], line["units"], settings) if paid else 0,
                6,
            )
            detail["ledger"].append(line)
        detail["cost_usd"] = round(sum(line["usd"] for line in detail["ledger"]), 4)
    return _jsonable(detail)


RENDER_FILES = ("video", "subtitles", "thumbnail")
WEBVTT = "webvtt"  # the render's subtitles as WebVTT, beside its SRT (the player's <track>)
SCENE_FILES = ("image", "narration")
MAX_INDEX_DIGITS = 4  # a scene index; more digits name no scene (and would overflow the column)
LANGUAGE = re.compile(LANGUAGE_PATTERN.strip("^$"))


def file_key(engine: Engine, request_key: str, name: str) -> str | None:
    """The storage key behind a file name of the detail view (``video``, ``subtitles``, ``thumbnail``,
    ``image-N``, ``narration-N`` for scene N), or None. One narrow query: a player asks for byte ranges of a
    video many times, and none of them needs the whole detail."""
    project = select(projects.c.id).join(requests).where(requests.c.request_key == request_key).scalar_subquery()
    kind, _, index = name.partition("-")
    name, _, language = name.partition(".")  # "video.de": the German version's
    if language and not LANGUAGE.fullmatch(language):
        return None
    if name in RENDER_FILES or name == WEBVTT:
        render = _latest_render(language)
        column = render.c["subtitles_key" if name == WEBVTT else f"{name}_key"]
        query = select(column).select_from(projects.join(render, true())).where(projects.c.id == project)
    elif kind in SCENE_FILES and index.isascii() and index.isdigit() and len(index) <= MAX_INDEX_DIGITS:
        scene = (scenes.c.project_id == project) & (scenes.c.scene_index == int(index))
        if kind == "image":
            media = _latest_media()
            query = select(media.c.storage_key).select_from(scenes.join(media, true())).where(scene)
        else:
            query = select(audio_assets.c.storage_key).join(scenes, scenes.c.id == audio_assets.c.scene_id).where(scene)
    else:
        return None
    with engine.connect() as conn:
        key = conn.execute(query.limit(1)).scalar()
    if key and name == WEBVTT:
        return webvtt_key(str(key))
    return str(key) if key else None


def delete_video(engine: Engine, storage: Storage, request_key: str, *, actor: str) -> dict[str, Any] | None:
    """Delete a project and its request, and the stored files no other project uses; write an audit line.

    The rows go first, in one transaction (with the audit line); the files after it commits, so a failure in
    between leaves an unreferenced file, never a row pointing at a missing one. Content-addressed assets another
    project also uses stay. Returns what was deleted, or None when there is no such project.
    """
    deleted = delete_request(engine, request_key, actor=actor)
    for key in deleted["files_removed"] if deleted else ():
        storage.delete(key)
    return deleted


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value
