"""The Videos page against the running API server: its routes ask Airflow's auth manager (no token 401, a viewer
reads but may not delete), refuse cross-site state changes, serve the MP4 with HTTP Range, may be framed by this
site only; and in Debian's Chromium, the way operators reach it (Airflow's UI, Plugins → Videos, inside Airflow's
sandboxed frame): send back to the batch, delete with its inline confirmation, retry, retry with changes, links
that open Airflow's pages at the top, Airflow's light and dark theme, a viewer offered no action, a music upload;
and by its direct URL, the list and a detail whose video plays."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.music import make_sample_track
from tests.stack_helpers import DAG, PLAIN, SCREENSHOTS, run_state, videos_in_airflow, wait_for
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
    assert web["viewer"].get("/api/videos", params={"status": "exploded"}).status_code == 400
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
    vtt = viewer.get(f"/api/videos/{video}/files/webvtt")  # the player's <track>
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n") and vtt.text.count("-->") == srt.text.count("-->")
    image = viewer.get(f"/api/videos/{video}/files/image-1")
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/")
    assert viewer.get(f"/api/videos/{video}/files/image-7").status_code == 404
    for name in (f"image-{'9' * 30}", "image-٣", "narration--1", "image-1.0"):  # no scene, nothing out of range
        assert viewer.get(f"/api/videos/{video}/files/{name}").status_code == 404, name
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


def test_by_its_direct_url_the_list_and_a_detail_whose_video_plays(
    browser_page: Any, airflow_site: AirflowSite, video: str
) -> None:
    page = browser_page
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
    assert player.evaluate("v => v.textTracks.length === 1 && v.textTracks[0].kind === 'subtitles'")
    assert page.locator("#scenes img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(SCREENSHOTS / "videos-detail.png"), full_page=True)


def test_a_late_answer_to_the_first_load_does_not_replace_the_searchs(
    browser: Any, airflow_site: AirflowSite, video: str
) -> None:
    """The page lists videos as it opens; a search asked while that first answer is still on its way keeps its own
    result when the first answer arrives after it (a busy server answers in any order)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    _sign_in(page, airflow_site, AIRFLOW_USER)
    held: list[Any] = []

    def hold_the_first_load(route: Any) -> None:
        if "q=" in route.request.url:
            route.continue_()
        else:
            held.append(route)  # answered below, after the search's answer

    page.route("**/api/videos?*", hold_the_first_load)
    page.goto(f"{airflow_site.api_url}{PAGE}/videos")
    wait_for(lambda: held, timeout_s=30, what="the page's first list request", interval_s=0.1)
    page.get_by_role("searchbox").fill("no-title-has-this-word")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("page 1 of 1 (0 videos)").wait_for()
    with page.expect_response(lambda response: "/api/videos?" in response.url and "q=" not in response.url) as late:
        held[0].continue_()
    late.value.finished()
    assert late.value.json()["total"] >= 1  # the first load's answer did list the video ...
    # ... and the page has taken it in: its handler was queued when the body arrived, before this round trip ends
    page.evaluate("async () => { await (await fetch(location.href, {credentials: 'same-origin'})).text(); }")
    assert page.locator("tr.video").count() == 0  # ... yet the search's (empty) result stays
    assert page.get_by_text("page 1 of 1 (0 videos)").is_visible()
    assert page.locator("#list").get_attribute("aria-busy") == "false"
    context.close()


