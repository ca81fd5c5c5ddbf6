"""Burned subtitles, drawn once a cue: the preparation pass has libass draw each run of frames that shows the same
cue (``cue_spans``) once, as a transparent strip; the encode lays the strip over the picture while a cue is shown.

libass's caches grow with every distinct cue it draws (about 250 KB a two-line cue at 1080x1920, up to some
70 MB) and FFmpeg's ``ass`` filter cannot bound them: inside the encode they would sit on top of libx264's memory,
and the filter would blend the cue into every frame anew. In the preparation pass they cost nothing at the peak.

FFmpeg's ``ass`` filter composes a semi-transparent shadow onto a transparent frame with the wrong alpha, so each
cue is drawn twice, onto black and onto white, and the strip's straight colour and alpha are taken from the two:
over black a pixel is ``a*C``, over white ``a*C + (1-a)*255``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ffmpeg
from PIL import Image

from pipeline.models import RenderSpec
from pipeline.render.subtitles import CueSpan, SubtitleStyle

CANVAS = "canvas.png"
CUES_FILE = "cues.ffconcat"


def prepared_subtitles(spec: RenderSpec, spans: Sequence[CueSpan], ass_file: str, scratch: Path) -> Any:
    """The strip for the preparation pass: one frame a span, at the span's first frame, as raw ``yuva420p``."""
    Image.new("RGB", (spec.width, spec.height)).save(scratch / CANVAS)
    lines = ["ffconcat version 1.0"]
    for span in spans:
        lines += [f"file {CANVAS}", f"option framerate {spec.fps}", f"duration {span.frames / spec.fps:.9f}"]
    lines += lines[-3:-1]  # the demuxer ends the last file early unless it is listed once more
    (scratch / CUES_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    top, rows = SubtitleStyle.for_frame(spec.width, spec.height).band(spec.width, spec.height)
    canvas = ffmpeg.input(CUES_FILE, f="concat", safe=0, threads=1).video.filter("format", "rgb24").split()

    def drawn(stream: Any) -> Any:  # libass draws on the whole frame (its layout is the frame's); keep the strip
        return stream.filter("ass", ass_file).filter("crop", spec.width, rows, 0, top).filter("format", "gbrp")

    on_black = drawn(canvas[0]).split()
    on_white = drawn(canvas[1].filter("negate"))
    # in every plane, with the blend filter's own modes (an expression would be evaluated a pixel at a time):
    # alpha = 255 - (white - black), colour = black / alpha (divide: 255 * top / bottom)
    alpha = ffmpeg.filter([on_white, on_black[0]], "blend", all_mode="difference").filter("negate").split()
    colour = ffmpeg.filter([on_black[1], alpha[0]], "blend", all_mode="divide")
    strip = ffmpeg.filter([colour, alpha[1].filter("extractplanes", "g")], "alphamerge")
    return strip.filter("format", "yuva420p")


def with_subtitles(spec: RenderSpec, spans: Sequence[CueSpan], picture: Any, strip: Any) -> Any:
    """The picture with the strip laid over it, only on the frames that show a cue (elsewhere the overlay hands
    the frame on untouched). eof_action=pass: the strip is an untimed layer, no main frame is held or copied."""
    half = 0.5 / spec.fps
    shown = "+".join(
        f"between(t,{span.first / spec.fps - half:.6f},{(span.first + span.frames) / spec.fps - half:.6f})"
        for span in _merged(spans)
    )
    top, _ = SubtitleStyle.for_frame(spec.width, spec.height).band(spec.width, spec.height)
    return ffmpeg.overlay(picture, strip, x=0, y=top, enable=shown, format="yuv420", eof_action="pass")


def _merged(spans: Sequence[CueSpan]) -> list[CueSpan]:
    """Runs of frames that show a cue, one after the other cue counted as one run."""
    merged: list[CueSpan] = []
    for span in spans:
        if not span.shown:
            continue
        if merged and merged[-1].first + merged[-1].frames == span.first:
            merged[-1] = CueSpan(merged[-1].first, merged[-1].frames + span.frames, shown=True)
        else:
            merged.append(span)
    return merged
