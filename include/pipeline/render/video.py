"""The picture: the stills, decoded and fitted to the frame once by the preparation pass (``prepared_stills``)
and read back as raw frames, held or moved (Ken Burns), video clips overlaid on their scenes, subtitles burned
from an ASS file. One encode; files are referenced relative to the scratch folder FFmpeg runs in.

Every frame is made once, by the main stream. A crossfade lays the incoming scene over it, made by a second stream
for the fade's frames only, with an alpha that ramps up; the overlay is off everywhere else (timeline.py has the
arithmetic).
"""

from __future__ import annotations

import hashlib
from itertools import accumulate
from pathlib import Path
from typing import Any

import ffmpeg
from PIL import Image

from pipeline.models import RenderSpec
from pipeline.render.timeline import Entry, Timeline

# (zoom from, zoom to, x from, x to, y from, y to): x/y are fractions of the free margin, 0.5 = centred.
MOVES = (
    (1.0, 1.2, 0.5, 0.5, 0.5, 0.5),
    (1.2, 1.0, 0.5, 0.5, 0.5, 0.5),
    (1.1, 1.2, 0.0, 1.0, 0.5, 0.5),
    (1.2, 1.1, 1.0, 0.0, 0.5, 0.5),
    (1.05, 1.2, 0.5, 0.5, 0.0, 1.0),
    (1.2, 1.05, 0.3, 0.7, 1.0, 0.2),
)
CONCAT_FILE = "scenes.ffconcat"
FADE_COMMANDS = "crossfade.cmd"
BLANK = "blank.png"
ANALYZE_US = 5_000_000  # FFmpeg's default analysis length of an input


def ken_burns_move(spec: RenderSpec, scene: int) -> tuple[float, ...]:
    """A deterministic move per scene, varied by the scene's media, never the same twice in a row."""
    digest = hashlib.sha256(f"{spec.scenes[scene].media_key}:{scene}".encode()).digest()[0]
    return MOVES[(digest + scene) % len(MOVES)]