def test_through_airflows_menu_links_open_in_airflow_and_the_page_follows_its_theme(
    browser: Any, airflow_site: AirflowSite, video: str
) -> None:
    """A link to an Airflow page opens in Airflow itself (not a second Airflow inside the frame); the page is light
    or dark as Airflow is."""
    for scheme, background in (("dark", "rgb(17, 18, 23)"), ("light", "rgb(255, 255, 255)")):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=scheme)
        page = context.new_page()
        page.set_default_timeout(30_000)
        _sign_in(page, airflow_site, AIRFLOW_USER)
        frame = videos_in_airflow(page, airflow_site.api_url, request_key=video)
        html_class = page.evaluate("document.documentElement.className")
        assert scheme in html_class.split()  # Airflow's own theme (next-themes)
        assert frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor") == background
        page.screenshot(path=str(SCREENSHOTS / f"videos-in-airflow-{scheme}.png"))
        if scheme == "dark":  # the switch in Airflow's user menu is followed without a reload
            page.evaluate("document.documentElement.classList.replace('dark', 'light')")
            body = frame.locator("body")
            wait_for(
                lambda body=body: body.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(255, 255, 255)",
                timeout_s=10,
                what="the page to follow Airflow's theme",
                interval_s=0.2,
            )
        else:
            frame.get_by_role("link", name="DAG run").click()
            wanted = f"/dags/{DAG}/runs/video__{video}"  # a history entry of Airflow's router: no load event
            wait_for(
                lambda page=page, wanted=wanted: page.url.endswith(wanted),
                timeout_s=30,
                what="Airflow's run page",
                interval_s=0.2,
            )
            page.get_by_text("Task Instances").first.wait_for()
            page.locator("iframe[title=Videos]").wait_for(state="detached")  # Airflow's own page, at the top
        context.close()


def test_a_viewer_is_offered_no_write_action(browser: Any, airflow_site: AirflowSite, video: str) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    _sign_in(page, airflow_site, VIEWER_USER)
    frame = videos_in_airflow(page, airflow_site.api_url, request_key=video)
    frame.get_by_text(
        f"{VIEWER_USER} may watch and download videos, not retry or requeue, delete or start new runs"
    ).wait_for()
    for name in ("Retry the failed tasks", "Send back to the nightly batch", "Delete…", "Make it again with these"):
        assert (
            frame.get_by_role("button", name=name).count() == 0
            or not frame.get_by_role("button", name=name).is_visible()
        ), name
    assert not frame.locator("#upload").is_visible()
    frame.locator("#player").wait_for(state="visible")  # watching stays
    page.screenshot(path=str(SCREENSHOTS / "videos-viewer.png"))
    page.goto(f"{airflow_site.api_url}{PAGE}/new")
    page.locator("#readonly").wait_for()
    assert page.locator("#submit").is_disabled()
    context.close()


def _sign_in(page: Any, site: AirflowSite, user: str) -> None:
    page.goto(f"{site.api_url}/auth/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(site.password(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_the_pages_may_be_framed_by_this_site_only_and_run_only_their_own_script(
    web: dict[str, httpx.Client],
) -> None:
    for path in ("/videos", "/new"):
        answer = web["viewer"].get(path)
        policy = dict(part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";"))
        assert policy["frame-ancestors"] == "'self'"
        nonce = policy["script-src"].removeprefix("'nonce-").removesuffix("'")
        assert policy["default-src"] == "'none'" and len(nonce) >= 16
        assert answer.text.count(f'nonce="{nonce}"') >= 2  # the theme script and the page's own
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'self'" in web["viewer"].get("/api/videos").headers["content-security-policy"]


