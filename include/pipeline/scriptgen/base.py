"""The script provider interface."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.request import VideoRequest


class ScriptScene(BaseModel):
    """One scene of a generated script: what is said, and what is shown."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    narration: str = Field(min_length=1, max_length=1200)
    visual: str = Field(min_length=1, max_length=600)

    @field_validator("narration", "visual")
    @classmethod
    def _one_paragraph(cls, value: str) -> str:
        flat = " ".join(value.split())
        if not flat:
            raise ValueError("must contain some text")
        return flat


class Script(BaseModel):
    """A script ready to segment: the narration, and per paragraph a visual description when one was written.

    ``body`` is the narration with scenes separated by blank lines; ``visuals[i]`` (when given) describes what
    paragraph ``i`` shows.
    """

    model_config = ConfigDict(frozen=True)

    body: str = Field(min_length=1)
    visuals: tuple[str, ...] | None = None
    source: str
    model: str = ""
    units: float = 0
    unit_kind: str = "tokens"

    @classmethod
    def from_scenes(cls, scenes: list[ScriptScene], **kwargs: object) -> Script:
        return cls(
            body="\n\n".join(s.narration for s in scenes),
            visuals=tuple(s.visual for s in scenes),
            **kwargs,
        )


class ScriptProvider(Protocol):
    name: str
    model: str
    paid: bool
    prompt_version: str  # part of a generated script's cache key: a changed prompt must not reuse old scripts
    unit_kind: str  # what the provider bills by

    def write_script(self, request: VideoRequest) -> Script:
        """The narration for ``request``: its own script, or one generated from its topic."""
        ...
