"""Render specs of real scene assets made from a few sentences: for the tests and the render benchmark."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.assets import make_scene_image, narrate_scene
from pipeline.images import ProceduralImages
from pipeline.models import RenderSpec, Scene
from pipeline.render.spec import build_render_spec
from pipeline.request import LookAndSound
from pipeline.storage.base import Storage
from pipeline.voice import EspeakVoice


def sample_render_spec(
    texts: Sequence[str],
    *,
    storage: Storage,
    work_dir: Path,
    width: int,
    height: int,
    look: LookAndSound,
    run_id: str,
    title: str = "Render test",
    clips: Mapping[int, str] | None = None,
    music_key: str | None = None,
) -> RenderSpec:
    """One scene per text: a Pillow title card (or the clip or picture stored at ``clips[index]``) and espeak-ng."""
    images, narrations = [], []
    for index, narration in enumerate(texts):
        scene = Scene(
            project_id=7,
            index=index,
            text=narration,
            keywords=tuple(narration.split()[1:3]),
            visual_prompt=narration,
            width=width,
            height=height,
            voice="en-us",
            title=title,
        )
        image, _ = make_scene_image(scene, provider=ProceduralImages(), storage=storage, work_dir=work_dir)
        if clips and index in clips:
            kind = "image" if clips[index].lower().endswith((".png", ".jpg", ".jpeg", ".webp")) else "video"
            image = image.model_copy(update={"storage_key": clips[index], "kind": kind})
        images.append(image)
        narrations.append(narrate_scene(scene, provider=EspeakVoice(), storage=storage, work_dir=work_dir)[0])
    return build_render_spec(
        project_id=7,
        request_key="samples",
        run_id=run_id,
        title=title,
        images=images,
        narrations=narrations,
        look=look,
        music_key=music_key,
    )