def test_through_airflows_menu_send_back_to_the_batch_and_delete_with_an_inline_confirmation(
    browser_page: Any, airflow: httpx.Client, airflow_site: AirflowSite, count_rows: Any
) -> None:
    """Inside Airflow's frame, sandboxed without allow-modals: a confirm() would be ignored (nothing happens, nothing
    is said), so the page asks inline; each outcome shows next to the buttons."""
    page = browser_page
    doomed = _make_video(airflow, "Doomed video")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    frame = videos_in_airflow(page, airflow_site.api_url, request_key=doomed)
    sandbox = page.locator("iframe[title=Videos]").get_attribute("sandbox") or ""
    assert "allow-scripts" in sandbox and "allow-modals" not in sandbox  # what the page has to live with

    frame.get_by_role("button", name="Send back to the nightly batch").click()
    frame.locator("#outcome", has_text="goes to the next nightly batch").wait_for()
    assert count_rows("requests", "request_key = :k AND status = 'pending'", k=doomed) == 1

    # delete: the question appears next to the button; "Keep it" deletes nothing, "Delete for good" deletes
    frame.get_by_role("button", name="Delete…").click()
    question = frame.get_by_role("alertdialog")
    question.wait_for()
    assert "cannot be undone" in question.inner_text() and doomed in question.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "videos-delete-question.png"), full_page=True)
    frame.get_by_role("button", name="Keep it").click()
    frame.locator("#outcome", has_text="Nothing was deleted.").wait_for()
    assert count_rows("requests", "request_key = :k", k=doomed) == 1
    frame.get_by_role("button", name="Delete…").click()
    frame.get_by_role("button", name="Delete for good").click()
    frame.get_by_text("Deleted Doomed video").wait_for()
    assert count_rows("requests", "request_key = :k", k=doomed) == 0
    assert not list((airflow_site.data_dir / "storage" / "videos" / doomed).glob("*.*"))  # MP4, SRT, WebVTT, JPG
    frame.locator(f'tr.video[data-key="{doomed}"]').wait_for(state="detached")  # the list is read again
    assert dialogs == []  # no browser dialog was ever asked for
    page.screenshot(path=str(SCREENSHOTS / "videos-deleted.png"), full_page=True)


def test_through_airflows_menu_retry_and_retry_with_changes(
    browser_page: Any, airflow: httpx.Client, airflow_site: AirflowSite, repository: Any, count_rows: Any
) -> None:
    page = browser_page
    key = _make_video(airflow, "Retried video")
    run_id = f"video__{key}"
    # its last task fails (set through the REST API, the failure recorded as the failure callback records it)
    patched = airflow.patch(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/publish/0", json={"new_state": "failed"})
    assert patched.status_code == 200, patched.text
    airflow.patch(f"/dags/{DAG}/dagRuns/{run_id}", json={"state": "failed"}).raise_for_status()
    repository.mark_failed(key, task_id="publish[0]", error="the storage was unreachable", dag_run_id=run_id)

    frame = videos_in_airflow(page, airflow_site.api_url, request_key=key)
    frame.get_by_text("failed in publish[0]: the storage was unreachable").wait_for()
    log_link = frame.get_by_role("link", name="log of publish[0]")
    assert log_link.get_attribute("href").endswith(f"/runs/{run_id}/tasks/publish/mapped/0")  # the instance's page
    page.screenshot(path=str(SCREENSHOTS / "videos-failed.png"), full_page=True)
    frame.get_by_role("button", name="Retry the failed tasks").click()
    # the outcome next to the button, the detail read again
    frame.locator("#outcome", has_text=f"Retrying 1 failed task(s) of {run_id}: the run is queued again.").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "videos-retried.png"), full_page=True)

    assert (
        wait_for(lambda: run_state(airflow, run_id), timeout_s=300, what="the retried run", interval_s=2) == "success"
    )
    publish = airflow.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/publish/0").json()
    assert publish["try_number"] == 2
    assert count_rows("projects", "dag_run_id = :r AND status = 'completed'", r=run_id) == 1

    # retry with changes: a new run of the same request with another voice; the first run stays
    frame = videos_in_airflow(page, airflow_site.api_url, request_key=key)
    frame.locator("#changes input[name=voice]").fill("en-gb")
    frame.get_by_role("button", name="Make it again with these").click()
    started = frame.locator("#outcome", has_text="the earlier run stays in Airflow")
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


