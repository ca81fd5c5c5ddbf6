"""Every setting the core reads, in one place: environment variables prefixed ``VIDEO_``.

Secrets never live here; they come from Airflow connections and are passed in by the DAG layer.
"""

from __future__ import annotations

import os
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.constants import ConnId

PROJECT_ROOT = Path(__file__).resolve().parents[2]


_ENV = SettingsConfigDict(env_prefix="VIDEO_", extra="ignore")


class StorageSettings(BaseSettings):
    """Where assets and videos are kept: a local folder (``VIDEO_DATA_DIR/storage``) or an S3 bucket."""

    model_config = _ENV

    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = Field(default="", description="Only for S3-compatible servers; empty for AWS.")
    s3_server_side_encryption: str = Field(default="", description='"AES256", "aws:kms" or empty.')
    s3_presign_s: int = Field(
        default=3600, ge=60, le=3600, description="Lifetime of a link the Videos page makes when a file is opened."
    )


class ProviderSettings(BaseSettings):
    """Which providers make scripts, images and voices when a request does not choose, and how they are called."""

    model_config = _ENV

    script_provider: Literal["given", "gemini"] = Field(
        default="given", description="given: the request's script only; gemini: write one from the topic."
    )
    image_provider: Literal["procedural", "stability"] = "procedural"
    media_sources: str = Field(
        default="",
        description="Comma-separated sources a scene's picture is looked for in first, in order (library, pexels), "
        "when a request names none; empty: the image provider only.",
    )
    voice_provider: Literal["espeak", "polly"] = "espeak"
    translator: Literal["", "gemini"] = Field(
        default="", description="Who translates a request's other languages; empty: translations are refused."
    )
    pexels_per_page: int = Field(default=15, ge=1, le=80, description="Stock results a scene chooses from.")
    gemini_model: str = "gemini-2.5-flash"
    stability_model: Literal["core", "ultra", "sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium"] = "core"
    stability_negative_prompt: str = "text, letters, watermark, logo, signature, blurry, deformed, low quality"
    stability_style_preset: str = ""
    polly_engine: Literal["neural", "standard", "long-form", "generative"] = "neural"
    provider_timeout_s: float = Field(default=120.0, gt=0, description="Per call to a paid API.")

    @field_validator("media_sources")
    @classmethod
    def _known_sources(cls, value: str) -> str:
        from pipeline.request import MEDIA_SOURCES

        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in MEDIA_SOURCES]
        if unknown:
            raise ValueError(f"VIDEO_MEDIA_SOURCES: unknown {', '.join(unknown)}; use {', '.join(MEDIA_SOURCES)}")
        return ",".join(dict.fromkeys(names))

    @property
    def default_media_sources(self) -> tuple[str, ...]:
        return tuple(name for name in self.media_sources.split(",") if name)


class PriceSettings(BaseSettings):
    """Prices for the cost report (USD); check them against the providers' current price lists."""

    model_config = _ENV

    price_gemini_per_mtoken: float = 0.60
    price_stability_per_credit: float = 0.01
    price_polly_neural_per_mchar: float = 16.0
    price_polly_standard_per_mchar: float = 4.0
    price_polly_long_form_per_mchar: float = 100.0
    price_polly_generative_per_mchar: float = 30.0


class KubernetesSettings(BaseSettings):
    """The render pod (``VIDEO_RENDER_BACKEND=kubernetes``)."""

    model_config = _ENV

    render_backend: Literal["local", "kubernetes"] = "local"
    k8s_namespace: str = "video-factory"
    k8s_image: str = "video-factory-render:latest"
    k8s_service_account: str = "video-render"
    k8s_secret: str = Field(default="video-factory-render", description="Secret whose keys become env vars.")
    k8s_cpu_request: str = "1"
    k8s_cpu_limit: str = "2"
    k8s_memory_request: str = "512Mi"
    k8s_memory_limit: str = "1536Mi"
    k8s_data_pvc: str = Field(default="", description="PVC holding VIDEO_DATA_DIR when storage is local.")
    k8s_data_dir: str = "/data"
    k8s_conn_id: str = ConnId.KUBERNETES.value


class EmailSettings(BaseSettings):
    """How the 'video ready' / 'video failed' emails go out.

    ``auto``: SMTP when the ``smtp_default`` connection exists, else ``.eml`` files in the outbox folder;
    ``ses``: Amazon SES through the ``aws_default`` connection.
    """

    model_config = _ENV

    email_backend: Literal["auto", "outbox", "smtp", "ses"] = "auto"
    email_from: str = "Video Factory <video-factory@localhost>"
    email_default_to: str = "video-ops@localhost"


