"""Frame arithmetic of a render: how long each scene lasts and which still is on screen when.

Every frame of the video is made once, by the main stream: each scene from the end of the fade that brings it in
to the end of the fade that takes it away. A crossfade needs the incoming scene as well, for the few frames of
the fade only: those come from a second, sparse stream of fade windows, blended over the main stream there and
nowhere else. A scene's Ken Burns move spans all of its frames on screen, fades included. Everything is counted
in whole frames: scene boundaries are frame-exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate

from pipeline.models import RenderSpec


@dataclass(frozen=True)
class Entry:
    """One still in a stream: scene ``scene`` shown from frame ``start`` for ``frames`` frames."""

    scene: int
    start: int
    frames: int


@dataclass(frozen=True)
class Timeline:
    fps: int
    scene_frames: tuple[int, ...]
    half_fade: int  # frames on each side of a boundary; 0 means hard cuts

    @cached_property
    def starts(self) -> tuple[int, ...]:
        """First frame of every scene, then the frame after the last one."""
        return tuple(accumulate(self.scene_frames, initial=0))

    @property
    def total_frames(self) -> int:
        return self.starts[-1]

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.fps

    def scene_start(self, index: int) -> int:
        return self.starts[index]

    def seconds(self, frames: int) -> float:
        return frames / self.fps

    @property
    def fade_frames(self) -> int:
        """Length of every crossfade window (0: hard cuts)."""
        return 2 * self.half_fade if len(self.scene_frames) > 1 else 0

    def on_screen(self, index: int) -> tuple[int, int]:
        """(first frame, frame after the last) in which scene ``index`` is seen, fades included."""
        first = self.starts[index] - self.half_fade if index > 0 else 0
        last = self.starts[index + 1] + self.half_fade if index + 1 < len(self.scene_frames) else self.total_frames
        return first, last

    def main_entries(self) -> list[Entry]:
        """The main stream: every frame once, each scene until the end of the fade that takes it away."""
        if not self.fade_frames:
            return [Entry(i, self.starts[i], n) for i, n in enumerate(self.scene_frames)]
        entries = []
        for index in range(len(self.scene_frames)):
            first = self.starts[index] + self.half_fade if index > 0 else 0
            last = self.on_screen(index)[1]
            entries.append(Entry(index, first, last - first))
        return entries

    def window_entries(self) -> list[Entry]:
        """The incoming scene of every crossfade, for the fade's frames only."""
        if not self.fade_frames:
            return []
        return [Entry(i, self.starts[i] - self.half_fade, self.fade_frames) for i in range(1, len(self.scene_frames))]

    def fades(self) -> list[tuple[int, int]]:
        """(first frame, frame after the last) of every crossfade."""
        return [(entry.start, entry.start + entry.frames) for entry in self.window_entries()]


def plan_timeline(spec: RenderSpec) -> Timeline:
    """Each scene lasts its narration plus padding, rounded up to whole frames; fades fit inside scenes."""
    frames = tuple(
        max(1, math.ceil((scene.audio_duration_s + spec.look.scene_padding_s) * spec.fps - 1e-6))
        for scene in spec.scenes
    )
    half_fade = round(spec.look.crossfade_s * spec.fps / 2)
    if half_fade:
        # a fade may take at most half of the shortest scene, so two fades never overlap
        half_fade = max(0, min(half_fade, min(frames) // 4))
    return Timeline(fps=spec.fps, scene_frames=frames, half_fade=half_fade)