def test_through_airflows_menu_a_track_is_uploaded_and_a_corrupt_one_refused_with_nothing_stored(
    browser_page: Any, airflow_site: AirflowSite, tmp_path: Path, count_rows: Any
) -> None:
    page = browser_page
    track = make_sample_track(tmp_path / "page-upload.wav", seconds=3)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(4000))  # a WAV's first bytes, then nothing a decoder can read
    frame = videos_in_airflow(page, airflow_site.api_url)
    upload = frame.locator("#upload")
    upload.locator("input[type=file]").set_input_files(str(track))
    upload.locator("input[name=licence]").fill("CC0, made by the test")
    upload.get_by_role("button", name="Upload").click()
    frame.locator("#upload-outcome", has_text="Added page-upload.wav (3.0 s)").wait_for()
    frame.locator("#tracks td", has_text="CC0, made by the test").wait_for()
    assert count_rows("music_tracks", "name = 'page-upload.wav' AND licence = 'CC0, made by the test'") == 1

    upload.locator("input[type=file]").set_input_files(str(corrupt))
    upload.get_by_role("button", name="Upload").click()
    refused = frame.locator("#upload-outcome.failed")
    refused.wait_for()
    assert "not an audio file ffprobe can read" in refused.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "videos-music-upload.png"), full_page=True)
    assert count_rows("music_tracks", "name = 'corrupt.wav'") == 0
    assert not (airflow_site.data_dir / "storage" / "music" / "corrupt.wav").exists()


def test_through_airflows_menu_a_clip_joins_the_library_and_a_corrupt_one_is_refused_with_nothing_stored(
    browser_page: Any, airflow_site: AirflowSite, tmp_path: Path, count_rows: Any
) -> None:
    from pipeline.library import make_sample_footage

    page = browser_page
    (clip, _), *_ = make_sample_footage(tmp_path, width=160, height=90, seconds=1.5)
    corrupt = tmp_path / "quay-corrupt.mp4"
    corrupt.write_bytes(clip.read_bytes()[:3000])  # the start of an MP4, cut off: nothing a decoder can play
    library = airflow_site.data_dir / "storage" / "library"
    stored_before = sum(1 for p in library.rglob("*") if p.is_file()) if library.is_dir() else 0
    frame = videos_in_airflow(page, airflow_site.api_url)
    upload = frame.locator("#library-upload")
    upload.locator("input[type=file]").set_input_files(str(clip))
    upload.locator("input[name=tags]").fill("harbour, <b>boats</b>")
    upload.locator("input[name=licence]").fill("CC0, made by the test")
    upload.get_by_role("button", name="Add to the library").click()
    frame.locator("#library-outcome", has_text=f"Added {clip.name} (video, tags: harbour, <b>boats</b>)").wait_for()
    frame.locator("#items td", has_text="harbour, <b>boats</b>").wait_for()  # shown as text, not markup
    assert frame.locator("#items b").count() == 0
    assert count_rows("library_items", "name = :n AND kind = 'video'", n=clip.name) == 1

    upload.locator("input[type=file]").set_input_files(str(corrupt))
    upload.get_by_role("button", name="Add to the library").click()
    refused = frame.locator("#library-outcome.failed")
    refused.wait_for()
    # cut before the index (unreadable) or inside the pictures (not decodable): which, depends on the clip's size
    assert re.search(r"not an image or a video ffprobe can read|cut short or damaged", refused.inner_text())
    page.screenshot(path=str(SCREENSHOTS / "videos-library-upload.png"), full_page=True)
    assert count_rows("library_items", "name = 'quay-corrupt.mp4'") == 0
    assert sum(1 for p in library.rglob("*") if p.is_file()) == stored_before + 1  # the clip; not the corrupt one


