"""The picture: stills through the concat demuxer (one decoded image in memory at a time), scaled once per scene,
held or moved (Ken Burns), video clips overlaid on their scenes, crossfades by blending two streams, subtitles
burned from an ASS file. One encode; files are referenced relative to the scratch folder FFmpeg runs in.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import ffmpeg

from pipeline.models import RenderSpec
from pipeline.render.timeline import Entry, Timeline

KEN_BURNS_PRESCALE = 1.5  # still scaled to 1.5x the frame once; zoompan then never upscales
# (zoom from, zoom to, x from, x to, y from, y to): x/y are fractions of the free margin, 0.5 = centred.
MOVES = (
    (1.0, 1.2, 0.5, 0.5, 0.5, 0.5),
    (1.2, 1.0, 0.5, 0.5, 0.5, 0.5),
    (1.1, 1.2, 0.0, 1.0, 0.5, 0.5),
    (1.2, 1.1, 1.0, 0.0, 0.5, 0.5),
    (1.05, 1.2, 0.5, 0.5, 0.0, 1.0),
    (1.2, 1.05, 0.3, 0.7, 1.0, 0.2),
)
CONCAT_FILES = ("stream-a.ffconcat", "stream-b.ffconcat")
FADE_COMMANDS = "crossfade.cmd"
BLANK = "blank.png"
PLANE_OPACITY = ("c0_opacity", "c1_opacity", "c2_opacity")


def ken_burns_move(spec: RenderSpec, scene: int) -> tuple[float, ...]:
    """A deterministic move per scene, varied by the scene's media, never the same twice in a row."""
    digest = hashlib.sha256(f"{spec.scenes[scene].media_key}:{scene}".encode()).digest()[0]
    return MOVES[(digest + scene) % len(MOVES)]


def write_concat_files(spec: RenderSpec, timeline: Timeline, media: list[Path], scratch: Path) -> list[str]:
    """One ffconcat list per stream; a video-clip scene holds a blank still that its clip covers."""
    names = []
    for name, entries in zip(CONCAT_FILES, timeline.streams(), strict=False):
        lines = ["ffconcat version 1.0"]
        for entry in entries:
            path = media[entry.scene] if spec.scenes[entry.scene].media_kind == "image" else scratch / BLANK
            lines += [f"file {_quote(path)}", f"duration {timeline.seconds(entry.frames):.9f}"]
        lines.append(lines[-2])  # the demuxer ends the last file early unless it is listed once more
        (scratch / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        names.append(name)
    return names


def write_fade_commands(timeline: Timeline, scratch: Path) -> str:
    """sendcmd lines that ramp the blend's opacity (weight of stream A) over every crossfade."""
    lines = []
    half_frame = timeline.seconds(1) / 2
    for first, last, towards_odd in timeline.fades():
        start, end = timeline.seconds(first), timeline.seconds(last)
        a, b = (1, 0) if towards_odd else (0, 1)
        # frame timestamps are rounded: the ramp ends half a frame early, and a plain command then sets the
        # end value exactly, so no trace of the previous picture stays blended in
        ramp = f"clip({a}+({b - a})*(T-{start:.6f})/{end - start - half_frame:.6f},0,1)"
        # per-plane opacities: blend ignores all_opacity once it is back at 1 (yuv420p has three planes)
        lines.append(f"{start:.6f}-{end:.6f} " + ", ".join(f"[expr] blend {p} '{ramp}'" for p in PLANE_OPACITY) + ";")
        lines.append(f"{end - half_frame:.6f} " + ", ".join(f"blend {p} {b}" for p in PLANE_OPACITY) + ";")
    (scratch / FADE_COMMANDS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return FADE_COMMANDS


def picture(spec: RenderSpec, timeline: Timeline, media: list[Path], concat_files: list[str]) -> Any:
    """The filtered video stream of the whole timeline."""
    streams = []
    for concat_file, entries in zip(concat_files, timeline.streams(), strict=True):
        stills = ffmpeg.input(concat_file, f="concat", safe=0).video
        stream = _ken_burns(spec, stills, entries) if spec.look.ken_burns else _held(spec, stills)
        for entry in entries:
            if spec.scenes[entry.scene].media_kind == "video":
                stream = _overlay_clip(spec, timeline, stream, media[entry.scene], entry)
        streams.append(stream)
    if len(streams) == 1:
        return streams[0]
    top = streams[0].filter("sendcmd", f=FADE_COMMANDS)
    return ffmpeg.filter([top, streams[1]], "blend", all_mode="normal")


def _held(spec: RenderSpec, stills: Any) -> Any:
    """Each still scaled once, then repeated at the frame rate."""
    return _cover(stills, spec.width, spec.height).filter("fps", spec.fps)


def _ken_burns(spec: RenderSpec, stills: Any, entries: list[Entry]) -> Any:
    """Each still scaled once to 1.5x, then one zoompan whose duration and move depend on the scene."""
    width = _even(spec.width * KEN_BURNS_PRESCALE)
    height = _even(spec.height * KEN_BURNS_PRESCALE)
    moves = [ken_burns_move(spec, entry.scene) for entry in entries]

    def per_scene(values: list[float]) -> str:  # value for the current still: zoompan's `in` counts from 0
        return "+".join(f"{v:g}*eq(in,{i})" for i, v in enumerate(values))

    progress = "(frame/max(duration-1,1))"
    zoom = f"(({per_scene([m[0] for m in moves])})+({per_scene([m[1] - m[0] for m in moves])})*{progress})"
    x = f"(iw-iw/zoom)*(({per_scene([m[2] for m in moves])})+({per_scene([m[3] - m[2] for m in moves])})*{progress})"
    y = f"(ih-ih/zoom)*(({per_scene([m[4] for m in moves])})+({per_scene([m[5] - m[4] for m in moves])})*{progress})"
    duration = per_scene([float(entry.frames) for entry in entries])
    return (
        _cover(stills, width, height)
        .filter("zoompan", z=zoom, x=x, y=y, d=duration, s=f"{spec.width}x{spec.height}", fps=spec.fps)
        .filter("setsar", 1)
    )


def _overlay_clip(spec: RenderSpec, timeline: Timeline, base: Any, clip: Path, entry: Entry) -> Any:
    """The clip, looped or trimmed to its scene, placed on the timeline over the scene's blank still."""
    start = timeline.seconds(entry.start)
    moving = (
        ffmpeg.input(str(clip), stream_loop=-1)
        .video.filter("trim", duration=f"{timeline.seconds(entry.frames):.6f}")
        .filter("setpts", "PTS-STARTPTS")
        .filter("fps", spec.fps)
    )
    placed = _cover(moving, spec.width, spec.height).filter("setpts", f"PTS+{start:.6f}/TB")
    return ffmpeg.overlay(base, placed, eof_action="pass")


def _cover(stream: Any, width: int, height: int) -> Any:
    """Scale to cover the frame and crop the overflow, centred."""
    return (
        stream.filter("scale", width, height, force_original_aspect_ratio="increase")
        .filter("crop", width, height)
        .filter("setsar", 1)
        .filter("format", "yuv420p")
    )


def _even(value: float) -> int:
    return int(round(value / 2) * 2)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"
