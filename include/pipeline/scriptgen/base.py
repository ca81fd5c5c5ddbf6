"""The script provider interface."""

from __future__ import annotations

from typing import Protocol

from pipeline.models import VideoRequest


class ScriptProvider(Protocol):
    name: str

    def write_script(self, request: VideoRequest) -> str:
        """The narration for ``request``: its own script, or one generated from its topic."""
        ...
