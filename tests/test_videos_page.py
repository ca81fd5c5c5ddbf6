"""The Videos page against the running API server: its routes ask Airflow's auth manager (no token 401, a viewer
reads but may not delete), refuse cross-site state changes, serve the MP4 with HTTP Range; and in Debian's
Chromium: the list, a detail whose video plays, and a delete with its confirmation."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.stack_helpers import DAG, PLAIN, SCREENSHOTS, run_state, wait_for
from tools.stack import AIRFLOW_USER, VIEWER_USER, AirflowSite

PAGE = "/video-factory"
SCRIPT = "The harbour wakes before dawn and the boats slip out.\n\nGulls follow them past the old lighthouse."


def _make_video(airflow: httpx.Client, title: str) -> str:
    """A real video of two scenes, made by the running Airflow; the title ends with its request id."""
    request_id = f"page-{secrets.token_hex(4)}"
    title = f"{title} {request_id}"
    body = {
        "dag_run_id": f"video__{request_id}",
        "logical_date": None,
        "conf": {"request_id": request_id, "title": title, "script": SCRIPT, **PLAIN},
    }
    assert airflow.post(f"/dags/{DAG}/dagRuns", json=body).status_code == 200

    ended = wait_for(lambda: run_state(airflow, f"video__{request_id}"), timeout_s=600, what="the video", interval_s=1)
    assert ended == "success"
    return request_id


@pytest.fixture(scope="module")
def web(airflow: httpx.Client, airflow_site: AirflowSite) -> Iterator[dict[str, httpx.Client]]:
    """Clients of the plugin's routes: anonymous, as the viewer, as the admin."""

    def client(user: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {airflow_site.api(user).access_token}"} if user else {}
        return httpx.Client(base_url=f"{airflow_site.api_url}{PAGE}", headers=headers, timeout=30)

    clients = {"anonymous": client(None), "viewer": client(VIEWER_USER), "admin": client(AIRFLOW_USER)}
    yield clients
    for one in clients.values():
        one.close()


@pytest.fixture(scope="module")
def video(airflow: httpx.Client) -> str:
    return _make_video(airflow, "Videos page")


def test_every_route_needs_a_login_and_a_viewer_reads(web: dict[str, httpx.Client], video: str) -> None:
    for path in ("/videos", "/api/videos", f"/api/videos/{video}", f"/api/videos/{video}/files/video"):
        assert web["anonymous"].get(path).status_code == 401, path
    listed = web["viewer"].get("/api/videos", params={"q": video})
    assert listed.status_code == 200
    (item,) = [i for i in listed.json()["items"] if i["request_key"] == video]
    assert (item["status"], item["scene_count"], item["width"]) == ("completed", 2, 1280)
    detail = web["viewer"].get(f"/api/videos/{video}").json()
    assert [s["scene_index"] for s in detail["scenes"]] == [0, 1]
    assert all(s["image_key"] and s["narration_key"] for s in detail["scenes"])
    assert web["viewer"].get("/api/videos", params={"status": "exploded"}).status_code == 422
    assert web["viewer"].get("/api/videos/no-such-video").status_code == 404


def test_the_video_is_served_with_range_requests_and_the_srt_as_a_download(
    web: dict[str, httpx.Client], video: str
) -> None:
    viewer = web["viewer"]
    part = viewer.get(f"/api/videos/{video}/files/video", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.headers["content-type"] == "video/mp4" and part.headers["content-range"].startswith("bytes 0-99/")
    assert len(part.content) == 100 and part.content[4:8] == b"ftyp"
    srt = viewer.get(f"/api/videos/{video}/files/subtitles")
    assert srt.status_code == 200 and "attachment" in srt.headers["content-disposition"]
    assert "-->" in srt.text
    image = viewer.get(f"/api/videos/{video}/files/image-1")
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/")
    assert viewer.get(f"/api/videos/{video}/files/image-7").status_code == 404
    assert viewer.get(f"/api/videos/{video}/files/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_state_changes_need_edit_rights_and_cannot_be_forged_cross_site(
    web: dict[str, httpx.Client], video: str, count_rows: Any
) -> None:
    page_header = {"X-Video-Factory": "1"}
    assert web["viewer"].delete(f"/api/videos/{video}", headers=page_header).status_code == 403
    assert web["anonymous"].delete(f"/api/videos/{video}", headers=page_header).status_code == 401
    forged = web["admin"].delete(f"/api/videos/{video}")  # what a cross-site form could send: no page header
    assert forged.status_code == 403 and "X-Video-Factory" in forged.json()["detail"]
    foreign = web["admin"].delete(f"/api/videos/{video}", headers={**page_header, "Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert web["viewer"].post(f"/api/videos/{video}/requeue", headers=page_header).status_code == 403
    assert count_rows("requests", "request_key = :k AND status = 'completed'", k=video) == 1


def test_in_the_browser_the_list_the_player_and_a_delete(
    browser_page: Any, airflow: httpx.Client, airflow_site: AirflowSite, video: str, count_rows: Any
) -> None:
    page = browser_page
    doomed = _make_video(airflow, "Doomed video")
    page.goto(f"{airflow_site.api_url}{PAGE}/videos")
    page.get_by_role("searchbox").fill(video)
    page.get_by_role("button", name="Show").click()
    row = page.locator(f'tr.video[data-key="{video}"]')
    row.wait_for()
    assert "completed" in row.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "videos-list.png"), full_page=True)

    row.click()
    page.locator("#detail:not([hidden])").wait_for()
    player = page.locator("#player")
    player.evaluate("v => { v.muted = true; return v.play(); }")
    wait_for(lambda: player.evaluate("v => v.readyState") >= 2, timeout_s=30, what="the video to load")
    first = player.evaluate("v => v.currentTime")
    wait_for(lambda: player.evaluate("v => v.currentTime") > first + 0.5, timeout_s=30, what="the video to play")
    assert page.locator("#scenes tr.scene").count() == 2
    assert page.locator("#scenes img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(SCREENSHOTS / "videos-detail.png"), full_page=True)

    # send it back to the nightly batch: pending again, due at the next batch
    page.goto(f"{airflow_site.api_url}{PAGE}/videos#video={doomed}")
    # only the hash changes: the detail of the first video stays on screen until this one's has loaded (the fresh-
    # clone CI of f8e23c8 clicked before that and sent the first video back instead)
    page.locator("#d-title", has_text=doomed).wait_for()
    page.get_by_role("button", name="Send back to the nightly batch").click()
    page.get_by_text("goes to the next nightly batch").wait_for()
    assert count_rows("requests", "request_key = :k AND status = 'pending'", k=doomed) == 1

    # delete, answering the confirmation: first "cancel" (nothing happens), then "OK"
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete…").click()
    assert count_rows("requests", "request_key = :k", k=doomed) == 1
    seen: list[str] = []
    page.once("dialog", lambda dialog: (seen.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Delete…").click()
    page.get_by_text("Deleted Doomed video").wait_for()
    assert "cannot be undone" in seen[0]
    assert count_rows("requests", "request_key = :k", k=doomed) == 0
    assert not list((airflow_site.data_dir / "storage" / "videos" / doomed).glob("*.mp4"))
    page.screenshot(path=str(SCREENSHOTS / "videos-deleted.png"), full_page=True)


def test_in_the_browser_retry_and_retry_with_changes(
    browser_page: Any, airflow: httpx.Client, airflow_site: AirflowSite, repository: Any, count_rows: Any
) -> None:
    page = browser_page
    key = _make_video(airflow, "Retried video")
    run_id = f"video__{key}"
    # its last task fails (set through the REST API, the failure recorded as the failure callback records it)
    patched = airflow.patch(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/publish", json={"new_state": "failed"})
    assert patched.status_code == 200, patched.text
    airflow.patch(f"/dags/{DAG}/dagRuns/{run_id}", json={"state": "failed"}).raise_for_status()
    repository.mark_failed(key, task_id="publish", error="the storage was unreachable", dag_run_id=run_id)

    page.goto(f"{airflow_site.api_url}{PAGE}/videos#video={key}")
    page.get_by_text("failed in publish: the storage was unreachable").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "videos-failed.png"), full_page=True)
    page.get_by_role("button", name="Retry the failed tasks").click()
    page.get_by_text(f"Retrying the failed tasks of {run_id}").wait_for()

    assert (
        wait_for(lambda: run_state(airflow, run_id), timeout_s=300, what="the retried run", interval_s=2) == "success"
    )
    publish = airflow.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/publish").json()
    assert publish["try_number"] == 2
    assert count_rows("projects", "dag_run_id = :r AND status = 'completed'", r=run_id) == 1

    # retry with changes: a new run of the same request with another voice; the first run stays
    page.goto(f"{airflow_site.api_url}{PAGE}/videos#video={key}")
    page.locator("#detail:not([hidden])").wait_for()
    page.locator("#changes input[name=voice]").fill("en-gb")
    page.get_by_role("button", name="Make it again with these").click()
    started = page.get_by_text("the earlier run stays in Airflow")
    started.wait_for()
    new_run = started.inner_text().split()[1].rstrip(";")
    assert new_run.startswith(f"{run_id}__retry_")

    def new_run_ended() -> str | None:
        state = airflow.get(f"/dags/{DAG}/dagRuns/{new_run}").json()["state"]
        return state if state in ("success", "failed") else None

    assert wait_for(new_run_ended, timeout_s=600, what="the run with changes", interval_s=3) == "success"
    assert airflow.get(f"/dags/{DAG}/dagRuns/{run_id}").json()["state"] == "success"  # kept
    assert count_rows("projects", "dag_run_id = :r AND status = 'completed'", r=new_run) == 1
    assert count_rows("rendered_videos", "dag_run_id IN (:a, :b) AND published", a=run_id, b=new_run) == 2
    assert count_rows("requests", "request_key = :k AND voice = 'en-gb'", k=key) == 1
