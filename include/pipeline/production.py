"""The steps of one video's production as plain functions; the DAG's tasks call them and pass their results on.

Every decision about a request is made once, in ``plan_job`` (called by ``register``): whether the script is
given or generated, which providers make the images and the voice, where the music is. The ``Job`` it returns
carries those decisions to every later task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from pipeline.channels import BrandKit, apply_channel
from pipeline.config import Settings
from pipeline.constants import MediaSourceId, ScriptSource
from pipeline.errors import InvalidRequest
from pipeline.models import (
    AudioAsset,
    CardLook,
    Frozen,
    LibraryPick,
    MediaAsset,
    RenderResult,
    RenderSpec,
    Scene,
)
from pipeline.render.probe import check_output
from pipeline.render.spec import build_render_spec, music_key, spec_key
from pipeline.request import VideoRequest
from pipeline.scriptgen.base import Script
from pipeline.storage.base import Storage

if TYPE_CHECKING:
    from pipeline.db import VideoRepository
    from pipeline.library import LibraryItem
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
    media_sources: tuple[str, ...] = ()
    brand: BrandKit | None = None  # the channel's kit: logo, intro and outro, card colours
    versions: dict[str, str] = Field(default_factory=dict, description="Each other language and its voice.")

    @property
    def languages(self) -> tuple[str, ...]:
        """Every version's language: "" (the script's own) first."""
        return ("", *self.versions)


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
    check_media_source: Callable[[str], object] = lambda name: None,
    channel_kit: Callable[[str], BrandKit | None] = lambda name: None,
    tracks_of_mood: Callable[[str], Sequence[str]] = lambda mood: (),
    voice_for: Callable[[str, str], str | None] = lambda provider, language: None,
    check_translator: Callable[[str], object] = lambda name: None,
) -> Job:
    """Decide how ``request`` is made, or raise ``InvalidRequest`` naming every problem in one line.

    ``voices(name)`` lists the voices of voice provider ``name``; the ``check_*`` callables open a provider or a
    media source (raising when its credentials are missing), so a request fails here, before any paid call.
    """
    problems = []
    kit = None
    if request.channel:
        kit = channel_kit(request.channel)
        if kit is None:
            raise InvalidRequest(
                f"request {request.key!r} cannot be made: unknown channel {request.channel!r}: "
                "choose one of videoctl channel list, or leave Channel empty"
            )
        request = apply_channel(request, kit)
    request = with_defaults(request)
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
    if request.voice_name.lower() not in known:
        examples = ", ".join(sorted(known, key=lambda v: (not v.startswith("en"), v))[:6])
        problems.append(f"unknown voice {request.voice_name!r} for {voice}: choose one such as {examples}")
    request = _music_by_mood(request, tracks_of_mood, problems)
    versions = _versions(request, voice, settings=settings, voice_for=voice_for, problems=problems)
    try:
        music = music_key(request.look.music, storage)
    except InvalidRequest as exc:
        problems.append(f"{exc.message}: add it (videoctl music add, the Videos page), or leave Background music empty")
        music = None
    if problems:
        raise InvalidRequest(f"request {request.key!r} cannot be made: " + "; ".join(problems))
    sources = request.media_sources if request.media_sources is not None else defaults.default_media_sources
    check_image_provider(image)
    if set(versions) - set(request.translated_scripts or {}):
        check_translator(settings.providers.translator)
    for source in sources:
        check_media_source(source)
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
        media_sources=tuple(sources),
        brand=kit,
        versions=versions,
    )


def _music_by_mood(
    request: VideoRequest, tracks_of_mood: Callable[[str], Sequence[str]], problems: list[str]
) -> VideoRequest:
    """The request with a track of its mood as its music, when it names a mood and no track."""
    if request.look.music is not None or not request.look.music_mood:
        return request
    tracks = sorted(tracks_of_mood(request.look.music_mood))
    if not tracks:
        problems.append(
            f"no track of mood {request.look.music_mood!r} in the music library: add one "
            "(videoctl music add --mood), or leave Music mood empty"
        )
        return request
    pick = tracks[int(hashlib.sha256(request.key.encode()).hexdigest(), 16) % len(tracks)]  # the same one each time
    return request.model_copy(update={"look": request.look.model_copy(update={"music": pick})})


def _versions(
    request: VideoRequest,
    provider: str,
    *,
    settings: Settings,
    voice_for: Callable[[str, str], str | None],
    problems: list[str],
) -> dict[str, str]:
    """Each other language the request asks for, and the voice of ``provider`` that speaks it."""
    versions: dict[str, str] = {}
    given = request.translated_scripts or {}
    for language in request.translations or ():
        if language not in given and not settings.providers.translator:
            problems.append(
                f"it asks for {language} but no translator is configured: set VIDEO_TRANSLATOR=gemini "
                "(with the gemini_default connection), or leave Also in empty"
            )
            break
        spoken = voice_for(provider, language)
        if spoken is None:
            problems.append(f"{provider} has no voice that speaks {language}: choose another language or provider")
        else:
            versions[language] = spoken
    return versions


def with_defaults(request: VideoRequest) -> VideoRequest:
    """The request with the factory's defaults where it and its channel left a field empty (voice, captions)."""
    look = request.look
    if look.captions is None:
        look = look.model_copy(update={"captions": "classic"})
    return request.model_copy(update={"voice": request.voice_name, "look": look})


