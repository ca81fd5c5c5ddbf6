"""What a task of the video DAG works with, built once per task: settings, the run, storage, the repository,
the providers, and the ledger of failed calls. Task bodies take their values as arguments and use this for the
plumbing, so each reads as one call to the core.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context

from pipeline.config import Settings, current_settings
from pipeline.constants import DagId, ProjectStatus, ScriptSource
from pipeline.request import VideoRequest, without_unknown_keys
from video_factory.runs import request_id_from_run

if TYPE_CHECKING:
    from pipeline.assets import FailedCallSink, ProviderCall
    from pipeline.channels import BrandKit
    from pipeline.db import VideoRepository
    from pipeline.images import ImageProvider
    from pipeline.images.pexels import PexelsStock
    from pipeline.models import CardLook, MediaAsset, Scene
    from pipeline.production import Job
    from pipeline.scriptgen import ScriptProvider
    from pipeline.storage import Storage
    from pipeline.translate import Translator
    from pipeline.voice import VoiceProvider

log = logging.getLogger(__name__)


class VideoTask:
    """The surroundings of one task instance of ``video_production``.

    :param settings: the factory's settings, read once.
    :param run_id: the DAG run's id.
    :param conf: the run's params (the request as submitted); only ``register`` reads them.
    :param dag_id: the DAG's id.
    :param try_number: the task instance's try (1 on the first).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        run_id: str,
        conf: dict[str, Any],
        dag_id: str = DagId.VIDEO,
        try_number: int = 1,
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.conf = conf
        self.dag_id = dag_id
        self.try_number = try_number

    @classmethod
    def current(cls) -> VideoTask:
        context = get_current_context()
        ti = context["ti"]
        return cls(
            settings=current_settings(),
            run_id=context["run_id"],
            conf=dict(context["params"]),
            dag_id=ti.dag_id,
            try_number=ti.try_number or 1,
        )

    @cached_property
    def storage(self) -> Storage:
        from video_factory.connections import storage

        return storage(self.settings)

    @cached_property
    def repository(self) -> VideoRepository:
        from video_factory.connections import video_repository

        return video_repository(keep=True)  # the task process's transactions share one engine and connection

    def image_provider(self, name: str, card: CardLook | None = None) -> ImageProvider:
        from video_factory.providers import image_provider

        return image_provider(self.settings, name, card=card)

    def stock(self) -> PexelsStock:
        from video_factory.providers import stock_source

        return stock_source(self.settings, self.storage)

    def check_media_source(self, name: str) -> None:
        """A request's media source can be used (pexels: its connection holds a key), or ``ProviderError``."""
        from pipeline.constants import MediaSourceId

        if name == MediaSourceId.PEXELS:
            self.stock()

    def scene_media(self, scene: Scene) -> tuple[MediaAsset, list[ProviderCall]]:
        """The scene's picture from its sources in order (library, stock, the image provider, a title card)."""
        from pipeline.constants import ImageProviderId, MediaSourceId
        from pipeline.media import make_scene_media, title_cards_after

        provider = self.image_provider(scene.image_provider, scene.card)
        cards = self.image_provider(ImageProviderId.PROCEDURAL, scene.card)
        return make_scene_media(
            scene,
            provider=provider,
            stock=self.stock() if MediaSourceId.PEXELS in scene.media_sources else None,
            fallback=cards if title_cards_after(provider) else None,
            **self.making(scene),
        )

    def with_library_picks(self, scenes: Sequence[Scene]) -> list[Scene]:
        """The scenes with their library items, when their sources name the library (one lookup per video)."""
        from pipeline.library import list_items
        from pipeline.production import looks_in_library, with_library_picks

        if not looks_in_library(scenes):
            return list(scenes)
        picked = with_library_picks(scenes, list_items(self.repository.engine))
        for scene in picked:
            if scene.library_pick is not None:
                log.info("scene %d: library item %s", scene.index + 1, scene.library_pick.name)
        return picked

    def voice_provider(self, name: str) -> VoiceProvider:
        from video_factory.providers import voice_provider

        return voice_provider(self.settings, name)

    def script_provider(self, source: str) -> ScriptProvider:
        """The request's own script (``given``), or the configured generator."""
        from pipeline.scriptgen import GivenScript
        from video_factory.providers import script_provider

        return GivenScript() if source == ScriptSource.GIVEN else script_provider(self.settings)

    def ledger(self, project_id: int, scene_index: int | None = None) -> FailedCallSink:
        """Where a failed provider call is written, before the task fails or retries."""

        def record(call: ProviderCall) -> None:
            self.repository.record_call(project_id, scene_index, call, dag_run_id=self.run_id)

        return record

    def making(self, scene: Scene) -> dict[str, Any]:
        """What making a scene's asset needs besides its provider: storage, scratch space, the lock that stops two
        workers paying for the same asset, and the ledger of failed calls."""
        return {
            "storage": self.storage,
            "work_dir": self.settings.work_dir,
            "lock": self.repository.content_lock,
            "on_failed_call": self.ledger(scene.project_id, scene.index),
        }

    def register(self) -> Job:
        """The request checked and recorded (project ``processing``), with every decision about it made once.

        A request that cannot be made fails here, before any paid call, with a one-line reason that is stored on
        its project (and so reaches the run's note and the email). A request whose video is finished (and not
        asked to be made again), or is being made by another run, ends this run here: its tasks are skipped.
        """
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.errors import InvalidRequest
        from pipeline.production import plan_job

        try:
            request, refusal = self._parse(self.conf), None
        except InvalidRequest as exc:  # unknown keys: record the rest, so the project can say why it failed
            request, refusal = self._parse(without_unknown_keys(self.conf)), exc
        registration = self.repository.register(request, dag_run_id=self.run_id, run_is_active=self._run_is_active)
        if not registration.made_by(self.run_id):
            if refusal is not None:
                raise refusal
            raise AirflowSkipException(not_made_again(request.key, registration.owner, registration.owner_status))
        try:
            if refusal is not None:
                raise refusal
            return plan_job(
                request,
                project_id=registration.project_id,
                run_id=self.run_id,
                settings=self.settings,
                storage=self.storage,
                voices=lambda name: self.voice_provider(name).voices(),
                check_image_provider=self.image_provider,
                check_script_provider=self.script_provider,
                check_media_source=self.check_media_source,
                channel_kit=self._channel_kit,
                tracks_of_mood=self._tracks_of_mood,
                voice_for=lambda provider, language: self.voice_provider(provider).voice_for(language),
                check_translator=lambda name: self.translator(),
            )
        except InvalidRequest as exc:
            self.repository.mark_failed(request.key, task_id="register", error=exc.message, dag_run_id=self.run_id)
            raise

    def library_clip(self, name: str) -> str | None:
        """The storage key of the media library's clip ``name`` (None when it is gone)."""
        from pipeline.library import get_item

        item = get_item(self.repository.engine, name)
        return item.storage_key if item is not None and item.kind == "video" else None

    def _channel_kit(self, name: str) -> BrandKit | None:
        from pipeline.channels import get_channel

        channel = get_channel(self.repository.engine, name)
        return None if channel is None else channel.kit

    def _tracks_of_mood(self, mood: str) -> list[str]:
        from pipeline.music import tracks_of_mood

        return tracks_of_mood(self.repository.engine, mood)

    def _run_is_active(self, run_id: str) -> bool:
        return run_is_active(self.dag_id, run_id)

    def label_version(self, language: str) -> None:
        """The mapped instance of a version shown by its language in the UI (``map_index_template``)."""
        get_current_context()["version_label"] = language or "original"  # type: ignore[typeddict-unknown-key]

    def store_version_spec(
        self,
        work: Job,
        images: Sequence[dict[str, Any]],
        narrations: Sequence[dict[str, Any]],
        version: dict[str, Any],
    ) -> str:
        """A version's render spec (each scene's picture and its narration in the version's language with the
        request's look and sound, and the channel's watermark, intro and outro), stored; returns its key."""
        from pipeline.brand import branded
        from pipeline.models import AudioAsset, MediaAsset
        from pipeline.production import Version, render_spec_of, store_render_spec

        pictures = [MediaAsset.model_validate(image) for image in images]
        voices = [AudioAsset.model_validate(narration) for narration in narrations]
        told = Version.model_validate(version)
        spec = render_spec_of(work, pictures, voices, fps=self.settings.fps, language=told.language, title=told.title)
        spec = branded(spec, work.brand, storage=self.storage, clip_key=self.library_clip)
        return store_render_spec(spec, work, self.storage)

    def translator(self) -> Translator:
        """The configured translator (``VIDEO_TRANSLATOR``) with its connection's key."""
        from pipeline.translate import GeminiTranslator
        from video_factory.conn_ids import GEMINI_CONN_ID
        from video_factory.connections import api_key

        key = api_key(GEMINI_CONN_ID)
        providers = self.settings.providers
        return GeminiTranslator(
            api_key=key.key, base_url=key.base_url, model=providers.gemini_model, timeout_s=providers.provider_timeout_s
        )

    def label_scene(self, scene: dict[str, Any], version: dict[str, Any] | None = None) -> Scene:
        """The mapped instance's scene (as ``version`` narrates it), its label shown in the UI
        (``map_index_template``)."""
        from pipeline.models import Scene
        from pipeline.production import Version, narrated

        item = Scene.model_validate(scene)
        if version is not None:
            item = narrated(item, Version.model_validate(version))
        get_current_context()["scene_label"] = item.label  # type: ignore[typeddict-unknown-key]
        return item

    def _parse(self, conf: dict[str, Any]) -> VideoRequest:
        return VideoRequest.from_conf(conf, default_id=request_id_from_run(self.run_id))