def test_through_airflows_menu_a_channel_is_saved_with_its_logo_and_a_bad_one_refused_in_one_line(
    browser_page: Any, airflow_site: AirflowSite, tmp_path: Path, count_rows: Any
) -> None:
    from PIL import Image

    page = browser_page
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (120, 60), (230, 20, 20, 255)).save(logo)
    frame = videos_in_airflow(page, airflow_site.api_url)
    form = frame.locator("#channel-form")
    form.locator("input[name=name]").fill("page-news")
    form.locator("input[name=title]").fill("Page <i>News</i>")
    form.locator("select[name=captions]").select_option("shorts")
    form.locator("input[name=caption_font]").fill("DejaVu Serif")
    form.locator("input[name=caption_size]").fill("120")
    form.locator("select[name=caption_position]").select_option("top")
    form.locator("input[name=caption_highlight]").fill("#00ffff")
    form.locator("input[name=card_font]").fill("DejaVu Serif")
    form.locator("input[name=voice]").fill("en-gb")
    form.locator("input[name=intro]").fill("Welcome")
    form.locator("input[name=logo]").set_input_files(str(logo))
    form.get_by_role("button", name="Save the channel").click()
    frame.locator("#channel-outcome.completed", has_text="Saved channel page-news").wait_for()
    row = frame.locator("#channel-list tr", has_text="page-news")
    row.wait_for()
    assert "Page <i>News</i>" in row.inner_text() and frame.locator("#channel-list i").count() == 0
    assert "top-right, 85 %" in row.inner_text() and "shorts, DejaVu Serif, 120 %, top" in row.inner_text()
    assert count_rows(
        "channels", "name = 'page-news' AND kit->>'captions' = 'shorts' AND kit->>'logo_key' LIKE 'brand/%'"
    )
    look = "kit->>'caption_highlight' = '#00FFFF' AND kit->>'caption_size' = '120'"
    look += " AND kit->>'card_font' = 'DejaVu Serif'"
    assert count_rows("channels", look) == 1

    # each refused in one line, the channel unchanged
    for name, bad, good, said in (
        ("caption_font", "Comic Nowhere", "DejaVu Serif", "caption_font: no font family 'Comic Nowhere'"),
        ("media_sources", "library, flickr", "", "media_sources.1: must be 'library' or 'pexels'"),
    ):
        form.locator(f"input[name={name}]").fill(bad)
        form.get_by_role("button", name="Save the channel").click()
        refused = frame.locator("#channel-outcome.failed")
        refused.wait_for()
        assert refused.inner_text().startswith(f"400: invalid channel: {said}")
        form.locator(f"input[name={name}]").fill(good)
    unchanged = "name = 'page-news' AND kit->>'caption_font' = 'DejaVu Serif' AND kit->'media_sources' = 'null'::jsonb"
    assert count_rows("channels", unchanged) == 1
    page.screenshot(path=str(SCREENSHOTS / "videos-channels.png"), full_page=True)


def test_through_airflows_menu_the_video_says_where_it_was_published(
    browser_page: Any, airflow_site: AirflowSite, video: str, video_engine: Any
) -> None:
    """Each destination's status under the player, a failure with its reason shown as text."""
    from sqlalchemy import text

    from pipeline.publish.store import open_publication, set_status

    with video_engine.connect() as conn:
        project = conn.execute(
            text(
                "SELECT p.id FROM video.projects p JOIN video.requests r ON r.id = p.request_id"
                " WHERE r.request_key = :k"
            ),
            {"k": video},
        ).scalar_one()
    live = open_publication(video_engine, project_id=project, language="", destination="cms", kind="webhook")
    set_status(video_engine, live.idempotency_key, "live", external_id="cms-7")
    refused = open_publication(video_engine, project_id=project, language="", destination="blog", kind="webhook")
    reason = "webhook: blog.example answered 401: <b>no</b> (check the destination's URL and secret)"
    set_status(video_engine, refused.idempotency_key, "failed", error=reason)
    frame = videos_in_airflow(browser_page, airflow_site.api_url, request_key=video)
    line = frame.locator("#d-published", has_text="Published to:")
    line.wait_for()
    assert line.inner_text() == f"Published to: blog failed: {reason} · cms live (cms-7)"
    assert frame.locator("#d-published b").count() == 0
