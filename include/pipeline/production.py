"""The steps of one video's production as plain functions; the DAG's tasks call them and pass their results on.

Every decision about a request is made once, in ``plan_job`` (called by ``register``): whether the script is
given or generated, which providers make the images and the voice, where the music is. The ``Job`` it returns
carries those decisions to every later task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from pipeline.config import Settings
from pipeline.constants import ScriptSource
from pipeline.errors import InvalidRequest
from pipeline.models import AudioAsset, Frozen, MediaAsset, RenderResult, RenderSpec, Scene
from pipeline.render.probe import check_output
from pipeline.render.spec import build_render_spec, music_key, spec_key
from pipeline.request import VideoRequest
from pipeline.scriptgen.base import Script
from pipeline.storage.base import Storage

if TYPE_CHECKING:
    from pipeline.db import VideoRepository
    from pipeline.segment import SceneText

GIVEN = ScriptSource.GIVEN.value


class Job(Frozen):
    """A request being produced, with what ``register`` decided for it."""

    project_id: int
    run_id: str
    request: VideoRequest
    script_source: str = Field(description='"given", or the generator that writes the script from the topic.')
    image_provider: str
    voice_provider: str
    music_key: str | None = None


def plan_job(
    request: VideoRequest,
    *,
    project_id: int,
    run_id: str,
    settings: Settings,
    storage: Storage,
    voices: Callable[[str], frozenset[str]],
    check_image_provider: Callable[[str], object],
    check_script_provider: Callable[[str], object],
) -> Job:
    """Decide how ``request`` is made, or raise ``InvalidRequest`` naming every problem in one line.

    ``voices(name)`` lists the voices of voice provider ``name``; the ``check_*`` callables open a provider
    (raising when its credentials are missing), so a request fails here, before any paid call.
    """
    problems = []
    defaults = settings.providers  # what a request that does not choose gets
    image = request.image_provider or defaults.image_provider
    voice = request.voice_provider or defaults.voice_provider
    script_source = GIVEN if request.has_script else defaults.script_provider
    if not request.has_script and not (request.topic or "").strip():
        problems.append("give a script, or a topic to generate one from")
    elif script_source == GIVEN and not request.has_script:
        problems.append(
            "it has a topic but no script, and no script generator is configured: "
            "add a script, or configure one (VIDEO_SCRIPT_PROVIDER=gemini)"
        )
    known = voices(voice)
    if request.voice.lower() not in known:
        examples = ", ".join(sorted(known, key=lambda v: (not v.startswith("en"), v))[:6])
        problems.append(f"unknown voice {request.voice!r} for {voice}: choose one such as {examples}")
    try:
        music = music_key(request.look.music, storage)
    except InvalidRequest as exc:
        problems.append(f"{exc.message}: add it (videoctl music add, the Videos page), or leave Background music empty")
        music = None
    if problems:
        raise InvalidRequest(f"request {request.key!r} cannot be made: " + "; ".join(problems))
    check_image_provider(image)
    if script_source != GIVEN:
        check_script_provider(script_source)
    return Job(
        project_id=project_id,
        run_id=run_id,
        request=request,
        script_source=script_source,
        image_provider=image,
        voice_provider=voice,
        music_key=music,
    )


def scenes_of(job: Job, texts: Sequence[SceneText]) -> list[Scene]:
    """The scenes the media and voice tasks are mapped over, with everything each one needs."""
    width, height = job.request.frame_size
    return [
        Scene(
            project_id=job.project_id,
            index=text.index,
            text=text.text,
            keywords=text.keywords,
            visual_prompt=text.visual_prompt,
            width=width,
            height=height,
            voice=job.request.voice,
            title=job.request.title,
            image_provider=job.image_provider,
            voice_provider=job.voice_provider,
        )
        for text in texts
    ]


def render_spec_of(job: Job, images: Sequence[MediaAsset], narrations: Sequence[AudioAsset], *, fps: int) -> RenderSpec:
    """The render spec: each scene's image and narration in order, with the request's look and sound."""
    return build_render_spec(
        project_id=job.project_id,
        request_key=job.request.key,
        run_id=job.run_id,
        title=job.request.title,
        images=images,
        narrations=narrations,
        fps=fps,
        look=job.request.look,
        music_key=job.music_key,
    )


def store_render_spec(spec: RenderSpec, job: Job, storage: Storage) -> str:
    """Write the spec where the render entry point reads it; returns its storage key."""
    location = spec_key(job.request.key, job.run_id)
    storage.put_bytes(location, spec.model_dump_json(indent=2).encode("utf-8"))
    return location


def check_render(job: Job, result: RenderResult) -> None:
    """The facts the render measured, held to what the request asked for (the file is not read again)."""
    width, height = job.request.frame_size
    check_output(
        result.facts,
        width=width,
        height=height,
        expected_duration_s=result.expected_duration_s,
        subtitle_streams=1 if result.soft_subtitles else 0,
    )


class ReviewAnswer(Frozen):
    """An editor's answer to the script review (the DAG layer reads it from Airflow's human-in-the-loop task)."""

    asked: bool = True  # False: the request did not ask for a review
    decision: Literal["approve", "edit", "reject"] = "approve"
    editor: str | None = None  # None on a rejection: nobody answered in time
    script: str = ""  # the edited script, with "edit"
    reason: str = ""  # why, with "reject"


class Reviewed(Frozen):
    """The scenes the review let through, or the reason it rejected the script; ``note`` says what happened."""

    scenes: list[Scene]
    rejected: str | None = None
    note: str = ""


def review_scenes(
    job: Job,
    written: Script,
    drafted: Sequence[Scene],
    answer: ReviewAnswer,
    *,
    repository: VideoRepository,
    settings: Settings,
) -> Reviewed:
    """The scenes as drafted, split again from the edited script, or none: a rejected project ends ``rejected``
    (the caller skips the rest of the run, so nothing is paid for)."""
    from pipeline.segment import segment_script

    if not answer.asked:
        return Reviewed(scenes=list(drafted))
    repository.set_reviewing(job.project_id, dag_run_id=job.run_id, waiting=False)
    if answer.decision == "reject":
        if answer.editor is None:
            reason = f"no review within {settings.batch.review_timeout_s / 3600:g} h"
        else:
            reason = f"rejected in review by {answer.editor}: {answer.reason.strip() or 'no reason given'}"
        repository.reject(job.project_id, dag_run_id=job.run_id, reason=reason)
        return Reviewed(scenes=[], rejected=reason, note=reason)
    edited = answer.script.strip()
    if answer.decision != "edit" or not edited or edited == written.body.strip():
        return Reviewed(scenes=list(drafted), note=f"Script approved by {answer.editor} as it was")
    text = Script(body=edited, source=ScriptSource.REVIEW.value, model=f"edited by {answer.editor}")
    texts = segment_script(text.body, max_words=settings.max_scene_words, max_scenes=settings.max_scenes)
    repository.save_script(job.project_id, script=text)
    repository.save_scenes(job.project_id, texts)
    note = f"Script edited by {answer.editor}: split again into {len(texts)} scenes"
    return Reviewed(scenes=scenes_of(job, texts), note=note)
