"""Build the render spec from a project's scene assets, and where it and its outputs are stored."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.errors import InvalidRequest, RenderError
from pipeline.models import AudioAsset, MediaAsset, RenderScene, RenderSpec
from pipeline.names import safe_name
from pipeline.request import LookAndSound
from pipeline.storage.base import Storage


def spec_key(request_key: str, run_id: str, language: str = "") -> str:
    name = f"spec.{safe_name(language)}.json" if language else "spec.json"
    return f"renders/{safe_name(request_key)}/{safe_name(run_id)}/{name}"


def output_keys(request_key: str, run_id: str, language: str = "") -> tuple[str, str, str]:
    """(video, subtitles, thumbnail): one set per run and version, so every render attempt of a request is kept."""
    base = f"videos/{safe_name(request_key)}/{safe_name(run_id)}" + (f".{safe_name(language)}" if language else "")
    return f"{base}.mp4", f"{base}.srt", f"{base}.jpg"


def webvtt_key(subtitles_key: str) -> str:
    """The WebVTT file beside a render's SRT (``videos/r/run.srt`` -> ``videos/r/run.vtt``)."""
    stem, dot, _ = subtitles_key.rpartition(".")
    return f"{stem}.vtt" if dot else f"{subtitles_key}.vtt"


def music_key(name: str | None, storage: Storage) -> str | None:
    """The storage key of music track ``name`` from the music folder; None for no music."""
    if not name:
        return None
    key = f"music/{name}"
    if not storage.exists(key):
        raise InvalidRequest(f"there is no music track {name!r} in the music folder (storage key {key})")
    return key


def build_render_spec(
    *,
    project_id: int,
    request_key: str,
    run_id: str,
    title: str,
    images: Sequence[MediaAsset],
    narrations: Sequence[AudioAsset],
    fps: int = 30,
    look: LookAndSound | None = None,
    music_key: str | None = None,
    language: str = "",
) -> RenderSpec:
    """Pair each scene's image with its narration (of ``language``'s version), in scene order."""
    by_scene_image = {asset.scene_index: asset for asset in images}
    by_scene_audio = {asset.scene_index: asset for asset in narrations}
    if set(by_scene_image) != set(by_scene_audio) or not by_scene_image:
        raise RenderError(
            f"scenes with images {sorted(by_scene_image)} do not match scenes with narration {sorted(by_scene_audio)}"
        )
    first = next(iter(by_scene_image.values()))
    video_key, subtitles_key, thumbnail_key = output_keys(request_key, run_id, language)
    return RenderSpec(
        project_id=project_id,
        title=title,
        width=first.width,
        height=first.height,
        fps=fps,
        scenes=tuple(
            RenderScene(
                index=index,
                media_key=by_scene_image[index].storage_key,
                media_kind=by_scene_image[index].kind,
                audio_key=by_scene_audio[index].storage_key,
                audio_duration_s=by_scene_audio[index].duration_s,
                words=by_scene_audio[index].words,
            )
            for index in sorted(by_scene_image)
        ),
        output_key=video_key,
        subtitles_key=subtitles_key,
        thumbnail_key=thumbnail_key,
        look=look or LookAndSound(),
        music_key=music_key,
        language=language,
    )
