"""The YouTube destination: each finished version uploaded once through the Data API v3 (google-api-python-client).

- **Resumable, exactly once.** The upload session's URI (and the file's SHA-256) is stored in the publication's row
  before the first byte is sent, and the bytes YouTube has confirmed after every chunk. A retried or killed task asks
  YouTube for the received range (``PUT`` with ``Content-Range: bytes */SIZE``) and continues from there; a session
  that already finished answers with the video, so one request id never makes two YouTube videos. A session YouTube
  no longer knows (404/410) is started again: it had not made a video.
- **Metadata**: title, description (the script's opening, the credits and licences of stock media and music), tags
  (the scenes' keywords), category, language, privacy or a scheduled release (``publishAt``, private until then),
  ``selfDeclaredMadeForKids`` from the destination's setting (required), ``containsSyntheticMedia`` when a picture
  was generated or a neural voice narrates; then the thumbnail (``thumbnails.set``) and the playlist
  (``playlistItems.insert``, once: listed first).
- **Quota**: the units a video costs are reserved for the channel's quota day (midnight to midnight Pacific) before
  anything is sent; when the day's budget is spent, or YouTube answers ``quotaExceeded``, ``QuotaDeferred`` says
  until when (the DAG reschedules the task for then, nothing fails).
- **Errors** carry the API's reason. Expired or revoked credentials (``invalid_grant``, 401) are final with
  "reconnect the channel"; 429, 5xx and no answer are retryable; other refusals are final.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from pipeline.errors import ProviderError
from pipeline.publish import store
from pipeline.publish.webhook import VideoMetadata
from pipeline.storage.base import file_sha256

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from pipeline.channels import YouTubeDestination

PROVIDER = "youtube"
TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPES = ("https://www.googleapis.com/auth/youtube.upload", "https://www.googleapis.com/auth/youtube")
COST = {"videos.insert": 100, "thumbnails.set": 50, "playlistItems.list": 1, "playlistItems.insert": 50}
PACIFIC = ZoneInfo("America/Los_Angeles")  # YouTube's quota day ends at midnight Pacific time
CHUNK_BYTES = 8 * 1024 * 1024  # a multiple of 256 KiB, as the resumable protocol asks
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded", "rateLimitExceeded", "uploadLimitExceeded"})


class YouTubeAccount(BaseModel):
    """A channel's OAuth grant (an Airflow connection: login = client id, password = client secret, extra
    ``refresh_token``; optional ``token_uri``, ``api_endpoint`` and ``ca_certs`` for a private endpoint)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str
    client_secret: str
    refresh_token: str
    token_uri: str = TOKEN_URI
    api_endpoint: str | None = None
    ca_certs: str | None = None


class QuotaDeferred(ProviderError):
    """The channel's YouTube quota for today is spent: send again at ``until`` (the next quota day)."""

    def __init__(self, message: str, *, until: dt.datetime) -> None:
        super().__init__(message, provider=PROVIDER, retryable=False)
        self.until = until


def quota_day(now: dt.datetime) -> dt.date:
    return now.astimezone(PACIFIC).date()


def next_quota_day(now: dt.datetime) -> dt.datetime:
    """When the quota day after ``now``'s begins (midnight Pacific), in UTC."""
    tomorrow = quota_day(now) + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0), tzinfo=PACIFIC).astimezone(dt.UTC)


def release_time(setting: str | None, now: dt.datetime) -> dt.datetime | None:
    """The next ``HH:MM`` (UTC) at least 15 minutes after ``now``: the scheduled release; None without a setting."""
    if not setting:
        return None
    hours, minutes = (int(part) for part in setting.split(":"))
    moment = now.astimezone(dt.UTC).replace(hour=hours, minute=minutes, second=0, microsecond=0)
    while moment < now + dt.timedelta(minutes=15):
        moment += dt.timedelta(days=1)
    return moment


def video_body(video: VideoMetadata, destination: YouTubeDestination, *, release: dt.datetime | None) -> dict[str, Any]:
    """The ``videos.insert`` resource: snippet and status as YouTube takes them (no ``<`` or ``>``, its limits)."""
    snippet: dict[str, Any] = {
        "title": _plain(video.title)[:100],
        "description": _plain(video.description).encode()[:5000].decode(errors="ignore"),
        "tags": _tags(video.tags),
        "categoryId": destination.category_id,
    }
    if video.language:
        snippet["defaultLanguage"] = snippet["defaultAudioLanguage"] = video.language
    status: dict[str, Any] = {
        "privacyStatus": "private" if release else destination.privacy,
        "selfDeclaredMadeForKids": bool(destination.made_for_kids),
        "containsSyntheticMedia": video.ai_made,
        "embeddable": True,
    }
    if release:
        status["publishAt"] = release.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"snippet": snippet, "status": status}


