"""The soundtrack, mixed before the video pass: audio-only work, cheap next to the picture.

Narration of each scene padded to the scene's exact length; optional music looped or trimmed to the video,
faded, and ducked under the voice (sidechain compression); then loudness-normalised in two passes (measure,
then apply linearly) to the target integrated loudness and true peak.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ffmpeg

from pipeline.errors import RenderError
from pipeline.models import RenderSpec
from pipeline.render.timeline import Timeline

AUDIO_RATE = 48_000
MUSIC_FADE_IN_S = 2.0
MUSIC_FADE_OUT_S = 3.0
Runner = Callable[[list[str]], str]  # runs an ffmpeg command, returns its stderr


def mix_soundtrack(
    spec: RenderSpec,
    timeline: Timeline,
    *,
    narrations: list[Path],
    music: Path | None,
    output: Path,
    ffmpeg_bin: str,
    run: Runner,
) -> None:
    """Write the finished soundtrack (48 kHz stereo WAV, exactly the video's length) to ``output``."""
    if spec.loudness_lufs is None:
        run(_compile(_graph(spec, timeline, narrations, music), str(output), ffmpeg_bin, acodec="pcm_s16le"))
        return
    target = {"I": spec.loudness_lufs, "TP": spec.true_peak_db, "LRA": 11}
    measure = _graph(spec, timeline, narrations, music).filter("loudnorm", print_format="json", **target)
    measured = parse_loudnorm(run(_compile(measure, "-", ffmpeg_bin, format="null")))
    apply = (
        _graph(spec, timeline, narrations, music)
        .filter(
            "loudnorm",
            linear="true",
            measured_I=measured["input_i"],
            measured_TP=measured["input_tp"],
            measured_LRA=measured["input_lra"],
            measured_thresh=measured["input_thresh"],
            offset=measured["target_offset"],
            **target,
        )
        .filter("aresample", AUDIO_RATE)  # loudnorm works at 192 kHz
        .filter("atrim", end_sample=_samples(timeline))
    )
    run(_compile(apply, str(output), ffmpeg_bin, acodec="pcm_s16le"))


def parse_loudnorm(stderr: str) -> dict[str, str]:
    """The JSON block loudnorm prints at the end of its measuring pass."""
    match = re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", stderr)
    if match is None:
        raise RenderError(f"loudness measurement printed no result: {stderr[-500:]}")
    values: dict[str, str] = json.loads(match.group(0))
    if values["input_i"] in ("-inf", "inf"):  # silence: nothing to normalise, keep the level
        values.update(input_i="-70", input_tp="-70", input_lra="0", input_thresh="-80", target_offset="0")
    return values


def _graph(spec: RenderSpec, timeline: Timeline, narrations: list[Path], music: Path | None) -> Any:
    parts = []
    for frames, path in zip(timeline.scene_frames, narrations, strict=True):
        length = f"{timeline.seconds(frames):.6f}"
        parts.append(
            ffmpeg.input(str(path))
            .audio.filter("aresample", AUDIO_RATE)
            .filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
            .filter("apad", whole_dur=length)
            .filter("atrim", end=length)
            .filter("asetpts", "N/SR/TB")
        )
    voice = ffmpeg.concat(*parts, v=0, a=1) if len(parts) > 1 else parts[0]
    if music is None:
        return voice
    total = timeline.duration_s
    fade_in, fade_out = min(MUSIC_FADE_IN_S, total / 4), min(MUSIC_FADE_OUT_S, total / 4)
    bed = (
        ffmpeg.input(str(music), stream_loop=-1)
        .audio.filter("aresample", AUDIO_RATE)
        .filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
        .filter("atrim", end=f"{total:.6f}")
        .filter("asetpts", "N/SR/TB")
        .filter("volume", spec.music_volume)
        .filter("afade", t="in", d=fade_in)
        .filter("afade", t="out", st=total - fade_out, d=fade_out)
    )
    split = voice.filter_multi_output("asplit", 2)
    voice_main, voice_key = split.stream(0), split.stream(1)
    ducked = ffmpeg.filter([bed, voice_key], "sidechaincompress", threshold=0.02, ratio=8, attack=20, release=400)
    return ffmpeg.filter([voice_main, ducked], "amix", inputs=2, duration="first", normalize=0)


def _samples(timeline: Timeline) -> int:
    return round(timeline.duration_s * AUDIO_RATE)


def _compile(stream: Any, target: str, ffmpeg_bin: str, **options: Any) -> list[str]:
    out = ffmpeg.output(stream, target, ar=AUDIO_RATE, ac=2, **options).global_args(
        "-nostdin", "-hide_banner", "-loglevel", "info", "-nostats"
    )
    return list(ffmpeg.compile(out, cmd=ffmpeg_bin, overwrite_output=True))