def scenes_of(job: Job, texts: Sequence[SceneText]) -> list[Scene]:
    """The scenes the media and voice tasks are mapped over, with everything each one needs."""
    width, height = job.request.frame_size
    card = CardLook(  # the same for every scene of the video
        palette=job.brand.palette if job.brand else None,
        font=job.brand.card_font if job.brand else None,
        caption_band=caption_band(job, width, height),
    )
    return [
        Scene(
            project_id=job.project_id,
            index=text.index,
            text=text.text,
            keywords=text.keywords,
            visual_prompt=text.visual_prompt,
            width=width,
            height=height,
            voice=job.request.voice_name,
            title=job.request.title,
            image_provider=job.image_provider,
            voice_provider=job.voice_provider,
            media_sources=job.media_sources,
            card=card,
        )
        for text in texts
    ]


def caption_band(job: Job, width: int, height: int) -> tuple[int, int] | None:
    """The rows the video's burned captions may cover, when not the classic preset's (title cards keep their text
    clear of them); None for the classic preset or no burned captions."""
    from pipeline.render.frame import subtitle_band
    from pipeline.render.subtitles import SubtitleStyle

    look = job.request.look
    caption_look = job.brand.caption_look if job.brand else None
    if not look.burn_subtitles or ((look.captions or "classic") == "classic" and caption_look is None):
        return None
    style = SubtitleStyle.for_frame(width, height, look.captions or "classic", caption_look)
    return subtitle_band(width, height, style)


def looks_in_library(scenes: Sequence[Scene]) -> bool:
    """Whether the video's media sources name the team's library (the same for all its scenes)."""
    return bool(scenes) and MediaSourceId.LIBRARY in scenes[0].media_sources


def with_library_picks(scenes: Sequence[Scene], items: Sequence[LibraryItem]) -> list[Scene]:
    """The scenes, each with the library item that fits it best (none twice while another fits), when the job
    looks in the library; the media tasks then need no library lookup of their own."""
    from pipeline.library import pick_items

    if not looks_in_library(scenes) or not items:
        return list(scenes)
    picks = pick_items([(scene.keywords, scene.visual_prompt) for scene in scenes], items)
    return [
        scene
        if pick is None
        else scene.model_copy(
            update={
                "library_pick": LibraryPick(
                    name=pick.name, storage_key=pick.storage_key, kind=pick.kind, licence=pick.licence
                )
            }
        )
        for scene, pick in zip(scenes, picks, strict=True)
    ]


def render_spec_of(
    job: Job,
    images: Sequence[MediaAsset],
    narrations: Sequence[AudioAsset],
    *,
    fps: int,
    language: str = "",
    title: str | None = None,
) -> RenderSpec:
    """The render spec of one version: each scene's image and its narration in ``language`` in order, with the
    request's look and sound."""
    return build_render_spec(
        project_id=job.project_id,
        request_key=job.request.key,
        run_id=job.run_id,
        title=title or job.request.title,
        images=images,
        narrations=sorted(
            (narration for narration in narrations if narration.language == language), key=lambda n: n.scene_index
        ),
        fps=fps,
        look=job.request.look,
        music_key=job.music_key,
        language=language,
    )


def store_render_spec(spec: RenderSpec, job: Job, storage: Storage) -> str:
    """Write the spec where the render entry point reads it; returns its storage key."""
    location = spec_key(job.request.key, job.run_id, spec.language)
    storage.put_bytes(location, spec.model_dump_json(indent=2).encode("utf-8"))
    return location


def given_translation(script: str, scenes: int, language: str, settings: Settings) -> tuple[str, ...]:
    """A requester's own translation split into the script's scenes (as the segmenter splits the script), or
    ``InvalidRequest`` when it splits into another number of scenes."""
    from pipeline.segment import segment_script

    texts = segment_script(script, max_words=settings.max_scene_words, max_scenes=settings.max_scenes)
    if len(texts) != scenes:
        raise InvalidRequest(
            f"translated_scripts.{language} splits into {len(texts)} scenes, the script into {scenes}: give it "
            "the same paragraphs (a blank line between scenes)"
        )
    return tuple(text.text for text in texts)


class Version(Frozen):
    """One language version of a video: the script's own (``language`` "": its scenes as they are) or a
    translation (a title, a voice of that language, one text per scene). Pictures are not part of it: every
    version shows the scenes' one picture."""

    language: str = ""
    title: str
    voice: str = ""
    texts: tuple[str, ...] = ()


def versions_of(job: Job, translations: dict[str, tuple[str, Sequence[str]]]) -> list[Version]:
    """Every version of the video: the script's own, then each language's (``translations``: language -> (title,
    one text per scene)), spoken by that language's voice."""
    translated = [
        Version(language=language, title=title, voice=job.versions[language], texts=tuple(texts))
        for language, (title, texts) in translations.items()
    ]
    return [Version(title=job.request.title), *translated]


def narrated(scene: Scene, version: Version) -> Scene:
    """The scene as ``version`` narrates it: its text in that language, read by that language's voice."""
    if not version.language:
        return scene
    if scene.index >= len(version.texts):
        raise InvalidRequest(f"the {version.language} version has {len(version.texts)} scenes, not {scene.index + 1}")
    update = {"text": version.texts[scene.index], "title": version.title, "voice": version.voice}
    return scene.model_copy(update={**update, "language": version.language})


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