def youtube_service(account: YouTubeAccount, *, timeout_s: float = 120) -> Any:
    """The Data API client for ``account`` (static discovery document: nothing fetched to build it)."""
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build

    credentials = _credentials(account)
    transport = httplib2.Http(timeout=int(timeout_s), ca_certs=account.ca_certs)
    transport.redirect_codes = transport.redirect_codes - {308}  # 308 is the resumable protocol's "go on"
    options = {"api_endpoint": account.api_endpoint} if account.api_endpoint else None
    return build(
        "youtube",
        "v3",
        http=google_auth_httplib2.AuthorizedHttp(credentials, http=transport),
        static_discovery=True,
        cache_discovery=False,
        client_options=options,
    )


def _credentials(account: YouTubeAccount) -> Any:
    """google-auth's credentials for the grant: no access token yet, refreshed on first use."""
    from google.oauth2.credentials import Credentials

    return Credentials(
        token=None,
        refresh_token=account.refresh_token,
        client_id=account.client_id,
        client_secret=account.client_secret,
        token_uri=account.token_uri,
        scopes=list(SCOPES),
    )


def check_account(account: YouTubeAccount) -> None:
    """Refresh the grant's token once: ``ProviderError`` (with "reconnect the channel") when Google refuses it."""
    import google_auth_httplib2
    import httplib2

    credentials = _credentials(account)
    try:
        credentials.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=60, ca_certs=account.ca_certs)))
    except Exception as exc:
        raise _failure(exc) from None


def upload_units(destination: YouTubeDestination, *, thumbnail: bool) -> int:
    return (
        COST["videos.insert"]
        + (COST["thumbnails.set"] if thumbnail else 0)
        + (COST["playlistItems.list"] + COST["playlistItems.insert"] if destination.playlist_id else 0)
    )


