"""Facts about a rendered file from ffprobe, and the check every video passes before it is published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.commands import run_program, stderr_tail
from pipeline.errors import OutputCheckFailed, RenderError
from pipeline.models import OutputFacts

DURATION_TOLERANCE_S = 0.5


def ffprobe(path: Path, *, ffprobe_bin: str = "ffprobe", timeout_s: float = 120) -> dict[str, Any]:
    """ffprobe's streams and format of a file as JSON; ``OutputCheckFailed`` when ffprobe cannot read it."""
    completed = run_program(
        [ffprobe_bin, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        error=RenderError,
        timeout_s=timeout_s,
        check=False,
    )
    try:
        data = json.loads(completed.stdout) if completed.returncode == 0 else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise OutputCheckFailed(f"ffprobe cannot read {path.name}: {stderr_tail(completed.stderr)}")
    return data


def probe_output(path: Path, *, ffprobe_bin: str = "ffprobe") -> OutputFacts:
    data = ffprobe(path, ffprobe_bin=ffprobe_bin)
    streams = data.get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video"]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    subtitles = [s for s in streams if s.get("codec_type") == "subtitle"]
    return OutputFacts(
        duration_s=float(data.get("format", {}).get("duration", 0.0)),
        width=int(video[0].get("width", 0)) if video else 0,
        height=int(video[0].get("height", 0)) if video else 0,
        video_codec=video[0].get("codec_name", "") if video else "",
        audio_codec=audio[0].get("codec_name", "") if audio else "",
        video_streams=len(video),
        audio_streams=len(audio),
        subtitle_streams=len(subtitles),
        size_bytes=path.stat().st_size,
        faststart=moov_before_mdat(path),
    )


def check_output(
    facts: OutputFacts,
    *,
    width: int,
    height: int,
    expected_duration_s: float,
    subtitle_streams: int = 0,
    tolerance_s: float = DURATION_TOLERANCE_S,
) -> None:
    """Raise ``OutputCheckFailed`` naming every way the file differs from what was asked for."""
    problems = []
    if facts.video_streams != 1 or facts.video_codec != "h264":
        problems.append(f"expected one H.264 video stream, got {facts.video_streams} ({facts.video_codec!r})")
    if facts.audio_streams != 1 or facts.audio_codec != "aac":
        problems.append(f"expected one AAC audio stream, got {facts.audio_streams} ({facts.audio_codec!r})")
    if facts.subtitle_streams != subtitle_streams:
        problems.append(f"expected {subtitle_streams} subtitle track(s), got {facts.subtitle_streams}")
    if (facts.width, facts.height) != (width, height):
        problems.append(f"expected {width}x{height}, got {facts.width}x{facts.height}")
    if abs(facts.duration_s - expected_duration_s) > tolerance_s:
        problems.append(
            f"duration {facts.duration_s:.2f}s is not within {tolerance_s}s of the narration "
            f"({expected_duration_s:.2f}s)"
        )
    if not facts.faststart:
        problems.append("the moov atom is not at the front (+faststart missing): browsers cannot stream it")
    if problems:
        raise OutputCheckFailed("rendered video failed its check: " + "; ".join(problems))


def moov_before_mdat(path: Path) -> bool:
    """True when the MP4's index (moov) precedes its media data, so playback can start while downloading."""
    with path.open("rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                size = int.from_bytes(handle.read(8), "big") - 8
            elif size == 0:
                return False
            handle.seek(size - 8, 1)
    return False