class BatchSettings(BaseSettings):
    """The nightly batch (``nightly_batch``) and the load it may put on workers and paid providers."""

    model_config = _ENV

    batch_schedule: str = Field(
        default="0 1 * * *", description="Cron expression of the nightly batch; `none`: it runs only when triggered."
    )
    batch_timezone: str = Field(default="UTC", description="Time zone the schedule is read in (IANA name).")
    batch_size: int = Field(default=200, ge=1, le=1000, description="Most requests one batch claims.")
    batch_stale_claim_s: float = Field(
        default=6 * 3600, gt=0, description="A claim this old whose batch run has ended returns to pending."
    )
    batch_deadline_s: float = Field(
        default=6 * 3600, gt=0, description="Ops are emailed the unfinished videos this long after the batch's time."
    )
    batch_poke_s: float = Field(default=60, gt=0, description="How often the batch looks at its runs.")
    batch_wait_s: float = Field(default=24 * 3600, gt=0, description="How long the batch waits for its runs.")
    batch_ops_emails: str = Field(
        default="", description="Who gets the batch summary (`;`-separated); empty: the email default address."
    )
    max_active_videos: int = Field(default=8, ge=1, description="video_production runs at once.")
    render_slots: int = Field(default=2, ge=1, description="Renders at once (pool video_render).")
    image_slots: int = Field(default=4, ge=1, description="Image calls at once (pool video_images: Stability).")
    voice_slots: int = Field(default=4, ge=1, description="Voice calls at once (pool video_voices: Polly).")
    script_slots: int = Field(default=2, ge=1, description="Script calls at once (pool video_scripts: Gemini).")
    batch_review: bool = Field(
        default=False, description="Rows of the nightly batch wait for a script review (the request's `review`)."
    )
    review_timeout_s: float = Field(
        default=3 * 24 * 3600, gt=0, description="A script waiting for review this long is rejected (timed out)."
    )
    render_queue: str = Field(
        default="default",
        description="Celery queue of the render task: a worker serving it (`-q render`) runs every render, so render "
        "capacity scales apart from the rest; ignored by the LocalExecutor.",
    )

    @property
    def ops_emails(self) -> list[str]:
        return [part.strip() for part in self.batch_ops_emails.split(";") if part.strip()]


class Settings(BaseSettings):
    """Runtime configuration, one section per concern; the defaults give the embedded, offline mode.

    Every field reads ``VIDEO_<FIELD NAME>`` (``VIDEO_S3_BUCKET`` sets ``settings.storage.s3_bucket``).
    """

    model_config = _ENV

    data_dir: Path = Field(default=PROJECT_ROOT / ".local" / "data", description="Root of local state.")
    storage: StorageSettings = Field(default_factory=StorageSettings)
    providers: ProviderSettings = Field(default_factory=ProviderSettings)
    prices: PriceSettings = Field(default_factory=PriceSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)

    ffmpeg_bin: str = "ffmpeg"
    ffprobe_bin: str = "ffprobe"
    espeak_bin: str = "espeak-ng"
    render_timeout_s: float = 3600.0
    fps: int = 30

    max_scene_words: int = Field(default=45, ge=5, description="Upper bound of words narrated per scene.")
    max_scenes: int = Field(default=200, ge=1)
    retries: int = Field(default=3, ge=0)
    retry_delay_s: float = Field(default=20.0, ge=0)
    max_retry_delay_s: float = Field(default=600.0, ge=0)
    airflow_ui_url: str = "http://localhost:8080"

    @cached_property
    def storage_root(self) -> Path:
        return self.data_dir / "storage"

    @cached_property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @cached_property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @cached_property
    def cache_dir(self) -> Path:
        """Local copies of remote assets, for ffmpeg to read."""
        return self.data_dir / "cache"


def load_settings() -> Settings:
    """Read the settings from the environment now (not cached: tasks may run with a changed environment)."""
    return Settings()


def current_settings() -> Settings:
    """The settings of the environment as it is now, read once per distinct ``VIDEO_*`` environment in a process
    (and inherited by what it forks): for the DAG files and task start-ups, which read them at every task
    instance. Read-only: ``load_settings`` gives a copy of one's own."""
    return _settings_of(tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("VIDEO_"))))


@cache
def _settings_of(environment: tuple[tuple[str, str], ...]) -> Settings:
    del environment  # the cache's key: Settings() reads the environment itself
    return Settings()
