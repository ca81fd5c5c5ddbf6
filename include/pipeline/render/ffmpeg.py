"""Render a spec: preparation (soundtrack and stills), picture and encode (one pass), check, thumbnail, publish.

The preparation pass mixes and measures the soundtrack and decodes every still once, fitted to the frame, into
one Matroska file of raw frames, PCM and the subtitles; the encode reads that file as its only input (a clip is
one more). Every video frame is decoded from its source once and encoded once. All work happens in a scratch
folder; the results reach storage only after the ffprobe check, each by an atomic write.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import ffmpeg
from PIL import Image

from pipeline.commands import run_program
from pipeline.errors import RenderError
from pipeline.models import RenderResult, RenderSpec
from pipeline.render.audio import (
    AUDIO_BITRATES,
    AUDIO_RATE,
    Loudness,
    measured_soundtrack,
    normalise,
    parse_ebur128,
    soundtrack_channels,
)
from pipeline.render.probe import check_output, probe_output
from pipeline.render.spec import webvtt_key
from pipeline.render.subtitles import Cue, SubtitleStyle, cues_for_scene, to_ass, to_srt, to_vtt
from pipeline.render.thumbnail import thumbnail_from_still, thumbnail_from_video
from pipeline.render.timeline import Timeline, plan_timeline
from pipeline.render.video import picture, prepared_stills, write_fade_commands
from pipeline.storage.base import Storage

VIDEO_OPTIONS = {
    "vcodec": "libx264",
    "preset": "veryfast",
    "crf": 21,
    "pix_fmt": "yuv420p",
    # the colour description of the frames as they are made (video._cover): BT.709, limited range, in the stream
    "colorspace": "bt709",
    "color_primaries": "bt709",
    "color_trc": "bt709",
    "color_range": "tv",
}
PREPARED = "prepared.mkv"
SUBTITLES_SRT = "subtitles.srt"
SUBTITLES_VTT = "subtitles.vtt"
SUBTITLES_ASS = "subtitles.ass"
OUTPUT = "video.mp4"


def render_video(
    spec: RenderSpec,
    *,
    storage: Storage,
    work_dir: Path,
    ffmpeg_bin: str = "ffmpeg",
    ffprobe_bin: str = "ffprobe",
    timeout_s: float = 3600,
) -> RenderResult:
    """Render ``spec`` to a checked MP4, SRT and thumbnail in storage."""
    media = [storage.local_path(scene.media_key) for scene in spec.scenes]
    logo = storage.local_path(spec.logo.key) if spec.logo else None
    narrations = [storage.local_path(scene.audio_key) for scene in spec.scenes]
    music = storage.local_path(spec.music_key) if spec.music_key else None
    check_images(spec, media)
    timeline = plan_timeline(spec)
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="render-") as scratch_name:
        scratch = Path(scratch_name)

        def run(command: list[str]) -> str:
            return _run(command, cwd=scratch, timeout_s=timeout_s)

        style = SubtitleStyle.for_frame(spec.width, spec.height, spec.look.captions or "classic", spec.caption_look)
        cues = subtitle_cues(spec, timeline, style.max_line_chars(spec.width), style.words_per_line)
        # a video without words gets neither burned subtitles nor an empty track
        burn_subtitles, soft_subtitles = (
            spec.look.burn_subtitles and bool(cues),
            spec.look.soft_subtitles and bool(cues),
        )
        (scratch / SUBTITLES_SRT).write_text(to_srt(cues), encoding="utf-8")
        (scratch / SUBTITLES_VTT).write_text(to_vtt(cues), encoding="utf-8")
        (scratch / SUBTITLES_ASS).write_text(
            to_ass(cues, width=spec.width, height=spec.height, style=style), encoding="utf-8"
        )
        loudness = parse_ebur128(
            run(
                build_prepare_command(
                    spec,
                    timeline,
                    media=media,
                    narrations=narrations,
                    music=music,
                    scratch=scratch,
                    ffmpeg_bin=ffmpeg_bin,
                    soft_subtitles=soft_subtitles,
                )
            )
        )
        run(
            build_command(
                spec,
                timeline,
                media=media,
                scratch=scratch,
                ffmpeg_bin=ffmpeg_bin,
                loudness=loudness,
                burn_subtitles=burn_subtitles,
                soft_subtitles=soft_subtitles,
                logo=logo,
            )
        )

        output = scratch / OUTPUT
        facts = probe_output(output, ffprobe_bin=ffprobe_bin)
        check_output(
            facts,
            width=spec.width,
            height=spec.height,
            expected_duration_s=timeline.duration_s,
            subtitle_streams=1 if soft_subtitles else 0,
        )
        if spec.thumbnail_key:
            thumbnail = scratch / "thumbnail.jpg"
            if spec.scenes[0].media_kind == "image":
                size = (spec.width, spec.height)
                thumbnail_from_still(media[0], size=size, title=spec.title, dest=thumbnail)
            else:
                at = timeline.seconds(timeline.scene_frames[0]) / 2
                thumbnail_from_video(output, at_s=at, title=spec.title, dest=thumbnail, ffmpeg_bin=ffmpeg_bin)
            storage.put_file(spec.thumbnail_key, thumbnail)
        storage.put_file(spec.subtitles_key, scratch / SUBTITLES_SRT)
        storage.put_file(webvtt_key(spec.subtitles_key), scratch / SUBTITLES_VTT)
        storage.put_file(spec.output_key, output)
    return RenderResult(
        project_id=spec.project_id,
        video_key=spec.output_key,
        subtitles_key=spec.subtitles_key,
        video_url=storage.location(spec.output_key),  # stored, mailed, sent as XCom: no credential in it
        thumbnail_key=spec.thumbnail_key,
        facts=facts,
        expected_duration_s=timeline.duration_s,
        soft_subtitles=soft_subtitles,
        attempt=spec.attempt,
        language=spec.language,
    )


def check_images(spec: RenderSpec, media: list[Path]) -> None:
    """A truncated or corrupt still fails the render here, naming its scene, instead of a frame going missing."""
    for scene, path in zip(spec.scenes, media, strict=True):
        if scene.media_kind != "image":
            continue
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, SyntaxError, ValueError) as exc:
            raise RenderError(f"scene {scene.index + 1}: {scene.media_key} is not a readable image ({exc})") from None


def subtitle_cues(spec: RenderSpec, timeline: Timeline, max_line_chars: int, max_words: int = 0) -> list[Cue]:
    cues: list[Cue] = []
    for index, scene in enumerate(spec.scenes):
        offset = timeline.seconds(timeline.scene_start(index))
        end = offset + timeline.seconds(timeline.scene_frames[index])
        cues.extend(
            cues_for_scene(
                scene.words, offset_s=offset, scene_end_s=end, max_line_chars=max_line_chars, max_words=max_words
            )
        )
    return cues


def build_prepare_command(
    spec: RenderSpec,
    timeline: Timeline,
    *,
    media: list[Path],
    narrations: list[Path],
    music: Path | None,
    scratch: Path,
    ffmpeg_bin: str,
    soft_subtitles: bool,
) -> list[str]:
    """The preparation pass (run with ``cwd=scratch``; its stderr holds the loudness summary): the measured
    soundtrack as PCM, every still as one raw frame at its scene's start, and the soft subtitles, in ``PREPARED``.

    Raw frames cost disk (a 1080p frame is 3 MB) but nothing to read back: the encode holds no image decoder and
    no scaler, and with one input FFmpeg reads it without a queue of frames read ahead.
    """
    channels = soundtrack_channels(spec)
    streams = [
        measured_soundtrack(spec, timeline, narrations=narrations, music=music, channels=channels),
        prepared_stills(spec, timeline, media, scratch),
    ]
    options: dict[str, object] = {
        "acodec": "pcm_s16le",
        "ac": channels,
        "ar": AUDIO_RATE,
        "vcodec": "rawvideo",
        "fps_mode": "passthrough",  # one frame a still, at its own time
    }
    if soft_subtitles:
        streams.append(ffmpeg.input(SUBTITLES_SRT)["s"])
        options["scodec"] = "copy"
    stream = ffmpeg.output(*streams, PREPARED, **options).global_args(
        "-nostdin", "-hide_banner", "-loglevel", "info", "-nostats"
    )
    return list(ffmpeg.compile(stream, cmd=ffmpeg_bin, overwrite_output=True))


def build_command(
    spec: RenderSpec,
    timeline: Timeline,
    *,
    media: list[Path],
    scratch: Path,
    ffmpeg_bin: str,
    loudness: Loudness,
    burn_subtitles: bool,
    soft_subtitles: bool,
    logo: Path | None = None,
) -> list[str]:
    """The one encoding command (run with ``cwd=scratch``); the preparation pass must have written ``PREPARED``."""
    # a queue of one: with a clip as second input, FFmpeg reads each input in a thread of its own, ahead of need
    prepared = ffmpeg.input(PREPARED, thread_queue_size=1)
    if timeline.fades():
        write_fade_commands(timeline, scratch)
    clips = {path for scene, path in zip(spec.scenes, media, strict=True) if scene.media_kind == "video"}
    video = picture(spec, timeline, media, prepared.video, clip_sizes={path: picture_size(path) for path in clips})
    if burn_subtitles:
        video = video.filter("ass", SUBTITLES_ASS)
    if spec.logo is not None and logo is not None:
        video = watermarked(video, spec, logo, timeline)
    streams = [video, normalise(prepared.audio, spec, loudness)]
    channels = soundtrack_channels(spec)
    options: dict[str, object] = {
        **VIDEO_OPTIONS,
        "r": spec.fps,
        "frames:v": timeline.total_frames,
        "acodec": "aac",
        "aac_coder": "fast",  # half the CPU of the default two-loop search, same bitrate
        "audio_bitrate": AUDIO_BITRATES[channels],
        "ac": channels,
        "ar": AUDIO_RATE,
        "movflags": "+faststart",
        "metadata": f"title={spec.title}",
    }
    if soft_subtitles:
        streams.append(prepared["s"])
        options["c:s"] = "mov_text"
    stream = ffmpeg.output(*streams, OUTPUT, **options).global_args(
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-xerror",  # a decoding error fails the render
    )
    return list(ffmpeg.compile(stream, cmd=ffmpeg_bin, overwrite_output=True))


def picture_size(path: Path) -> tuple[int, int]:
    """A clip's width and height as ffprobe reads them (its first video stream)."""
    from pipeline.render.probe import ffprobe

    streams = ffprobe(path, ffprobe_bin="ffprobe", timeout_s=60).get("streams", [])
    found: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"), {})
    return int(found.get("width") or 0), int(found.get("height") or 0)


