"""Stability images over httpx against a stand-in on loopback: the form it posts, the picture it keeps,
failures classified, and one paid call per distinct picture, also with two workers at once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pipeline.assets import make_scene_image
from pipeline.errors import ProviderError
from pipeline.images.stability import StabilityImages, aspect_ratio_for
from pipeline.storage import LocalStorage
from tests.stubs import Fail, paid_scene


@pytest.mark.parametrize(("width", "height", "ratio"), [(1280, 720, "16:9"), (1080, 1920, "9:16"), (720, 720, "1:1")])
def test_stability_image_fits_the_frame_exactly(
    stability_stub: Any, tmp_path: Path, width: int, height: int, ratio: str
) -> None:
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url, negative_prompt="blurry, text")
    dest = tmp_path / "scene.png"
    usage = provider.generate(
        prompt="fishing boats at dawn",
        title="Harbour",
        keywords=("boats", "dawn"),
        scene_number=1,
        width=width,
        height=height,
        dest=dest,
    )
    with Image.open(dest) as image:
        assert (image.format, image.size) == ("PNG", (width, height))
    assert (usage.units, usage.unit_kind) == (3.0, "credits")
    (call,) = stability_stub.requests
    assert call["path"] == "/v2beta/stable-image/generate/core"
    for field, value in [("aspect_ratio", ratio), ("negative_prompt", "blurry, text"), ("output_format", "png")]:
        assert f'name="{field}"\r\n\r\n{value}\r\n' in call["body"]
    assert "fishing boats at dawn" in call["body"] and "boats, dawn" in call["body"]
    assert aspect_ratio_for(width, height) == ratio


def test_stability_sends_the_same_seed_for_the_samepaid_scene(stability_stub: Any, tmp_path: Path) -> None:
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url, model="sd3.5-large")
    for _ in range(2):
        provider.generate(
            prompt="a lighthouse",
            title="t",
            keywords=(),
            scene_number=1,
            width=640,
            height=360,
            dest=tmp_path / "a.png",
        )
    first, second = stability_stub.requests
    assert first["path"] == "/v2beta/stable-image/generate/sd3" and 'name="model"\r\n\r\nsd3.5-large' in first["body"]
    seed = first["body"].split('name="seed"\r\n\r\n')[1].split("\r\n")[0]
    assert seed.isdigit() and f'name="seed"\r\n\r\n{seed}\r\n' in second["body"]


@pytest.mark.parametrize(
    ("failure", "retryable", "message"),
    [
        (Fail(429, retry_after=3), True, "HTTP 429"),
        (Fail(500), True, "HTTP 500"),
        (Fail(400), False, "HTTP 400"),
        (Fail(401), False, "unauthorized"),
        (Fail(402), False, "payment_required"),
        (Fail(403), False, "flagged by our content moderation system"),
        (Fail(malformed=True), False, "not an image"),
        (Fail(delay_s=2.5), True, "timed out"),
    ],
)
def test_stability_failures_are_classified(
    stability_stub: Any, tmp_path: Path, failure: Fail, retryable: bool, message: str
) -> None:
    stability_stub.plan(failure)
    # a short timeout only where the stand-in answers late: a loaded machine must not turn a 429 into a timeout
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url, timeout_s=1 if failure.delay_s else 30)
    with pytest.raises(ProviderError) as caught:
        provider.generate(
            prompt="p", title="t", keywords=(), scene_number=1, width=64, height=64, dest=tmp_path / "x.png"
        )
    assert caught.value.retryable is retryable
    assert message in caught.value.message
    assert caught.value.retry_after == (3 if failure.retry_after else None)
    assert len(stability_stub.requests) == 1
    assert not (tmp_path / "x.png").exists()


def test_a_failed_image_call_goes_to_the_ledger(stability_stub: Any, tmp_path: Path) -> None:
    stability_stub.plan(Fail(500), Fail(403))
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url)
    storage = LocalStorage(tmp_path / "storage")
    failed: list[Any] = []
    for _ in range(2):
        with pytest.raises(ProviderError):
            make_scene_image(
                paid_scene(),
                provider=provider,
                storage=storage,
                work_dir=tmp_path / "work",
                on_failed_call=failed.append,
            )
    outcomes = [(call.outcome, call.units, call.cached) for call in failed]
    assert outcomes == [("error_retryable", 0, False), ("error_final", 0, False)]
    asset, call = make_scene_image(paid_scene(), provider=provider, storage=storage, work_dir=tmp_path / "work")
    assert (call.outcome, call.units, call.unit_kind, asset.cached) == ("ok", 3.0, "credits", False)
    asset, call = make_scene_image(paid_scene(), provider=provider, storage=storage, work_dir=tmp_path / "work")
    assert (call.outcome, call.units, asset.cached) == ("cached", 0, True)
    assert len(stability_stub.requests) == 3  # two failures, one image; the fourth came from storage


def test_workers_making_the_same_image_at_once_pay_once(stability_stub: Any, tmp_path: Path, repository: Any) -> None:
    stability_stub.plan(Fail(delay_s=1.0))  # the first call is slow: the second worker arrives meanwhile
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url)
    storage = LocalStorage(tmp_path / "storage")
    results: list[Any] = []

    def worker(index: int) -> None:
        # the same picture, asked for by scene 1 of one video and scene 4 of another
        scene = paid_scene(index, title=f"Video {index}")
        results.append(
            make_scene_image(
                scene, provider=provider, storage=storage, work_dir=tmp_path / f"w{index}", lock=repository.content_lock
            )
        )

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(stability_stub.requests) == 1
    assert sorted(call.outcome for _, call in results) == ["cached", "ok"]
    assert len({asset.storage_key for asset, _ in results}) == 1
