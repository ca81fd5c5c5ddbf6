"""Frame arithmetic of a render: how long each scene lasts and which still is on screen when.

With crossfades the stills are split over two streams, A (even scenes) and B (odd scenes). Each stream holds
its scene from half a fade before the scene starts until half a fade before its next scene starts, so both
pictures exist while they blend. Everything is counted in whole frames: scene boundaries are frame-exact.
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

    def streams(self) -> list[list[Entry]]:
        """One stream of stills for cuts; two (even scenes, odd scenes) for crossfades."""
        count = len(self.scene_frames)
        if self.half_fade == 0 or count == 1:
            return [[Entry(i, self.scene_start(i), n) for i, n in enumerate(self.scene_frames)]]
        streams: list[list[Entry]] = []
        for parity in (0, 1):
            hosted = list(range(parity, count, 2))
            starts = [0 if i == hosted[0] else self.scene_start(i) - self.half_fade for i in hosted]
            ends = [*starts[1:], self.total_frames]
            streams.append([Entry(i, s, e - s) for i, s, e in zip(hosted, starts, ends, strict=True)])
        return streams

    def fades(self) -> list[tuple[int, int, bool]]:
        """(first frame, last frame, towards the odd stream) of every crossfade."""
        if self.half_fade == 0:
            return []
        return [
            (self.scene_start(i) - self.half_fade, self.scene_start(i) + self.half_fade, i % 2 == 1)
            for i in range(1, len(self.scene_frames))
        ]


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
