"""
### video_production: one narrated video per run

`register → script → segment → media[scene] / voice[scene] → render_spec → render → check → publish`

Each mapped `media` / `voice` instance is one scene (labelled with its number and keywords). Assets are stored
under content-addressed keys, so retries and re-runs never pay for the same image or narration twice. The
project's status is kept in the `video` schema; an email goes out when the video is ready or has failed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline.config import load_settings
from pipeline.images import IMAGE_PROVIDERS
from pipeline.models import EMAIL_PATTERN, MAX_SCRIPT_CHARS, MAX_TITLE_CHARS, REQUEST_ID_PATTERN
from pipeline.voice import VOICE_PROVIDERS
from video_factory.callbacks import record_task_failure
from video_factory.errors import ProviderRetryPolicy
from video_factory.notifiers import VideoOutcomeNotifier

log = logging.getLogger(__name__)
SETTINGS = load_settings()
RENDERED_VIDEOS = Asset(name="rendered_videos", uri="videofactory://rendered-videos")

PARAMS = {
    "title": Param(
        "Untitled video",
        type="string",
        minLength=1,
        maxLength=MAX_TITLE_CHARS,
        title="Title",
        description="Shown on the scene cards, in the video's metadata and in the emails.",
    ),
    "script": Param(
        "",
        type="string",
        maxLength=MAX_SCRIPT_CHARS,
        format="multiline",
        title="Script",
        description="The narration. Blank lines start a new scene; long paragraphs are split at sentences.",
    ),
    "topic": Param(
        "",
        type="string",
        maxLength=2000,
        title="Topic",
        description="Used to generate a script when none is given (needs a script generator configured).",
    ),
    "tone": Param(
        "",
        type="string",
        maxLength=200,
        title="Tone",
        description="For a generated script, e.g. 'warm and curious'.",
        section="Script generation (when only a topic is given)",
    ),
    "audience": Param(
        "",
        type="string",
        maxLength=200,
        title="Audience",
        description="For a generated script, e.g. 'beginners, age 12 and up'.",
        section="Script generation (when only a topic is given)",
    ),
    "target_duration_s": Param(
        60,
        type="integer",
        minimum=10,
        maximum=900,
        title="Target length (s)",
        description="About how long the generated narration should be.",
        section="Script generation (when only a topic is given)",
    ),
    "voice": Param(
        "en-us",
        type="string",
        minLength=1,
        maxLength=64,
        title="Voice",
        description="A voice of the voice provider: espeak-ng en-us, en-gb, de, fr, es, ...; "
        "Amazon Polly Joanna, Matthew, Amy, Vicki, ...",
    ),
    "voice_provider": Param(
        None,
        type=["null", "string"],
        enum=[None, *VOICE_PROVIDERS],
        values_display={"espeak": "espeak-ng (offline, free)", "polly": "Amazon Polly (neural)"},
        title="Voice provider",
        description=f"Empty: the configured default ({SETTINGS.voice_provider}).",
    ),
    "image_provider": Param(
        None,
        type=["null", "string"],
        enum=[None, *IMAGE_PROVIDERS],
        values_display={"procedural": "Title cards (offline, free)", "stability": "Stability AI"},
        title="Image provider",
        description=f"Empty: the configured default ({SETTINGS.image_provider}).",
    ),
    "aspect": Param(
        "16:9",
        type="string",
        enum=["16:9", "9:16", "1:1"],
        values_display={"16:9": "16:9 landscape", "9:16": "9:16 vertical (shorts)", "1:1": "1:1 square"},
        title="Aspect ratio",
    ),
    "resolution": Param(
        720,
        type="integer",
        enum=[720, 1080],
        values_display={720: "720p", 1080: "1080p"},
        title="Resolution",
        description="The frame's short side in pixels.",
    ),
    "ken_burns": Param(
        True,
        type="boolean",
        title="Ken Burns motion",
        description="Slow zoom and pan over each still.",
        section="Look and sound",
    ),
    "crossfade_s": Param(
        0.5,
        type="number",
        minimum=0,
        maximum=2,
        title="Crossfade (s)",
        description="Length of the crossfade between scenes; 0 cuts.",
        section="Look and sound",
    ),
    "scene_padding_s": Param(
        0.3,
        type="number",
        minimum=0,
        maximum=3,
        title="Pause after each scene (s)",
        section="Look and sound",
    ),
    "burn_subtitles": Param(
        True,
        type="boolean",
        title="Burn in subtitles",
        description="Word-timed subtitles drawn on the picture (the SRT file and a soft track are always made).",
        section="Look and sound",
    ),
    "soft_subtitles": Param(
        True,
        type="boolean",
        title="Subtitle track",
        description="A switchable subtitle track in the MP4.",
        section="Look and sound",
    ),
    "music": Param(
        "",
        type="string",
        pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$",
        title="Background music",
        description="File name of a track in the music folder (storage key music/NAME); empty for none. "
        "It is looped or trimmed, ducked under the voice and faded.",
        section="Look and sound",
    ),
    "notify_emails": Param(
        [],
        type="array",
        items={"type": "string", "pattern": EMAIL_PATTERN},
        maxItems=20,
        title="Notify",
        description="Addresses that get the 'video ready' or 'video failed' email.",
    ),
    "request_id": Param(
        None,
        type=["null", "string"],
        pattern=REQUEST_ID_PATTERN,
        title="Request id",
        description="Stable id of the request (letters, digits, . _ -). Re-running an id reuses its project.",
    ),
}


def _run() -> tuple[dict[str, Any], str]:
    context = get_current_context()
    return dict(context["params"]), context["run_id"]


def _mapped_scene(scene: dict[str, Any]) -> tuple[Any, str]:
    """The scene of this mapped instance, labelled for the UI (map_index_template), and the run id."""
    from pipeline.models import Scene

    context = get_current_context()
    item = Scene.model_validate(scene)
    context["scene_label"] = item.label  # type: ignore[typeddict-unknown-key]
    return item, context["run_id"]


@dag(
    dag_id="video_production",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    params=PARAMS,
    doc_md=__doc__,
    tags=["video-factory"],
    max_active_runs=8,
    default_args={
        "retries": SETTINGS.retries,
        "retry_delay": dt.timedelta(seconds=SETTINGS.retry_delay_s),
        "retry_exponential_backoff": 2.0,  # a multiplier in Airflow 3.3: 20 s, 40 s, 80 s, ...
        "max_retry_delay": dt.timedelta(seconds=SETTINGS.max_retry_delay_s),
        "on_failure_callback": record_task_failure,
        "retry_policy": ProviderRetryPolicy(max_delay_s=SETTINGS.max_retry_delay_s),  # honours Retry-After
    },
    on_success_callback=VideoOutcomeNotifier(outcome="success"),
    on_failure_callback=VideoOutcomeNotifier(outcome="failure"),
)
def video_production() -> None:
    @task
    def register() -> int:
        """Upsert the request and its project (status `processing`), then check what the schema cannot."""
        from pipeline.models import VideoRequest, check_request
        from pipeline.render.spec import music_key
        from pipeline.scriptgen import GivenScript
        from video_factory.connections import storage, video_repository
        from video_factory.errors import airflow_errors
        from video_factory.providers import image_provider, script_provider, voice_provider
        from video_factory.runs import request_key

        params, run_id = _run()
        settings = load_settings()
        with airflow_errors():
            request = VideoRequest.parse({**params, "request_id": request_key(params, run_id)})
            project_id = video_repository().register(request, dag_run_id=run_id)
            check_request(request, voices=voice_provider(settings, request.voice_provider).voices())
            # before any paid call: every chosen provider has its credentials, the music track exists
            image_provider(settings, request.image_provider)
            if not request.script.strip() and not script_provider(settings).paid:
                GivenScript().write_script(request)  # raises: a topic alone needs a script generator
            music_key(request.music, storage(settings))
        return project_id

    @task
    def script(project_id: int) -> dict[str, Any]:
        """The request's own script, or one generated from its topic (once per distinct topic)."""
        from pipeline.assets import make_script
        from pipeline.models import VideoRequest
        from pipeline.scriptgen import GivenScript
        from video_factory.connections import storage, video_repository
        from video_factory.errors import airflow_errors
        from video_factory.providers import script_provider
        from video_factory.runs import request_key

        params, run_id = _run()
        settings = load_settings()
        repository = video_repository()
        with airflow_errors(lambda call: repository.record_call(project_id, None, call, dag_run_id=run_id)):
            request = VideoRequest.parse({**params, "request_id": request_key(params, run_id)})
            provider = GivenScript() if request.script.strip() else script_provider(settings)
            written, call = make_script(
                request, provider=provider, storage=storage(settings), lock=repository.content_lock
            )
            repository.save_script(project_id, source=written.source, body=written.body, call=call, dag_run_id=run_id)
        return {"body": written.body, "visuals": list(written.visuals) if written.visuals else None}

    @task
    def segment(project_id: int, written: dict[str, Any]) -> list[dict[str, Any]]:
        """Scenes of bounded length with keywords; the list the media and voice tasks are mapped over."""
        from pipeline.models import FRAME_SIZES, Scene
        from pipeline.segment import segment_script
        from video_factory.connections import video_repository
        from video_factory.errors import airflow_errors

        params, _ = _run()
        settings = load_settings()
        with airflow_errors():
            texts = segment_script(
                written["body"],
                max_words=settings.max_scene_words,
                max_scenes=settings.max_scenes,
                visuals=written.get("visuals"),
            )
            video_repository().save_scenes(project_id, texts)
        width, height = FRAME_SIZES[(params["aspect"], int(params["resolution"]))]
        log.info("Script split into %d scenes", len(texts))
        return [
            Scene(
                project_id=project_id,
                index=t.index,
                text=t.text,
                keywords=t.keywords,
                visual_prompt=t.visual_prompt,
                width=width,
                height=height,
                voice=params["voice"],
                title=params["title"],
                image_provider=params.get("image_provider") or settings.image_provider,
                voice_provider=params.get("voice_provider") or settings.voice_provider,
            ).model_dump(mode="json")
            for t in texts
        ]

    @task(map_index_template="{{ scene_label }}", max_active_tis_per_dagrun=4)
    def media(scene: dict[str, Any]) -> dict[str, Any]:
        """The scene's image (from storage when it was made before)."""
        from pipeline.assets import make_scene_image
        from video_factory.connections import storage, video_repository
        from video_factory.errors import airflow_errors
        from video_factory.providers import image_provider

        item, run_id = _mapped_scene(scene)
        settings = load_settings()
        repository = video_repository()
        with airflow_errors(lambda call: repository.record_call(item.project_id, item.index, call, dag_run_id=run_id)):
            asset, call = make_scene_image(
                item,
                provider=image_provider(settings, item.image_provider),
                storage=storage(settings),
                work_dir=settings.work_dir,
                lock=repository.content_lock,  # a scene repeated in another run waits instead of paying twice
            )
            repository.save_media(item.project_id, asset, call, dag_run_id=run_id)
        return asset.model_dump(mode="json")

    @task(map_index_template="{{ scene_label }}", max_active_tis_per_dagrun=4)
    def voice(scene: dict[str, Any]) -> dict[str, Any]:
        """The scene's narration and word timings (from storage when it was made before)."""
        from pipeline.assets import narrate_scene
        from video_factory.connections import storage, video_repository
        from video_factory.errors import airflow_errors
        from video_factory.providers import voice_provider

        item, run_id = _mapped_scene(scene)
        settings = load_settings()
        repository = video_repository()
        with airflow_errors(lambda call: repository.record_call(item.project_id, item.index, call, dag_run_id=run_id)):
            asset, call = narrate_scene(
                item,
                provider=voice_provider(settings, item.voice_provider),
                storage=storage(settings),
                work_dir=settings.work_dir,
                lock=repository.content_lock,
            )
            repository.save_audio(item.project_id, asset, call, dag_run_id=run_id)
        return asset.model_dump(mode="json")

    @task
    def render_spec(project_id: int, images: list[dict[str, Any]], narrations: list[dict[str, Any]]) -> str:
        """Pair each scene's image and narration with the request's look and sound; store it as the render spec."""
        from pipeline.models import AudioAsset, MediaAsset, VideoRequest
        from pipeline.render.spec import RenderOptions, build_render_spec, music_key, spec_key
        from video_factory.connections import storage as open_storage
        from video_factory.errors import airflow_errors
        from video_factory.runs import request_key

        params, run_id = _run()
        settings = load_settings()
        key = request_key(params, run_id)
        storage = open_storage(settings)
        with airflow_errors():
            request = VideoRequest.parse({**params, "request_id": key})
            options = RenderOptions(
                ken_burns=request.ken_burns,
                crossfade_s=request.crossfade_s,
                padding_s=request.scene_padding_s,
                burn_subtitles=request.burn_subtitles,
                soft_subtitles=request.soft_subtitles,
                music_key=music_key(request.music, storage),
            )
            spec = build_render_spec(
                project_id=project_id,
                request_key=key,
                run_id=run_id,
                title=request.title,
                images=[MediaAsset.model_validate(i) for i in images],
                narrations=[AudioAsset.model_validate(n) for n in narrations],
                fps=settings.fps,
                options=options,
            )
            location = spec_key(key, run_id)
            storage.put_bytes(location, spec.model_dump_json(indent=2).encode("utf-8"))
        return location

    @task
    def render(spec_location: str) -> dict[str, Any]:
        """``python -m pipeline.render --spec KEY`` as a local process (the pod runs the same entry point)."""
        from pipeline.render.runner import render_in_subprocess
        from video_factory.connections import render_environment
        from video_factory.errors import airflow_errors

        settings = load_settings()
        with airflow_errors():
            result = render_in_subprocess(
                spec_location,
                work_dir=settings.work_dir,
                timeout_s=settings.render_timeout_s,
                extra_env=render_environment(settings),
            )
        log.info("Rendered %s (%.2f s)", result.video_url, result.facts.duration_s)
        return result.model_dump(mode="json")

    @task
    def check(rendered: dict[str, Any]) -> dict[str, Any]:
        """ffprobe the stored file again (streams, size, duration, subtitle track, faststart); record the render."""
        from pipeline.models import RenderResult
        from pipeline.render import check_output, probe_output
        from video_factory.connections import storage, video_repository
        from video_factory.errors import airflow_errors

        _, run_id = _run()
        settings = load_settings()
        result = RenderResult.model_validate(rendered)
        with airflow_errors():
            path = storage(settings).local_path(result.video_key)
            facts = probe_output(path, ffprobe_bin=settings.ffprobe_bin)
            check_output(
                facts,
                width=result.facts.width,
                height=result.facts.height,
                expected_duration_s=result.expected_duration_s,
                subtitle_streams=1 if result.soft_subtitles else 0,
            )
            video_repository().save_render(result, dag_run_id=run_id)
        return rendered

    @task(outlets=[RENDERED_VIDEOS])
    def publish(checked: dict[str, Any]) -> dict[str, Any]:
        """Mark the render published and the project `completed`; announce the new video as an Asset event."""
        from pipeline.models import RenderResult
        from video_factory.connections import video_repository

        context = get_current_context()
        result = RenderResult.model_validate(checked)
        video_repository().publish(result.project_id, dag_run_id=context["run_id"])
        context["outlet_events"][RENDERED_VIDEOS].extra = {
            "project_id": result.project_id,
            "video_url": result.video_url,
        }
        return {"video_url": result.video_url, "duration_s": result.facts.duration_s}

    project_id = register()
    scenes = segment(project_id, script(project_id))
    spec_location = render_spec(project_id, media.expand(scene=scenes), voice.expand(scene=scenes))
    if SETTINGS.render_backend == "kubernetes":
        from video_factory.render_pod import render_pod_operator

        pod = render_pod_operator(SETTINGS, task_id="render", spec_key="{{ ti.xcom_pull(task_ids='render_spec') }}")
        spec_location >> pod
        rendered = pod.output
    else:
        rendered = render(spec_location)
    publish(check(rendered))


video_production()
