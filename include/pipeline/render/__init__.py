"""Render a video from a render spec with one FFmpeg encode.

``python -m pipeline.render --spec ...`` runs the same function as a process (locally or in a pod).
"""

from __future__ import annotations

from pipeline.render.ffmpeg import render_video
from pipeline.render.probe import check_output, probe_output

__all__ = ["check_output", "probe_output", "render_video"]