def publish_youtube(
    engine: Engine,
    service: Any,
    *,
    channel: str,
    project_id: int,
    language: str,
    destination: YouTubeDestination,
    video: VideoMetadata,
    video_file: Path,
    thumbnail: Path | None,
    now: dt.datetime | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> store.Publication:
    """Upload ``video_file`` to the channel once, with its metadata, thumbnail and playlist entry."""
    moment = now or dt.datetime.now(dt.UTC)
    publication = store.open_publication(
        engine, project_id=project_id, language=language, destination=destination.name, kind="youtube"
    )
    if publication.done:
        return publication
    key = publication.idempotency_key
    with store.sending(engine, key) as mine:
        if not mine:
            return publication  # another task is sending it
        units = upload_units(destination, thumbnail=thumbnail is not None)
        if units > destination.daily_quota:
            said = (
                f"one video costs {units} YouTube API units, more than the channel's daily quota "
                f"({destination.daily_quota}): raise it (videoctl channel connect {channel} --daily-quota N)"
            )
            store.set_status(engine, key, "failed", error=said)
            raise ProviderError(said, provider=PROVIDER, retryable=False)
        if not store.reserve_quota(
            engine, account=channel, day=quota_day(moment), key=key, units=units, limit=destination.daily_quota
        ):
            raise _deferred(engine, key, channel, destination.daily_quota, moment)
        release = release_time(destination.release_at, moment)
        body = video_body(video, destination, release=release)
        try:
            video_id = publication.external_id or _upload(
                engine, service, publication, video_file, body, chunk=chunk_bytes
            )
            if thumbnail is not None:
                from googleapiclient.http import MediaFileUpload

                mimetype = "image/png" if thumbnail.suffix.lower() == ".png" else "image/jpeg"
                service.thumbnails().set(
                    videoId=video_id, media_body=MediaFileUpload(str(thumbnail), mimetype)
                ).execute()
            if destination.playlist_id:
                _add_to_playlist(service, destination.playlist_id, video_id)
        except QuotaDeferred:
            raise
        except Exception as exc:
            failure = _failure(exc)
            if isinstance(failure, QuotaDeferred):
                store.fill_quota(engine, account=channel, day=quota_day(moment), key=key, limit=destination.daily_quota)
                raise _deferred(engine, key, channel, destination.daily_quota, moment) from None
            store.set_status(engine, key, "pending" if failure.retryable else "failed", error=failure.message)
            raise failure from None
        return store.set_status(engine, key, "scheduled" if release else "live", external_id=video_id)


def _upload(
    engine: Engine, service: Any, publication: store.Publication, path: Path, body: dict[str, Any], *, chunk: int
) -> str:
    """The resumable upload of ``path``, continued from where YouTube says it is; the new video's id."""
    from googleapiclient.http import MediaFileUpload

    key = publication.idempotency_key
    size = path.stat().st_size
    checksum = file_sha256(path)
    media = MediaFileUpload(str(path), mimetype="video/mp4", chunksize=chunk, resumable=True)
    request = service.videos().insert(part="snippet,status", body=body, media_body=media, notifySubscribers=True)
    if publication.session_uri and publication.upload_sha256 == checksum:
        received = _received(request.http, publication.session_uri, size)
        if isinstance(received, str):
            store.record_progress(engine, key, size, external_id=received)
            return received
        if received is not None:
            request.resumable_uri, request.resumable_progress = publication.session_uri, received
            store.record_progress(engine, key, received)
    store.set_status(engine, key, "uploading")
    recorder = _SessionRecorder(request.http, lambda uri: store.record_session(engine, key, uri, checksum))
    answer = None
    while answer is None:
        progress, answer = request.next_chunk(http=recorder)
        if progress is not None:
            store.record_progress(engine, key, progress.resumable_progress)
    video_id = str(answer["id"])
    store.record_progress(engine, key, size, external_id=video_id)
    return video_id


class _SessionRecorder:
    """The client's transport, storing a new upload session's URI before the request that sends bytes is made."""

    def __init__(self, http: Any, record: Callable[[str], None]) -> None:
        self._http, self._record = http, record

    def request(self, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        response, content = self._http.request(uri, method, *args, **kwargs)
        if method == "POST" and response.status == 200 and "location" in response:
            self._record(response["location"])
        return response, content


def _received(http: Any, session_uri: str, size: int) -> int | str | None:
    """What YouTube has of a stored session: the bytes received, the video id when it is complete, or None when
    the session is gone (start again)."""
    response, content = http.request(
        session_uri, "PUT", headers={"Content-Range": f"bytes */{size}", "Content-Length": "0"}
    )
    if response.status in (200, 201):
        return str(json.loads(content)["id"])
    if response.status == 308:
        said = response.get("range", "")
        return int(said.rsplit("-", 1)[1]) + 1 if said else 0
    if response.status in (404, 410):
        return None
    from googleapiclient.errors import HttpError

    raise HttpError(response, content, uri=session_uri)


def _add_to_playlist(service: Any, playlist_id: str, video_id: str) -> None:
    listed = service.playlistItems().list(part="id", playlistId=playlist_id, videoId=video_id).execute()
    if listed.get("items"):
        return  # added by an earlier try
    resource = {"snippet": {"playlistId": playlist_id, "resourceId": {"kind": "youtube#video", "videoId": video_id}}}
    service.playlistItems().insert(part="snippet", body=resource).execute()


def _failure(exc: Exception) -> ProviderError:
    """A client library's exception as a ``ProviderError`` carrying the API's reason."""
    import httplib2
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError, ResumableUploadError

    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TransportError | OSError | httplib2.HttpLib2Error):  # TimeoutError is an OSError
        return ProviderError(f"no answer from YouTube ({type(exc).__name__})", provider=PROVIDER, retryable=True)
    if isinstance(exc, RefreshError):
        status, reason, message = 401, _grant_error(exc), ""
    elif isinstance(exc, HttpError | ResumableUploadError):
        status, reason, message = _http_reason(exc)
    else:
        raise exc
    if status == 401:
        said = reason if isinstance(exc, RefreshError) else f"401 {reason}"
        reconnect = f"YouTube refused the channel's credentials ({said}): reconnect the channel"
        return ProviderError(f"{reconnect} (videoctl channel connect)", provider=PROVIDER, retryable=False)
    if status in {403, 429} and reason in QUOTA_REASONS:
        return QuotaDeferred(f"YouTube's quota is spent ({reason})", until=next_quota_day(dt.datetime.now(dt.UTC)))
    said = f"YouTube answered {status} {reason}" + (f": {message}" if message and message != reason else "")
    return ProviderError(said[:300], provider=PROVIDER, retryable=status in RETRYABLE)


def _http_reason(exc: Any) -> tuple[int, str, str]:
    """(status, the API's reason, its message) of an HttpError."""
    status = int(exc.resp.status)
    try:
        error = json.loads(exc.content)["error"]
        first = (error.get("errors") or [{}])[0]
        return status, str(first.get("reason") or error.get("status") or status), str(error.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return status, str(getattr(exc.resp, "reason", "") or status), ""


def _grant_error(exc: Exception) -> str:
    said = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    return str(said.get("error") or (exc.args[0] if exc.args else "refused")).split(":")[0]


def _deferred(engine: Engine, key: str, channel: str, limit: int, now: dt.datetime) -> QuotaDeferred:
    until = next_quota_day(now)
    message = (
        f"the channel {channel}'s YouTube quota for today ({limit:,} units) is spent: sending again at "
        f"{until:%Y-%m-%d %H:%M} UTC (the next quota day)"
    )
    store.set_status(engine, key, "pending", error=message)
    return QuotaDeferred(message, until=until)


def _plain(text: str) -> str:
    return text.replace("<", "‹").replace(">", "›")


def _tags(tags: tuple[str, ...]) -> list[str]:
    """Tags within YouTube's 500 characters (a tag with a space counts its quotes)."""
    kept: list[str] = []
    used = 0
    for tag in dict.fromkeys(_plain(t).strip() for t in tags if t.strip()):
        cost = len(tag) + (2 if " " in tag else 0) + (1 if kept else 0)
        if used + cost > 500:
            break
        kept.append(tag)
        used += cost
    return kept
