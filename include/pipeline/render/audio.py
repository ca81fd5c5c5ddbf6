"""The soundtrack, mixed in the preparation pass before the video pass: cheap next to the picture.

Narration of each scene padded to the scene's exact length; optional music looped or trimmed to the video,
faded, and ducked under the voice (sidechain compression). With music the soundtrack is stereo; narration alone
is one voice, so it stays mono (half the AAC encoding work, and two speakers play exactly what a stereo copy of it
would play: it is measured as dual mono, so it gets the same gain). The mix is measured (EBU R128) while it is written;
the video pass then applies one gain to the target integrated loudness, with a limiter under the true-peak
ceiling.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from pipeline.errors import RenderError
from pipeline.models import RenderSpec
from pipeline.render.timeline import Timeline

AUDIO_RATE = 48_000
MUSIC_FADE_IN_S = 2.0
MUSIC_FADE_OUT_S = 3.0
AUDIO_BITRATES = {1: "96k", 2: "160k"}  # by channel count
SILENCE_LUFS = -69.0  # ebur128 reports -70 LUFS for silence
TRUE_PEAK_MARGIN_DB = 0.5


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurement of the mixed soundtrack (ffmpeg's ebur128 filter)."""

    integrated: float
    threshold: float
    lra: float


def soundtrack_channels(spec: RenderSpec) -> int:
    """2 when music is mixed in, else 1: narration is a single voice."""
    return 1 if spec.music_key is None else 2


def measured_soundtrack(
    spec: RenderSpec, timeline: Timeline, *, narrations: list[Path], music: Path | None, channels: int
) -> Any:
    """The soundtrack (48 kHz, ``channels`` channels, exactly the video's length), measured by ebur128 as it
    passes: the preparation pass prints the summary that ``parse_ebur128`` reads."""
    # integrated loudness only (per-frame lines only at verbose): the limiter of the video pass keeps the peaks;
    # mono is measured as played on two speakers (dual mono), as its stereo copy would be
    return _graph(spec, timeline, narrations, music, channels).filter(
        "ebur128", framelog="verbose", dualmono=channels == 1
    )


def normalise(stream: Any, spec: RenderSpec, loudness: Loudness) -> Any:
    """One gain to the target integrated loudness, and a lookahead limiter under the true-peak ceiling.

    (loudnorm's linear mode does the same but holds ~100 MB of 192 kHz buffers during the whole encode.)
    """
    if spec.loudness_lufs is None or loudness.integrated <= SILENCE_LUFS:
        return stream  # nothing to normalise, or silence
    gain_db = spec.loudness_lufs - loudness.integrated
    ceiling = 10 ** ((spec.true_peak_db - TRUE_PEAK_MARGIN_DB) / 20)  # sample peaks, with room for inter-sample
    return stream.filter("volume", f"{gain_db:.2f}dB").filter(
        "alimiter", limit=f"{ceiling:.4f}", attack=5, release=50, level="false"
    )


def parse_ebur128(stderr: str) -> Loudness:
    """The summary ebur128 prints when its input ends."""
    try:
        summary = stderr[stderr.rindex("Summary:") :]
        values = [float(v) for v in _SUMMARY.search(summary).groups()]  # type: ignore[union-attr]
    except (ValueError, AttributeError):
        raise RenderError(f"loudness measurement printed no summary: {stderr[-500:]}") from None
    return Loudness(integrated=values[0], threshold=values[1], lra=values[2])


_SUMMARY = re.compile(r"I:\s+(-?[\d.]+) LUFS\s+Threshold:\s+(-?[\d.]+) LUFS.*?LRA:\s+(-?[\d.]+) LU", re.DOTALL)


def _graph(spec: RenderSpec, timeline: Timeline, narrations: list[Path], music: Path | None, channels: int) -> Any:
    sources = _one_input_per_file(narrations)
    layout = "mono" if channels == 1 else "stereo"
    parts = []
    for frames, source in zip(timeline.scene_frames, sources, strict=True):
        length = f"{timeline.seconds(frames):.6f}"
        parts.append(
            source.filter("aresample", AUDIO_RATE)
            .filter("aformat", sample_fmts="fltp", channel_layouts=layout)
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


def _one_input_per_file(paths: list[Path]) -> list[Any]:
    """One audio stream per scene: a file narrated in several scenes (identical lines) is read once and split,
    since one input cannot feed several filter chains."""
    uses = Counter(paths)
    splits = {p: ffmpeg.input(str(p)).audio.filter_multi_output("asplit", n) for p, n in uses.items() if n > 1}
    taken: Counter[Path] = Counter()
    streams = []
    for path in paths:
        if path in splits:
            streams.append(splits[path].stream(taken[path]))
            taken[path] += 1
        else:
            streams.append(ffmpeg.input(str(path)).audio)
    return streams
