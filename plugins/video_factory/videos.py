"""The Videos page: every project, filtered and paged on the server, one project in full with its player, and
what content ops do to a video (retry, retry with changes, delete, send back to the nightly batch).

Routes, under the plugin app's prefix (``/video-factory``):

- ``GET /videos``: the page; ``GET /api/videos``: the list; ``GET /api/videos/{key}``: one project;
  ``GET /api/videos/{key}/files/{name}``: its MP4 (Range requests), SRT, thumbnail, scene images and narrations.
  For whoever may read the video DAG's runs.
- ``POST /api/videos/{key}/requeue``: for whoever may edit them; ``DELETE /api/videos/{key}``: for whoever may
  delete them.
- ``GET /api/music``: the music library; ``PUT /api/music/{name}`` (the file as the body, ``?licence=``): adds or
  replaces a track, for whoever may edit the video DAG's runs.
- ``GET /api/library``: the media library; ``PUT /api/library/{name}`` (the file as the body, ``?tags=&licence=``):
  adds or replaces an image or clip, for the same users.
- ``GET /api/channels``: the channels; ``PUT /api/channels/{name}`` (the brand kit as JSON) and
  ``PUT /api/channels/{name}/logo`` (the image as the body): for the same users.
- ``GET /api/publications?request=KEY&request=…``: where each request's video was published and how it stands.

The page shows each user only the actions Airflow's auth manager lets them take (``pages.permissions``).
A request key that is not a request id, a NUL or a file index out of range is a 400 or 404 before any query.

Plugin routes are not behind Airflow's login unless they ask: each one depends on Airflow's auth manager
(``requires_access_dag``), so no token is a 401 and a viewer's delete a 403. The UI's login cookie is SameSite=Lax,
so another site cannot make a browser send it with a POST or DELETE; state changes also require the page's own
header and refuse a foreign ``Origin``. Retrying goes through Airflow's REST API (clearing the failed task
instances, or a new run with the edited request), which checks the same permissions itself.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from interface.catalog import (
    LIST_STATUSES,
    PAGE_SIZES,
    VideoFilter,
    delete_video,
    file_key,
    list_videos,
    publications_by_request,
    video_detail,
)
from pipeline.config import Settings, load_settings
from pipeline.constants import DagId
from pipeline.db.queue import requeue
from pipeline.errors import MissingAsset
from pipeline.request import run_id_for
from pipeline.storage import Storage
from video_factory.pages import permissions, render_page

DAG_ID = DagId.VIDEO.value
STATE_HEADER = "X-Video-Factory"  # sent by the page's own script; a cross-site form cannot set it

CanRead = Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=DAG_ID))
CanEdit = Depends(requires_access_dag("PUT", DagAccessEntity.RUN, param_dag_id=DAG_ID))
CanDelete = Depends(requires_access_dag("DELETE", DagAccessEntity.RUN, param_dag_id=DAG_ID))
REQUEST_KEY = re.compile(r"[A-Za-z0-9._-]{1,120}")  # a request id, or one made from a run id (safe_name)

router = APIRouter()


@cache
def _engine() -> Engine:
    from video_factory.connections import video_repository

    return video_repository().engine


def _storage(settings: Settings) -> Storage:
    from video_factory.connections import storage

    return storage(settings)


def same_site(request: Request) -> None:
    """State changes only from the page itself: its header present, and no foreign ``Origin``."""
    if request.headers.get(STATE_HEADER) != "1":
        raise HTTPException(403, f"send the {STATE_HEADER}: 1 header (the Videos page does)")
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-site request refused")


def known_key(request_key: str) -> str:
    """A path's request key: a request id's shape, else 404 (nothing else can name a video)."""
    if not REQUEST_KEY.fullmatch(request_key):
        raise HTTPException(404, f"no video for request {request_key[:80]!r}")
    return request_key


Key = Annotated[str, Depends(known_key)]


@router.get("/videos", response_class=HTMLResponse, dependencies=[CanRead])
def videos_page(request: Request, user: GetUserDep) -> HTMLResponse:
    config = {
        "statuses": list(LIST_STATUSES),
        "pageSizes": list(PAGE_SIZES),
        "dagId": DAG_ID,
        "runPrefix": run_id_for(""),
        "stateHeader": STATE_HEADER,
        "user": user.get_name(),
        "may": permissions(user),
    }
    return render_page(request, "videos.html", {"user": user.get_name(), "config": config}, load_settings())


def _day(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name}: a date like 2026-11-26 or a time like 2026-11-26T08:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@router.get("/api/videos", dependencies=[CanRead])
def videos(  # noqa: PLR0917 - FastAPI passes query parameters by name
    status: Annotated[str | None, Query(description="processing, completed or failed")] = None,
    since: Annotated[str | None, Query(description="created on or after (ISO 8601)")] = None,
    until: Annotated[str | None, Query(description="created before (ISO 8601)")] = None,
    batch: Annotated[str | None, Query(max_length=250, description="the nightly batch's run id")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words of the title")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query()] = 25,
) -> dict[str, Any]:
    try:
        flt = VideoFilter(
            status=status or None, since=_day(since, "since"), until=_day(until, "until"), batch=batch, search=q
        )
        return list_videos(_engine(), load_settings(), flt, page=page, per_page=per_page)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/api/videos/{request_key}", dependencies=[CanRead])
def video(request_key: Key) -> dict[str, Any]:
    detail = video_detail(_engine(), load_settings(), request_key)
    if detail is None:
        raise HTTPException(404, f"no video for request {request_key!r}")
    return detail


@router.get("/api/publications", dependencies=[CanRead])
def publications(
    request: Annotated[list[str], Query(max_length=1000, description="request ids (repeat the parameter)")],
) -> dict[str, list[dict[str, Any]]]:
    """Where each request's video went and how it stands (videoctl status and list read this); a value that
    is not a request id names nothing."""
    return publications_by_request(_engine(), [key for key in request if REQUEST_KEY.fullmatch(key)])


MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mov": "video/quicktime",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
}


@router.get("/api/videos/{request_key}/files/{name}", dependencies=[CanRead])
def video_file(request_key: Key, name: str) -> Response:
    """A project's file: served from local storage (with HTTP Range, so the player can seek), or a redirect to a
    presigned S3 link."""
    settings = load_settings()
    key = file_key(_engine(), request_key, name)
    if not key:
        raise HTTPException(404, f"request {request_key!r} has no {name}")
    store = _storage(settings)
    if settings.storage.storage_backend == "s3":
        return RedirectResponse(store.url(key), status_code=307)
    try:
        path = store.local_path(key)
    except MissingAsset:
        raise HTTPException(404, f"{name} of {request_key!r} is missing from storage") from None
    kind, _, language = name.partition(".")
    version = f".{language}" if language else ""
    download = f"{request_key}{version}{path.suffix}" if kind in ("subtitles", "webvtt") else None
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix), filename=download)


@router.delete("/api/videos/{request_key}", dependencies=[CanDelete, Depends(same_site)])
def delete(request_key: Key, user: GetUserDep) -> dict[str, Any]:
    """Delete the project, its request and the files no other project uses; an audit line records who did it."""
    settings = load_settings()
    deleted = delete_video(_engine(), _storage(settings), request_key, actor=user.get_name())
    if deleted is None:
        raise HTTPException(404, f"no video for request {request_key!r}")
    return {
        "deleted": request_key,
        "files_removed": len(deleted["files_removed"]),
        "files_kept": len(deleted["files_kept"]),
    }


@router.post("/api/videos/{request_key}/requeue", dependencies=[CanEdit, Depends(same_site)])
def send_back_to_batch(request_key: Key, user: GetUserDep) -> dict[str, Any]:
    if not requeue(_engine(), request_key, actor=user.get_name()):
        raise HTTPException(409, f"request {request_key!r} is being made now, or does not exist: nothing to requeue")
    return {"requeued": request_key}


@router.get("/api/music", dependencies=[CanRead])
def music() -> dict[str, Any]:
    from pipeline.music import list_tracks

    return {"items": [track.as_dict() for track in list_tracks(_engine())]}


@router.put("/api/music/{name}", dependencies=[CanEdit, Depends(same_site)])
async def add_music(name: str, request: Request, user: GetUserDep, licence: str = "", mood: str = "") -> dict[str, Any]:
    """A track uploaded as the request's body: checked (name, mood, size, decodable audio) before anything is
    stored."""
    from pipeline.errors import InvalidRequest
    from pipeline.music import MAX_TRACK_BYTES, add_track, check_licence, check_mood, check_name

    try:
        check_name(name)
        check_licence(licence)
        check_mood(mood)
    except InvalidRequest as exc:
        raise HTTPException(400, exc.message) from None
    async with _received(request, MAX_TRACK_BYTES, "track") as path:
        settings = load_settings()
        try:
            # ffprobe, hashing and the copy take seconds for a large track: off the API server's event loop
            track = await run_in_threadpool(
                add_track,
                _engine(),
                _storage(settings),
                path,
                name=name,
                licence=licence,
                added_by=user.get_name(),
                mood=mood or None,
            )
        except InvalidRequest as exc:
            raise HTTPException(400, exc.message) from None
    return track.as_dict()


@asynccontextmanager
async def _received(request: Request, limit: int, what: str) -> AsyncIterator[Path]:
    """The request's body written to a temporary file of at most ``limit`` bytes (413 past it, 400 when empty);
    the file is gone when the block ends."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the {what} is {int(declared) / 1e6:.1f} MB; at most {limit / 1e6:.0f} MB")
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        path = Path(folder) / "upload"
        size = 0
        with path.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"the {what} is over {limit / 1e6:.0f} MB")
                handle.write(chunk)
        if not size:
            raise HTTPException(400, f"the upload is empty: send the {what}'s bytes as the body")
        yield path