def run_state(dag_id: str, run_id: str) -> str | None:
    """A run's state (``queued``, ``running``, ``success``, ``failed``), None when it does not exist."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    try:
        state = RuntimeTaskInstance.get_dagrun_state(dag_id=dag_id, run_id=run_id)
    except Exception as exc:  # the run was deleted (or never made)
        log.info("Run %s of %s is not found (%s)", run_id, dag_id, exc)
        return None
    return str(getattr(state, "value", state))  # a DagRunState or its string


def run_is_active(dag_id: str, run_id: str) -> bool:
    """Whether a run is still queued or running (a run that is gone is not): another run of a request takes its
    project over, a batch takes back its stale claims."""
    return run_state(dag_id, run_id) in {"queued", "running"}  # Airflow's run states


def describe_call(scene: Scene, call: ProviderCall) -> str:
    """One log line per scene: which scene, which provider, cache hit or miss, units, seconds."""
    verdict = "cache hit" if call.cached else ("call failed" if call.outcome.startswith("error") else "cache miss")
    return (
        f"scene {scene.index + 1}: {call.provider} ({call.model}), {verdict}, "
        f"{call.units:g} {call.unit_kind}, {call.duration_ms / 1000:.2f} s"
    )


def not_made_again(request_key: str, owner: str, owner_status: str) -> str:
    """Why a run of a request ends at ``register``: the one line its log and its note show."""
    if owner_status == ProjectStatus.COMPLETED:
        return (
            f"Request {request_key} already has its video (made by run {owner}); nothing is made again. "
            "Set rerender to make it again."
        )
    return f"Request {request_key} is being made by run {owner}; this run ends here (its video comes from that run)."
