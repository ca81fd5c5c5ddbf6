"""The image provider interface."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypedDict


@dataclass(frozen=True)
class ImageUsage:
    """What one generation cost, for the provider-calls ledger."""

    units: float
    unit_kind: str


class SceneImageInputs(TypedDict):
    """What every image provider is given for a scene (``generate`` also takes ``dest``)."""

    prompt: str
    title: str
    keywords: tuple[str, ...]
    scene_number: int
    width: int
    height: int


class ImageProvider(Protocol):
    name: str
    model: str
    extension: str
    unit_kind: str  # what the provider bills by: "images", "credits"

    def cache_inputs(
        self, *, prompt: str, title: str, keywords: tuple[str, ...], scene_number: int, width: int, height: int
    ) -> dict[str, object]:
        """Everything of the scene that changes this provider's picture: the asset's content hash covers it."""
        ...

    def generate(
        self,
        *,
        prompt: str,
        title: str,
        keywords: tuple[str, ...],
        scene_number: int,
        width: int,
        height: int,
        dest: Path,
    ) -> ImageUsage:
        """Write one image of exactly ``width`` x ``height`` to ``dest``."""
        ...