@router.get("/api/library", dependencies=[CanRead])
def library() -> dict[str, Any]:
    from pipeline.library import list_items

    return {"items": [item.as_dict() for item in list_items(_engine())]}


@router.put("/api/library/{name}", dependencies=[CanEdit, Depends(same_site)])
async def add_to_library(
    name: str, request: Request, user: GetUserDep, tags: str = "", licence: str = ""
) -> dict[str, Any]:
    """An image or clip uploaded as the request's body, with its tags (comma-separated) and licence: checked
    (name, tags, licence, size, a picture that decodes) before anything is stored."""
    from pipeline.errors import InvalidRequest
    from pipeline.library import MAX_ITEM_BYTES, add_item, check_licence, check_name, check_tags, split_tags

    try:
        check_name(name)
        check_tags(split_tags(tags))
        check_licence(licence)
    except InvalidRequest as exc:
        raise HTTPException(400, exc.message) from None
    async with _received(request, MAX_ITEM_BYTES, "file") as path:
        settings = load_settings()
        try:
            item = await run_in_threadpool(
                add_item,
                _engine(),
                _storage(settings),
                path,
                name=name,
                tags=split_tags(tags),
                licence=licence,
                added_by=user.get_name(),
                ffprobe_bin=settings.ffprobe_bin,
            )
        except InvalidRequest as exc:
            raise HTTPException(400, exc.message) from None
    return item.as_dict()


