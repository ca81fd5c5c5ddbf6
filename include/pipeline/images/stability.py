"""Scene images from Stability AI's REST API (``/v2beta/stable-image/generate/...``) over httpx.

One attempt per call (retries are Airflow's). The answer is checked to be a real image, then cropped and scaled
to exactly the scene's frame.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.atomic import atomic_path
from pipeline.constants import ImageProviderId
from pipeline.errors import NoMedia, ProviderError, http_status_error
from pipeline.images.base import ImageUsage

DEFAULT_BASE_URL = "https://api.stability.ai"
# model -> (endpoint path, form field "model" or None, credits per image), from Stability's price list
MODELS: dict[str, tuple[str, str | None, float]] = {
    "core": ("/v2beta/stable-image/generate/core", None, 3.0),
    "ultra": ("/v2beta/stable-image/generate/ultra", None, 8.0),
    "sd3.5-large": ("/v2beta/stable-image/generate/sd3", "sd3.5-large", 6.5),
    "sd3.5-large-turbo": ("/v2beta/stable-image/generate/sd3", "sd3.5-large-turbo", 4.0),
    "sd3.5-medium": ("/v2beta/stable-image/generate/sd3", "sd3.5-medium", 3.5),
}
# aspect ratios the API accepts, as width / height
ASPECT_RATIOS = {
    "16:9": 16 / 9,
    "1:1": 1.0,
    "9:16": 9 / 16,
    "21:9": 21 / 9,
    "9:21": 9 / 21,
    "3:2": 1.5,
    "2:3": 2 / 3,
    "5:4": 1.25,
    "4:5": 0.8,
}
DEFAULT_NEGATIVE = "text, letters, watermark, logo, signature, blurry, deformed, low quality"


def aspect_ratio_for(width: int, height: int) -> str:
    """The API's aspect ratio nearest to ``width`` x ``height``."""
    target = width / height
    return min(ASPECT_RATIOS, key=lambda name: abs(ASPECT_RATIOS[name] - target))


class StabilityImages:
    """``POST {base}/v2beta/stable-image/generate/{core|ultra|sd3}`` with the scene's prompt."""

    name = ImageProviderId.STABILITY.value
    extension = "png"
    unit_kind = "credits"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = "core",
        base_url: str | None = None,
        negative_prompt: str = DEFAULT_NEGATIVE,
        style_preset: str = "",
        timeout_s: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown Stability model {model!r}; one of {', '.join(MODELS)}")
        if not api_key:
            raise ProviderError(
                "no API key (the stability_default connection's password)", provider=self.name, retryable=False
            )
        self.model = model
        self.negative_prompt = negative_prompt
        self.style_preset = style_preset
        self._client = httpx.Client(
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "image/*"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0)),
            transport=transport,
        )

    def cache_inputs(
        self, *, prompt: str, title: str, keywords: tuple[str, ...], scene_number: int, width: int, height: int
    ) -> dict[str, object]:
        # the title and the scene's position do not reach the API: the same prompt in another video is reused
        return {
            "prompt": self.prompt_for(prompt, keywords),
            "negative_prompt": self.negative_prompt,
            "style_preset": self.style_preset,
            "width": width,
            "height": height,
        }

    def prompt_for(self, prompt: str, keywords: tuple[str, ...]) -> str:
        subject = f"{prompt.strip()}" + (f" Key elements: {', '.join(keywords)}." if keywords else "")
        return f"{subject} Cinematic still, detailed, natural light, no text."[:10_000]

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
        path, model_field, credits = MODELS[self.model]
        text = self.prompt_for(prompt, keywords)
        fields = {
            "prompt": text,
            "negative_prompt": self.negative_prompt,
            "aspect_ratio": aspect_ratio_for(width, height),
            # the same scene always asks for the same picture
            "seed": str(int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % 4_294_967_294),
            "output_format": "png",
        }
        if model_field:
            fields["model"] = model_field
        if self.style_preset:
            fields["style_preset"] = self.style_preset
        try:
            # multipart/form-data, as the API requires, even without a file
            response = self._client.post(path, data=fields, files={"none": ("", b"")})
        except httpx.TimeoutException:
            raise ProviderError("timed out waiting for the image", provider=self.name, retryable=True) from None
        except httpx.TransportError as exc:
            raise ProviderError(f"connection failed: {exc}", provider=self.name, retryable=True) from None
        if response.status_code != 200:
            raise http_status_error(
                self.name,
                response.status_code,
                _error_message(response),
                retry_after=response.headers.get("retry-after"),
            )
        reason = response.headers.get("finish-reason", "SUCCESS").upper()
        if reason != "SUCCESS":
            raise NoMedia(f"no image ({reason}): the prompt was filtered", provider=self.name)
        _fit(response.content, width, height, dest)
        return ImageUsage(units=credits, unit_kind="credits")


def _error_message(response: httpx.Response) -> str:
    """``name: errors`` of Stability's JSON error body, else the start of the body."""
    try:
        body = response.json()
        parts = body.get("errors") or [body.get("message", "")]
        return f"{body.get('name', 'error')}: {'; '.join(str(p) for p in parts)}"
    except (json.JSONDecodeError, ValueError, AttributeError):
        return response.text[:300]


def _fit(data: bytes, width: int, height: int, dest: Path) -> None:
    """Centre-crop to the frame's aspect and scale to exactly ``width`` x ``height``; written atomically."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            picture = image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ProviderError(
            f"malformed response: the answer is not an image ({exc})",
            provider=ImageProviderId.STABILITY,
            retryable=False,
        ) from None
    fitted = ImageOps.fit(picture, (width, height), method=Image.Resampling.LANCZOS)
    with atomic_path(dest) as tmp:
        fitted.save(tmp, format="PNG")