def watermarked(video: Any, spec: RenderSpec, logo: Path, timeline: Timeline) -> Any:
    """The channel's logo over every frame but the intro's and outro's (their cards show it large): one decoded
    frame (the overlay repeats it), scaled once, its alpha scaled by the opacity, in a corner inside the safe zone
    (on vertical video, above the platform's bottom fifth)."""
    assert spec.logo is not None
    width = max(16, round(spec.width * spec.logo.width) // 2 * 2)
    margin = round(min(spec.width, spec.height) * 0.04)
    bottom = round(spec.height * 0.2) if spec.height > spec.width else margin
    x = str(margin) if spec.logo.position.endswith("left") else f"W-w-{margin}"
    y = str(margin) if spec.logo.position.startswith("top") else f"H-h-{bottom}"
    mark = (
        ffmpeg.input(str(logo))
        .video.filter("scale", width, -2)
        .filter("format", "rgba")
        .filter("colorchannelmixer", aa=round(spec.logo.opacity, 3))
    )
    # on from the first frame a scene of the script is seen to the last (the logo's one frame is read at the
    # start, so `enable` is evaluated at the video's frames only)
    content = [index for index, scene in enumerate(spec.scenes) if scene.bumper is None]
    if not content:
        return ffmpeg.overlay(video, mark, x=x, y=y, format="yuv420")
    first, last = timeline.on_screen(content[0])[0], timeline.on_screen(content[-1])[1]
    if first == 0 and last == timeline.total_frames:
        return ffmpeg.overlay(video, mark, x=x, y=y, format="yuv420")
    half = timeline.seconds(1) / 2
    shown = f"between(t,{timeline.seconds(first) - half:.6f},{timeline.seconds(last) - half:.6f})"
    return ffmpeg.overlay(video, mark, x=x, y=y, format="yuv420", enable=shown)


def _run(command: list[str], *, cwd: Path, timeout_s: float) -> str:
    return run_program(command, error=RenderError, timeout_s=timeout_s, cwd=cwd).stderr