@router.get("/api/channels", dependencies=[CanRead])
def channels() -> dict[str, Any]:
    from pipeline.channels import list_channels

    return {"items": [channel.as_dict() for channel in list_channels(_engine())]}


@router.put("/api/channels/{name}", dependencies=[CanEdit, Depends(same_site)])
async def save_channel(name: str, request: Request, user: GetUserDep) -> dict[str, Any]:
    """Create or replace a channel from its brand kit as JSON (the logo is kept unless one is uploaded)."""
    from pipeline.channels import check_kit, check_name, get_channel
    from pipeline.channels import save_channel as save
    from pipeline.errors import InvalidRequest

    try:
        values = await request.json()
    except ValueError:
        raise HTTPException(400, "send the channel as a JSON object") from None
    if not isinstance(values, dict):
        raise HTTPException(400, "send the channel as a JSON object")
    try:
        check_name(name)
        current = await run_in_threadpool(get_channel, _engine(), name)
        values.pop("logo_key", None)  # set by an upload only
        if current and current.kit.logo_key:
            values["logo_key"] = current.kit.logo_key
        channel = await run_in_threadpool(save, _engine(), name, check_kit(values), updated_by=user.get_name())
    except InvalidRequest as exc:
        raise HTTPException(400, exc.message) from None
    return channel.as_dict()


@router.put("/api/channels/{name}/logo", dependencies=[CanEdit, Depends(same_site)])
async def upload_logo(name: str, request: Request, user: GetUserDep) -> dict[str, Any]:
    """The channel's logo uploaded as the body: checked (an image that decodes whole, at most 5 MB), stored."""
    from pipeline.channels import MAX_LOGO_BYTES, check_name, get_channel, store_logo
    from pipeline.channels import save_channel as save
    from pipeline.errors import InvalidRequest

    try:
        check_name(name)
    except InvalidRequest as exc:
        raise HTTPException(400, exc.message) from None
    current = await run_in_threadpool(get_channel, _engine(), name)
    if current is None:
        raise HTTPException(404, f"no channel {name!r}: save it first")
    async with _received(request, MAX_LOGO_BYTES, "logo") as path:
        try:
            key = await run_in_threadpool(store_logo, _storage(load_settings()), path)
        except InvalidRequest as exc:
            raise HTTPException(400, exc.message) from None
    kit = current.kit.model_copy(update={"logo_key": key})
    channel = await run_in_threadpool(save, _engine(), name, kit, updated_by=user.get_name())
    return channel.as_dict()
