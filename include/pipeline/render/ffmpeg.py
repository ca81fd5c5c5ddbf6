"""The FFmpeg graph: every image decoded once, every scene exactly as long as its narration, one encode."""

from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import ffmpeg

from pipeline.errors import RenderError
from pipeline.models import RenderResult, RenderSpec
from pipeline.render.probe import check_output, probe_output
from pipeline.render.subtitles import cues_for_scene, to_srt
from pipeline.storage.base import Storage

AUDIO_RATE = 48_000


def scene_frames(duration_s: float, fps: int) -> int:
    """Frames that hold all of the narration: the scene lasts exactly this many frames."""
    return max(1, math.ceil(duration_s * fps - 1e-6))


def render_video(
    spec: RenderSpec,
    *,
    storage: Storage,
    work_dir: Path,
    ffmpeg_bin: str = "ffmpeg",
    ffprobe_bin: str = "ffprobe",
    timeout_s: float = 3600,
) -> RenderResult:
    """Render ``spec`` to a checked MP4 and SRT in storage (written to temporary files, then moved in)."""
    images = [storage.local_path(scene.image_key) for scene in spec.scenes]
    narrations = [storage.local_path(scene.audio_key) for scene in spec.scenes]
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="render-") as scratch:
        output = Path(scratch) / "video.mp4"
        subtitles = Path(scratch) / "video.srt"
        subtitles.write_text(srt_for(spec), encoding="utf-8")
        command = build_command(spec, images=images, narrations=narrations, output=output, ffmpeg_bin=ffmpeg_bin)
        _run(command, timeout_s=timeout_s)
        expected = sum(scene_frames(s.audio_duration_s, spec.fps) for s in spec.scenes) / spec.fps
        facts = probe_output(output, ffprobe_bin=ffprobe_bin)
        check_output(facts, width=spec.width, height=spec.height, expected_duration_s=expected)
        storage.put_file(spec.subtitles_key, subtitles)
        storage.put_file(spec.output_key, output)
    return RenderResult(
        project_id=spec.project_id,
        video_key=spec.output_key,
        subtitles_key=spec.subtitles_key,
        video_url=storage.url(spec.output_key),
        facts=facts,
        expected_duration_s=expected,
    )


def srt_for(spec: RenderSpec) -> str:
    cues = []
    offset = 0.0
    for scene in spec.scenes:
        length = scene_frames(scene.audio_duration_s, spec.fps) / spec.fps
        cues.extend(cues_for_scene(scene.words, offset_s=offset, scene_end_s=offset + length))
        offset += length
    return to_srt(cues)


def build_command(
    spec: RenderSpec, *, images: list[Path], narrations: list[Path], output: Path, ffmpeg_bin: str
) -> list[str]:
    """The ffmpeg command line for ``spec`` (no shell: paths and text are plain arguments)."""
    parts = []
    for scene, image, narration in zip(spec.scenes, images, narrations, strict=True):
        frames = scene_frames(scene.audio_duration_s, spec.fps)
        length = frames / spec.fps
        # A still is one input frame: scale it once, then repeat that frame instead of decoding it again.
        video = (
            ffmpeg.input(str(image))
            .video.filter("scale", spec.width, spec.height, force_original_aspect_ratio="increase")
            .filter("crop", spec.width, spec.height)
            .filter("setsar", 1)
            .filter("format", "yuv420p")
            .filter("loop", loop=frames - 1, size=1, start=0)
            .filter("setpts", f"N/({spec.fps}*TB)")
        )
        audio = (
            ffmpeg.input(str(narration))
            .audio.filter("aresample", AUDIO_RATE)
            .filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
            .filter("apad", whole_dur=f"{length:.6f}")
            .filter("atrim", end=f"{length:.6f}")
            .filter("asetpts", "N/SR/TB")
        )
        parts.extend([video, audio])
    joined = ffmpeg.concat(*parts, v=1, a=1).node
    stream = ffmpeg.output(
        joined[0],
        joined[1],
        str(output),
        vcodec="libx264",
        preset="veryfast",
        crf=21,
        pix_fmt="yuv420p",
        r=spec.fps,
        acodec="aac",
        audio_bitrate="160k",
        ar=AUDIO_RATE,
        movflags="+faststart",
        metadata=f"title={spec.title}",
    ).global_args("-nostdin", "-hide_banner", "-loglevel", "error")
    return list(ffmpeg.compile(stream, cmd=ffmpeg_bin, overwrite_output=True))


def _run(command: list[str], *, timeout_s: float) -> None:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout_s)
    except FileNotFoundError:
        raise RenderError(f"{command[0]} is not installed (apt-get install ffmpeg)") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"ffmpeg did not finish within {timeout_s:.0f}s", retryable=True) from None
    if completed.returncode != 0:
        # Killed by a signal (OOM, eviction) may succeed on retry; an error exit from ffmpeg will not.
        retryable = completed.returncode < 0
        detail = completed.stderr.strip()[-1500:] or f"exit status {completed.returncode}"
        raise RenderError(f"ffmpeg failed: {detail}", retryable=retryable)