def prepared_stills(spec: RenderSpec, timeline: Timeline, media: list[Path], scratch: Path) -> Any:
    """The stills for the preparation pass: one frame a scene, each decoded once (through the concat demuxer, one
    decoding thread: one decoded image in memory at a time) and fitted to the frame, stamped with the frame its
    scene's main-stream entry starts at. A video-clip scene holds a blank still that its clip covers."""
    if any(scene.media_kind == "video" for scene in spec.scenes):
        Image.new("RGB", (spec.width, spec.height)).save(scratch / BLANK)
    lines = ["ffconcat version 1.0"]
    for entry in timeline.main_entries():
        path = media[entry.scene] if spec.scenes[entry.scene].media_kind == "image" else scratch / BLANK
        # the image demuxer's default 25 fps time base would move every scene change to a multiple of 40 ms
        lines += [
            f"file {_quote(path)}",
            f"option framerate {spec.fps}",
            f"duration {timeline.seconds(entry.frames):.9f}",
        ]
    lines += lines[-3:-1]  # the demuxer ends the last file early unless it is listed once more
    (scratch / CONCAT_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    stills = ffmpeg.input(CONCAT_FILE, f="concat", safe=0, threads=1).video
    return fitted(stills, spec.width, spec.height, spec.look.clip_fit)


def write_fade_commands(timeline: Timeline, scratch: Path) -> str:
    """sendcmd lines that ramp the incoming scene's opacity (its alpha) from 0 to 255 over every fade."""
    lines = []
    half_frame = timeline.seconds(1) / 2
    for first, last in timeline.fades():
        start, end = timeline.seconds(first), timeline.seconds(last)
        # frame timestamps are rounded: the ramp reaches 255 half a frame early; the frame after the fade is the
        # main stream's own (the overlay is off there), so no trace of the previous picture stays
        ramp = f"clip(255*(T-{start:.6f})/{end - start - half_frame:.6f},0,255)"
        lines.append(f"{start:.6f}-{end:.6f} [expr] lutyuv a '{ramp}';")
    (scratch / FADE_COMMANDS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return FADE_COMMANDS


def picture(
    spec: RenderSpec,
    timeline: Timeline,
    media: list[Path],
    stills: Any,
    clip_sizes: dict[Path, tuple[int, int]] | None = None,
) -> Any:
    """The filtered video stream of the whole timeline, from the prepared stills (``clip_sizes``: each clip's
    width and height, when known)."""
    sizes = clip_sizes or {}
    if not timeline.fade_frames:
        return _with_clips(spec, timeline, media, _main(spec, timeline, stills), timeline.main_entries(), sizes)
    # Each still is read once for both streams: the fades take scene k while the main stream still shows scene
    # k-1, so the split holds at most one still (by reference) for the main stream.
    shared = stills.split()
    main = _with_clips(spec, timeline, media, _main(spec, timeline, shared[0]), timeline.main_entries(), sizes)
    entries = timeline.window_entries()
    heads = shared[1].filter("trim", start_frame=1)  # the first scene fades in from nothing
    moved = _placed(timeline, _moved(spec, timeline, heads, entries))
    windows = _with_clips(spec, timeline, media, moved, entries, sizes)
    # The overlay works in the fades only; everywhere else it hands the main stream's frame on untouched (blend
    # would compute every frame, enabled or not). By time, not by the frame counter `n` (a two-input filter
    # counts each input's frames). The overlay evaluates `enable` at every frame it takes from either input, the
    # last one decides: for the frame after a fade it reads the next fade's first window frame ahead, so that
    # frame's time must be off, or the fade's last window frame stays one frame too long (a repeated clip frame,
    # a Ken Burns move stalling). A fade's first frame has alpha 0 anyway: on from half a frame after it.
    # eof_action=pass, not repeat: a window stream that repeats its last frame takes part in the overlay's
    # timing, and the overlay then copies every main frame whose successor it has not seen yet (all of them)
    # before handing it on; as an untimed layer it copies none. Same frames (MD5).
    half = timeline.seconds(1) / 2
    fading = "+".join(
        f"between(t,{timeline.seconds(first) + half:.6f},{timeline.seconds(last) - half:.6f})"
        for first, last in timeline.fades()
    )
    incoming = windows.filter("format", "yuva420p").filter("sendcmd", f=FADE_COMMANDS).filter("lutyuv", a="0")
    return ffmpeg.overlay(main, incoming, enable=fading, format="yuv420", eof_action="pass")


def _main(spec: RenderSpec, timeline: Timeline, stills: Any) -> Any:
    """The main stream: every still moved, or held at the frame rate for its duration in the concat list."""
    if spec.look.ken_burns:
        return _moved(spec, timeline, stills, timeline.main_entries())
    return stills.filter("fps", spec.fps)


def _with_clips(  # noqa: PLR0917 - the stream's context, then the stream
    spec: RenderSpec,
    timeline: Timeline,
    media: list[Path],
    stream: Any,
    entries: list[Entry],
    clip_sizes: dict[Path, tuple[int, int]],
) -> Any:
    """The stream with its video-clip entries' frames from their clips. All the clips are one stream: each
    entry's part of its clip (looped or trimmed, fitted) one after the other (concat), moved to the entry's frames
    (setpts); the stream's own frames there (blank stills) are dropped (select) and the two streams merged by
    time (interleave): no clip frame is blended or copied. An overlay per clip, each passing every frame of the
    video on, cost O(scenes x clips): 60 scenes with 20 clips spent 15 % more CPU and held ~14 MB per clip
    (2026-12-06). One overlay switched on by time (`enable`) showed a clip's last frame one frame too long: the
    overlay reads the next clip frame ahead and evaluates `enable` at that frame's time."""
    clipped = [entry for entry in entries if spec.scenes[entry.scene].media_kind == "video"]
    if not clipped:
        return stream
    parts = [_clip_part(spec, timeline, media[entry.scene], entry, clip_sizes) for entry in clipped]
    joined = parts[0] if len(parts) == 1 else ffmpeg.concat(*parts, v=1, a=0)
    # frame N of the joined parts belongs to part k from its first frame on, and moves to entry k's start
    firsts = list(accumulate((entry.frames for entry in clipped), initial=0))
    shifts = [entry.start - first for entry, first in zip(clipped, firsts, strict=False)]
    steps = "".join(f"+{shifts[k] - shifts[k - 1]}*gte(N,{firsts[k]})" for k in range(1, len(clipped)))
    placed = joined.filter("setpts", f"(N+{shifts[0]}{steps})/({spec.fps}*TB)")
    # by time, half a frame wide of each end: the frames of each clip entry
    half = timeline.seconds(1) / 2
    spans = [
        (timeline.seconds(entry.start) - half, timeline.seconds(entry.start + entry.frames) - half) for entry in clipped
    ]
    covered = "+".join(f"between(t,{first:.6f},{last:.6f})" for first, last in spans)
    return ffmpeg.filter([stream.filter("select", f"not({covered})"), placed], "interleave", nb_inputs=2)


def _placed(timeline: Timeline, windows: Any) -> Any:
    """The fade windows' frames (made one after the other) moved to their fades on the timeline."""
    length = timeline.fade_frames
    fades = timeline.fades()
    # frame N belongs to fade N div length; the offset grows by the gap between one fade's end and the next's start
    steps = "+".join(f"{fades[k][0] - fades[k - 1][0] - length}*gte(N,{k * length})" for k in range(1, len(fades)))
    shift = f"{fades[0][0]}" + (f"+{steps}" if steps else "")
    return windows.filter("trim", end_frame=len(fades) * length).filter("setpts", f"(N+{shift})/(FR*TB)")


def _moved(spec: RenderSpec, timeline: Timeline, stills: Any, entries: list[Entry]) -> Any:
    """One zoompan for the stills of ``entries``: each still shown for its entry's frames, moved (Ken Burns) or,
    without Ken Burns, held (zoom 1: a plain copy). A scene's move runs over all its frames on screen, so an
    entry starting inside the scene starts its move part way."""
    # zoompan crops the frame-sized still and scales the crop up once: one resampling (an enlarged copy to crop
    # from, 1.5x until 2026-11, cost 3.5 instead of 1.3 ms a frame at 720p, and resampled twice)
    still = [(1.0, 1.0, 0.5, 0.5, 0.5, 0.5)] * len(entries)
    moves = [ken_burns_move(spec, entry.scene) for entry in entries] if spec.look.ken_burns else still
    shown = [timeline.on_screen(entry.scene) for entry in entries]

    def per_entry(values: list[float]) -> str:  # value for the current still: zoompan's `in` counts from 0
        return "+".join(f"{v:g}*eq(in,{i})" for i, v in enumerate(values))

    # `frame` counts the still's own output frames from 0
    offsets = per_entry([float(entry.start - first) for entry, (first, _) in zip(entries, shown, strict=True)])
    spans = per_entry([float(max(last - first - 1, 1)) for first, last in shown])
    progress = f"((frame+{offsets})/({spans}))"
    zoom = f"(({per_entry([m[0] for m in moves])})+({per_entry([m[1] - m[0] for m in moves])})*{progress})"
    x = f"(iw-iw/zoom)*(({per_entry([m[2] for m in moves])})+({per_entry([m[3] - m[2] for m in moves])})*{progress})"
    y = f"(ih-ih/zoom)*(({per_entry([m[4] for m in moves])})+({per_entry([m[5] - m[4] for m in moves])})*{progress})"
    duration = per_entry([float(entry.frames) for entry in entries])
    return stills.filter("zoompan", z=zoom, x=x, y=y, d=duration, s=f"{spec.width}x{spec.height}", fps=spec.fps).filter(
        "setsar", 1
    )


def _clip_part(
    spec: RenderSpec, timeline: Timeline, clip: Path, entry: Entry, clip_sizes: dict[Path, tuple[int, int]]
) -> Any:
    """Entry ``entry``'s frames of its scene's clip, fitted to the frame: the clip looped from the scene's first
    frame on screen, so an entry starting inside the scene (after a fade) starts the clip as far in."""
    offset = entry.start - timeline.on_screen(entry.scene)[0]
    # Every entry reads the clip as an input of its own: one input feeding two entries (a scene's main and fade
    # entries) has its frames queued for the entry that does not need them yet (80 MB more at 720p with three
    # clip scenes), and ffmpeg-python merges identical inputs, so each asks for an analysis length of its own (a
    # no-op for MP4). One decoding thread each: a frame-threaded decoder per input held ~5 MB more apiece.
    moving = (
        ffmpeg.input(str(clip), stream_loop=-1, analyzeduration=ANALYZE_US + entry.start, threads=1)
        .video.filter("fps", spec.fps)
        .filter("trim", start_frame=offset, end_frame=offset + entry.frames)
        .filter("setpts", "PTS-STARTPTS")
    )
    fit = spec.look.clip_fit if not fills_frame(clip_sizes.get(clip), spec.width, spec.height) else "crop"
    return fitted(moving, spec.width, spec.height, fit)


def fills_frame(size: tuple[int, int] | None, width: int, height: int) -> bool:
    """Whether a picture of ``size`` has the frame's shape (within 1 %): cropping it cuts nothing, so a blurred
    background would be drawn and covered whole."""
    return size is not None and abs(size[0] * height - size[1] * width) <= 0.01 * size[1] * width


BLUR_SCALE = 8  # the blurred background is made at 1/8 of the frame and scaled up: a fraction of the CPU


def fitted(stream: Any, width: int, height: int, fit: str) -> Any:
    """A picture of any shape fitted to the frame: ``crop`` fills it (the overflow cut, centred), ``blur`` shows
    it whole over a blurred, filled copy of itself (a landscape clip in a vertical video)."""
    if fit != "blur":
        return _cover(stream, width, height)
    copies = stream.split()
    small_w, small_h = max(2, width // BLUR_SCALE // 2 * 2), max(2, height // BLUR_SCALE // 2 * 2)
    background = (
        _cover(copies[0], small_w, small_h)
        .filter("boxblur", luma_radius=max(2, min(small_w, small_h) // 10), luma_power=2)
        .filter("scale", width, height)
    )
    whole = (
        copies[1]
        .filter(
            "scale",
            width,
            height,
            force_original_aspect_ratio="decrease",
            force_divisible_by=2,
            out_color_matrix="bt709",
            out_range="tv",
        )
        .filter("setsar", 1)
        .filter("format", "yuv420p")
    )
    return ffmpeg.overlay(background, whole, x="(W-w)/2", y="(H-h)/2", format="yuv420").filter("setsar", 1)


def _cover(stream: Any, width: int, height: int) -> Any:
    """Scale to cover the frame and crop the overflow, centred; converted to BT.709 limited-range YUV (what the
    MP4 says it holds: an HD player decodes with BT.709, and a still converted with swscale's default BT.601
    matrix would show shifted colours)."""
    return (
        stream.filter(
            "scale", width, height, force_original_aspect_ratio="increase", out_color_matrix="bt709", out_range="tv"
        )
        .filter("crop", width, height)
        .filter("setsar", 1)
        .filter("format", "yuv420p")
    )


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"
