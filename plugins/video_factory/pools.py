"""The pools that cap the load a batch puts on workers and paid providers; their slots come from the settings.

``python -m video_factory.pools`` creates or resizes them (``make demo`` and the tests run it after migrating).
"""

from __future__ import annotations

from pipeline.config import Settings, load_settings

RENDER_POOL, IMAGE_POOL, VOICE_POOL, SCRIPT_POOL = "video_render", "video_images", "video_voices", "video_scripts"


def pool_slots(settings: Settings) -> dict[str, tuple[int, str]]:
    """Each pool's slots and description."""
    batch = settings.batch
    return {
        RENDER_POOL: (batch.render_slots, "FFmpeg renders at once (CPU and memory of the workers)"),
        IMAGE_POOL: (batch.image_slots, "Scene images made at once (Stability AI's rate limit)"),
        VOICE_POOL: (batch.voice_slots, "Narrations made at once (Amazon Polly's rate limit)"),
        SCRIPT_POOL: (batch.script_slots, "Scripts written at once (Gemini's rate limit)"),
    }


def ensure_pools(settings: Settings | None = None) -> None:
    """Create or resize every pool (Airflow's metadata database, as configured)."""
    from airflow.models.pool import Pool

    for name, (slots, description) in pool_slots(settings or load_settings()).items():
        Pool.create_or_update_pool(name=name, slots=slots, description=description, include_deferred=False)


if __name__ == "__main__":
    ensure_pools()
    print("pools:", ", ".join(f"{name}={slots}" for name, (slots, _) in pool_slots(load_settings()).items()))
