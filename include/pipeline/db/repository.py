"""Every database write the pipeline makes: one transaction each, idempotent (safe to repeat on retry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Engine, create_engine, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.pool import NullPool

from pipeline.assets import ProviderCall
from pipeline.constants import ProjectStatus, RequestStatus
from pipeline.db.schema import (
    audio_assets,
    media_assets,
    notifications,
    projects,
    provider_calls,
    rendered_videos,
    requests,
    scenes,
    scripts,
)
from pipeline.errors import NotOwner
from pipeline.models import AudioAsset, MediaAsset, ProjectSummary, RenderResult
from pipeline.request import VideoRequest
from pipeline.scriptgen.base import Script

if TYPE_CHECKING:
    from pipeline.segment import SceneText

MAX_ERROR_CHARS = 4000


def connect(url: str | URL, *, keep: bool = False) -> Engine:
    """An engine that opens a connection per transaction (no pool kept: the API server, CLIs and callbacks make
    one per use). ``keep``: for a task process, whose several transactions share one connection (a second while
    an advisory lock holds the first), closed when the process ends; a new PostgreSQL session costs the server a
    process start and an authentication each time."""
    if keep:
        return create_engine(url, pool_size=1, max_overflow=2, pool_pre_ping=True)
    return create_engine(url, poolclass=NullPool, pool_pre_ping=True)


@dataclass(frozen=True)
class Registration:
    """Who makes a request's video: ``owner`` is the run that writes its results and sends its email."""

    project_id: int
    owner: str
    owner_status: str

    def made_by(self, run_id: str) -> bool:
        return self.owner == run_id


REQUEST_STATUS_OF: dict[str, str] = {
    ProjectStatus.PROCESSING: RequestStatus.RUNNING,
    ProjectStatus.REVIEW: RequestStatus.RUNNING,
}  # a project's status, as its request's row in the queue says it


def request_columns(request: VideoRequest) -> dict[str, Any]:
    """A request as a row of the queue: the whole flat conf as the payload, the rest as columns."""
    return {
        "title": request.title,
        "script": request.script or "",
        "topic": request.topic or "",
        "voice": request.voice_name,
        "aspect": request.aspect,
        "resolution": request.resolution,
        "notify_emails": list(request.emails),
        "priority": request.priority,
        "payload": request.to_conf(),
    }


class VideoRepository:
    """The project's tables, as the DAG's tasks and callbacks use them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def content_lock(self, digest: str) -> Iterator[None]:
        """Serialise every worker making the asset ``digest``: a Postgres advisory lock on the hash.

        The lock is held on its own autocommit connection (no transaction stays open during a paid call) and
        is released when the block ends, or by the server when the worker dies.
        """
        key = int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(select(func.pg_advisory_lock(key)))
            try:
                yield
            finally:
                conn.execute(select(func.pg_advisory_unlock(key)))

    def register(
        self, request: VideoRequest, *, dag_run_id: str, run_is_active: Callable[[str], bool] = lambda _: True
    ) -> Registration:
        """Record the request and decide, under a row lock, which run makes its one video.

        This run takes the project (``processing``, owned by ``dag_run_id``) unless the request already has a
        finished video and does not ask for ``rerender``, or another run that ``run_is_active`` is making it
        now. The request's row is locked for the decision, so any number of concurrent runs of one request
        agree on a single owner; only the owner writes the project's results and sends its email.
        """
        values = request_columns(request)
        with self.engine.begin() as conn:
            conn.execute(
                insert(requests)
                .values(request_key=request.key, status=RequestStatus.RUNNING, **values)
                .on_conflict_do_nothing(index_elements=[requests.c.request_key])
            )
            request_id = conn.execute(
                select(requests.c.id).where(requests.c.request_key == request.key).with_for_update()
            ).scalar_one()
            current = conn.execute(
                select(projects.c.id, projects.c.status, projects.c.dag_run_id).where(
                    projects.c.request_id == request_id
                )
            ).one_or_none()
            if current is not None and current.dag_run_id != dag_run_id:
                done = current.status == RequestStatus.COMPLETED and not request.rerender
                busy = (
                    current.status == ProjectStatus.PROCESSING
                    and current.dag_run_id
                    and run_is_active(current.dag_run_id)
                )
                if done or busy:
                    return Registration(current.id, owner=current.dag_run_id, owner_status=current.status)
            conn.execute(
                update(requests)
                .where(requests.c.id == request_id)
                .values(**values, status=RequestStatus.RUNNING, dag_run_id=dag_run_id, updated_at=func.now())
            )
            project_id = conn.execute(
                insert(projects)
                .values(
                    request_id=request_id, title=request.title, status=ProjectStatus.PROCESSING, dag_run_id=dag_run_id
                )
                .on_conflict_do_update(
                    index_elements=[projects.c.request_id],
                    set_={
                        "title": request.title,
                        "status": ProjectStatus.PROCESSING,
                        "error": None,
                        "failed_task": None,
                        "completed_at": None,
                        "dag_run_id": dag_run_id,
                        "render_attempts": {},  # a new run's render attempts count from 1 again
                        "updated_at": func.now(),
                    },
                )
                .returning(projects.c.id)
            ).scalar_one()
            return Registration(project_id, owner=dag_run_id, owner_status=ProjectStatus.PROCESSING)

    def claim_render(self, project_id: int, *, dag_run_id: str, attempt: int, language: str = "") -> None:
        """Make ``attempt`` the render attempt of the project's ``language`` version; refused (``NotOwner``) when
        another run owns the project or a newer attempt of that version has started (this one is a late writer)."""
        with self.engine.begin() as conn:
            self._claim_render(conn, project_id, dag_run_id, attempt, language)

    def save_script(
        self, project_id: int, *, script: Script, call: ProviderCall | None = None, dag_run_id: str | None = None
    ) -> None:
        """Store the project's script and, for a generated one, the ledger line of its call, together."""
        source, body = script.source, script.body
        with self.engine.begin() as conn:
            conn.execute(
                insert(scripts)
                .values(project_id=project_id, source=source, body=body)
                .on_conflict_do_update(index_elements=[scripts.c.project_id], set_={"source": source, "body": body})
            )
            if call is not None:
                self._record_call(conn, project_id, None, call, dag_run_id)

    def record_call(
        self, project_id: int, scene_index: int | None, call: ProviderCall, *, dag_run_id: str | None
    ) -> None:
        """One ledger line on its own (a failed call: the task is about to fail, nothing else is saved)."""
        with self.engine.begin() as conn:
            self._record_call(conn, project_id, scene_index, call, dag_run_id)

    def save_scenes(self, project_id: int, scene_texts: Sequence[SceneText]) -> None:
        """Make the project's scenes exactly ``scene_texts`` (a re-segmented script replaces the old one)."""
        with self.engine.begin() as conn:
            for scene in scene_texts:
                values = {
                    "text": scene.text,
                    "keywords": list(scene.keywords),
                    "visual_prompt": scene.visual_prompt,
                }
                conn.execute(
                    insert(scenes)
                    .values(project_id=project_id, scene_index=scene.index, **values)
                    .on_conflict_do_update(constraint="scenes_one_per_index", set_=values)
                )
            conn.execute(
                scenes.delete().where(scenes.c.project_id == project_id, scenes.c.scene_index >= len(scene_texts))
            )

    def save_media(
        self, project_id: int, asset: MediaAsset, call: ProviderCall | Sequence[ProviderCall], *, dag_run_id: str
    ) -> None:
        """The scene's media row and the ledger line of every source asked for it, in one transaction."""
        calls = [call] if isinstance(call, ProviderCall) else list(call)
        with self.engine.begin() as conn:
            scene_id = self._scene_id(conn, project_id, asset.scene_index)
            conn.execute(
                insert(media_assets)
                .values(
                    scene_id=scene_id,
                    content_hash=asset.content_hash,
                    storage_key=asset.storage_key,
                    kind=asset.kind,
                    provider=asset.provider,
                    width=asset.width,
                    height=asset.height,
                    credit=asset.credit,
                    licence=asset.licence,
                )
                .on_conflict_do_nothing(constraint="media_assets_one_per_hash")
            )
            for each in calls:
                self._record_call(conn, project_id, asset.scene_index, each, dag_run_id)

    def save_audio(self, project_id: int, asset: AudioAsset, call: ProviderCall, *, dag_run_id: str) -> None:
        values = {
            "content_hash": asset.content_hash,
            "storage_key": asset.storage_key,
            "provider": asset.provider,
            "voice": asset.voice,
            "duration_s": asset.duration_s,
            "word_timings": [w.model_dump() for w in asset.words],
            "timings_estimated": asset.timings_estimated,
        }
        with self.engine.begin() as conn:
            scene_id = self._scene_id(conn, project_id, asset.scene_index)
            conn.execute(
                insert(audio_assets)
                .values(scene_id=scene_id, language=asset.language, **values)
                .on_conflict_do_update(constraint="audio_assets_one_per_language", set_=values)
            )
            self._record_call(conn, project_id, asset.scene_index, call, dag_run_id)

    def save_render(self, result: RenderResult, *, dag_run_id: str) -> None:
        values = {
            "video_key": result.video_key,
            "subtitles_key": result.subtitles_key,
            "thumbnail_key": result.thumbnail_key,
            "video_url": result.video_url,
            "duration_s": result.facts.duration_s,
            "width": result.facts.width,
            "height": result.facts.height,
            "size_bytes": result.facts.size_bytes,
            "attempt": result.attempt,
        }
        with self.engine.begin() as conn:
            self._claim_render(conn, result.project_id, dag_run_id, result.attempt, result.language)
            conn.execute(
                insert(rendered_videos)
                .values(project_id=result.project_id, dag_run_id=dag_run_id, language=result.language, **values)
                .on_conflict_do_update(constraint="rendered_videos_one_per_run", set_=values)
            )

    def publish(self, project_id: int, *, dag_run_id: str, language: str = "", versions: Sequence[str] = ("",)) -> bool:
        """Mark this run's render of the ``language`` version published; when every one of ``versions`` is, the
        project and its request become ``completed`` too, in the same transaction (returned: True). Refused
        (``NotOwner``) unless this run still owns the project and its render is the version's newest attempt."""
        with self.engine.begin() as conn:
            owned = conn.execute(
                select(projects.c.render_attempts)
                .where(projects.c.id == project_id, projects.c.dag_run_id == dag_run_id)
                .with_for_update()
            ).one_or_none()
            if owned is None:
                raise NotOwner(f"run {dag_run_id} no longer owns project {project_id}: not publishing its render")
            this_run = (rendered_videos.c.project_id == project_id) & (rendered_videos.c.dag_run_id == dag_run_id)
            published = conn.execute(
                update(rendered_videos)
                .where(
                    this_run,
                    rendered_videos.c.language == language,
                    rendered_videos.c.attempt == (owned.render_attempts or {}).get(language, 0),
                )
                .values(published=True, published_at=func.coalesce(rendered_videos.c.published_at, func.now()))
            ).rowcount
            if published != 1:
                version = f" in {language}" if language else ""
                raise LookupError(f"no rendered video{version} of project {project_id} for run {dag_run_id!r}")
            from pipeline.publish.targets import queue_publications

            queue_publications(conn, project_id, language)  # the outbox: sent by the video_publishing DAG
            done = set(
                conn.execute(select(rendered_videos.c.language).where(this_run, rendered_videos.c.published)).scalars()
            )
            if not set(versions) <= done:
                return False
            self._set_status(conn, project_id, ProjectStatus.COMPLETED)
            return True

    def mark_failed(self, request_key: str, *, task_id: str, error: str, dag_run_id: str) -> int | None:
        """Record why the run failed; returns the project id (None if the request has no project this run owns:
        a run that ended early beside the owner never marks the owner's video failed)."""
        with self.engine.begin() as conn:
            project_id = conn.execute(
                select(projects.c.id)
                .join(requests)
                .where(requests.c.request_key == request_key, projects.c.dag_run_id == dag_run_id)
            ).scalar_one_or_none()
            if project_id is not None:
                self._set_status(
                    conn, project_id, ProjectStatus.FAILED, error=error[:MAX_ERROR_CHARS], failed_task=task_id
                )
            return project_id

    def set_reviewing(self, project_id: int, *, dag_run_id: str, waiting: bool) -> bool:
        """The project waits for its script's review (``review``), or goes on (``processing``); False when this run
        does not own it."""
        with self.engine.begin() as conn:
            owned = conn.execute(
                select(projects.c.id).where(projects.c.id == project_id, projects.c.dag_run_id == dag_run_id)
            ).scalar_one_or_none()
            if owned is not None:
                self._set_status(conn, project_id, ProjectStatus.REVIEW if waiting else ProjectStatus.PROCESSING)
            return owned is not None

    def reject(self, project_id: int, *, dag_run_id: str, reason: str) -> bool:
        """The script was rejected in review: the project ends ``rejected`` with the reason (nothing was paid for
        images or voices); False when this run does not own it."""
        with self.engine.begin() as conn:
            owned = conn.execute(
                select(projects.c.request_id).where(projects.c.id == project_id, projects.c.dag_run_id == dag_run_id)
            ).scalar_one_or_none()
            if owned is None:
                return False
            self._set_status(
                conn, project_id, ProjectStatus.REJECTED, error=reason[:MAX_ERROR_CHARS], failed_task="review"
            )
            conn.execute(
                update(requests)
                .where(requests.c.id == owned)
                .values(reject_reasons=[{"field": "script", "message": reason[:MAX_ERROR_CHARS]}])
            )
            return True

    def cancel(self, *, dag_run_id: str, reason: str) -> bool:
        """A run stopped by a person: its request ``cancelled`` and its unfinished project ``failed`` with the
        reason, together (a finished video is kept as it is). False when the run makes no project."""
        with self.engine.begin() as conn:
            project_id = conn.execute(
                update(projects)
                .where(projects.c.dag_run_id == dag_run_id, projects.c.status == ProjectStatus.PROCESSING)
                .values(
                    status=ProjectStatus.FAILED, error=reason[:MAX_ERROR_CHARS], failed_task=None, updated_at=func.now()
                )
                .returning(projects.c.id)
            ).scalar_one_or_none()
            cancelled = conn.execute(
                update(requests)
                .where(
                    requests.c.dag_run_id == dag_run_id,
                    requests.c.status.not_in([RequestStatus.COMPLETED, RequestStatus.REJECTED]),
                )
                .values(status=RequestStatus.CANCELLED, updated_at=func.now())
                .returning(requests.c.id)
            ).scalar_one_or_none()
        return project_id is not None or cancelled is not None

    def claim_notification(self, request_key: str, *, dag_run_id: str, outcome: str, fingerprint: str) -> bool:
        """True the first time an email with ``fingerprint`` is about to go out; False when it already went."""
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert(notifications)
                .values(request_key=request_key, dag_run_id=dag_run_id, outcome=outcome, fingerprint=fingerprint)
                .on_conflict_do_nothing(constraint="notifications_once")
                .returning(notifications.c.id)
            ).scalar_one_or_none()
        return inserted is not None

    def release_notification(self, fingerprint: str) -> None:
        """Forget a claimed email that could not be sent."""
        with self.engine.begin() as conn:
            conn.execute(notifications.delete().where(notifications.c.fingerprint == fingerprint))

    def project_summary(self, request_key: str) -> ProjectSummary | None:
        """The project's state and latest render, for emails and the CLI."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(
                        projects.c.id,
                        projects.c.title,
                        projects.c.status,
                        projects.c.error,
                        projects.c.failed_task,
                        projects.c.dag_run_id,
                        requests.c.notify_emails,
                    )
                    .join(requests)
                    .where(requests.c.request_key == request_key)
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                return None
            scene_count = conn.execute(
                select(func.count()).select_from(scenes).where(scenes.c.project_id == row["id"])
            ).scalar_one()
            video = (
                conn.execute(
                    select(rendered_videos)
                    .where(rendered_videos.c.project_id == row["id"])
                    .order_by(rendered_videos.c.published.desc(), rendered_videos.c.created_at.desc())
                    .limit(1)
                )
                .mappings()
                .one_or_none()
            )
            return ProjectSummary(
                **{**dict(row), "notify_emails": list(row["notify_emails"] or [])},
                scene_count=scene_count,
                video=dict(video) if video else None,
            )

    @staticmethod
    def _claim_render(conn: Any, project_id: int, dag_run_id: str, attempt: int, language: str = "") -> None:
        current = func.coalesce(projects.c.render_attempts[language].as_integer(), 0)
        claimed = conn.execute(
            update(projects)
            .where(projects.c.id == project_id, projects.c.dag_run_id == dag_run_id, current <= attempt)
            .values(
                render_attempts=projects.c.render_attempts.op("||")(func.jsonb_build_object(language, attempt)),
                updated_at=func.now(),
            )
            .returning(projects.c.id)
        ).scalar_one_or_none()
        if claimed is None:
            raise NotOwner(
                f"render attempt {attempt} of run {dag_run_id} is not the newest of project {project_id}: "
                "its output is not used"
            )

    @staticmethod
    def _scene_id(conn: Any, project_id: int, scene_index: int) -> int:
        scene_id = conn.execute(
            select(scenes.c.id).where(scenes.c.project_id == project_id, scenes.c.scene_index == scene_index)
        ).scalar_one_or_none()
        if scene_id is None:
            raise LookupError(f"project {project_id} has no scene {scene_index}")
        return int(scene_id)

    @staticmethod
    def _record_call(
        conn: Any, project_id: int, scene_index: int | None, call: ProviderCall, dag_run_id: str | None
    ) -> None:
        conn.execute(
            provider_calls.insert().values(
                project_id=project_id, scene_index=scene_index, dag_run_id=dag_run_id, **asdict(call)
            )
        )

    @staticmethod
    def _set_status(
        conn: Any, project_id: int, status: str, *, error: str | None = None, failed_task: str | None = None
    ) -> None:
        done = func.now() if status == ProjectStatus.COMPLETED else None
        conn.execute(
            update(projects)
            .where(projects.c.id == project_id)
            .values(status=status, error=error, failed_task=failed_task, completed_at=done, updated_at=func.now())
        )
        conn.execute(
            update(requests)
            .where(requests.c.id == select(projects.c.request_id).where(projects.c.id == project_id).scalar_subquery())
            .values(status=REQUEST_STATUS_OF.get(status, status), updated_at=func.now())
        )
