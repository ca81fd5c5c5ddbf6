"""The trigger form of video_production in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.stack_helpers import DAG, SCREENSHOTS, run_state, wait_for
from tools.stack import AirflowSite


def _open_form(page: Any, airflow_site: AirflowSite) -> Any:
    page.goto(f"{airflow_site.api_url}/dags/{DAG}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#element_title").wait_for()
    return dialog


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _final_state(airflow: httpx.Client, run_id: str) -> str:
    return str(wait_for(lambda: run_state(airflow, run_id), timeout_s=300, what="the run to finish", interval_s=2))


def _runs_titled(airflow: httpx.Client, title: str) -> list[dict[str, Any]]:
    runs = airflow.get(f"/dags/{DAG}/dagRuns", params={"limit": 100, "order_by": "-run_after"}).json()["dag_runs"]
    return [r for r in runs if (r.get("conf") or {}).get("title") == title]


def test_a_script_only_request_needs_nothing_but_a_title_and_succeeds(
    browser_page: Any, airflow: httpx.Client, airflow_site: AirflowSite
) -> None:
    page = browser_page
    dialog = _open_form(page, airflow_site)
    submit = dialog.get_by_test_id("trigger-dag-submit")
    _shot(page, "form-empty")
    assert dialog.get_by_text("This field is required").first.is_visible()  # the title, inline
    assert submit.is_disabled()

    title = f"From the form {secrets.token_hex(3)}"
    dialog.locator("#element_title").fill(title)
    dialog.locator("#element_script").fill("The form works.\n\nEvery other field keeps its default.")
    _shot(page, "form-filled")
    assert submit.is_enabled()
    submit.click()

    run = wait_for(lambda: _runs_titled(airflow, title), timeout_s=60, what="the triggered run")[0]
    assert _final_state(airflow, run["dag_run_id"]) == "success"


@pytest.mark.parametrize(
    "case",
    [
        ("script", "x" * 20_001, "script: at most 20,000 characters (got 20,001)"),
        ("notify_emails", "not-an-email", "notify_emails.0: must be an email address like name@example.com"),
    ],
)
def test_a_bad_value_is_refused_in_the_form_with_one_line_and_no_run(
    browser_page: Any, airflow: httpx.Client, airflow_site: AirflowSite, case: tuple[str, str, str]
) -> None:
    page = browser_page
    field, value, message = case
    dialog = _open_form(page, airflow_site)
    title = f"Refused {field} {secrets.token_hex(3)}"
    dialog.locator("#element_title").fill(title)
    if field != "script":
        dialog.locator("#element_script").fill("A fine script.")
    target = dialog.locator(f"#element_{field}, input[name='element_{field}']").first  # a number input has the name
    if not target.is_visible():
        dialog.get_by_text("Look and sound", exact=True).click()
    target.fill(value)
    target.press("Tab")  # leave the field, as a person would
    submit = dialog.get_by_test_id("trigger-dag-submit")
    submit.click()
    alert = dialog.get_by_text(message)
    alert.wait_for()
    alert.scroll_into_view_if_needed()
    _shot(page, f"refused-{field}")
    assert alert.is_visible()
    assert not _runs_titled(airflow, title)


def test_a_crossfade_over_the_maximum_is_clamped_by_the_number_field(
    browser_page: Any, airflow_site: AirflowSite
) -> None:
    """Airflow's number field takes the schema's maximum: 5 s becomes 2 s when the field is left (no message)."""
    page = browser_page
    dialog = _open_form(page, airflow_site)
    dialog.get_by_text("Look and sound", exact=True).click()
    field = dialog.locator("input[name='element_crossfade_s']")
    field.fill("5")
    field.press("Tab")
    _shot(page, "crossfade-clamped")
    assert field.input_value() == "2"


NEW_VIDEO_CASES = [
    ("title", "", "required"),
    ("script", "x" * 20_001, "at most 20,000 characters (got 20,001)"),
    (
        "notify_emails",
        "ops@example.com\nnot-an-email",
        '"not-an-email": must be an email address like name@example.com',
    ),
    ("crossfade_s", "5", "must be at most 2 (got 5)"),
]


def test_the_new_video_page_checks_every_field_as_it_is_typed_and_submits(
    browser_page: Any, airflow: httpx.Client, airflow_site: AirflowSite
) -> None:
    """The plugin's "New video" page, generated from the model, as users reach it (Plugins → New video, inside
    Airflow's frame): inline messages, Submit disabled until fixed; the run's link opens the run in Airflow."""
    page = browser_page
    page.goto(f"{airflow_site.api_url}/")
    page.get_by_role("button", name="Plugins").click()
    page.get_by_role("menuitem", name="New video").click()
    form = page.frame_locator("iframe[title='New video']")
    submit = form.locator("#submit")
    form.locator("#error_title", has_text="required").wait_for()
    assert submit.is_disabled()
    from pipeline.request import form_fields

    missing = [name for name in form_fields() if form.locator(f"#field_{name}").count() != 1]
    assert missing == [], "every field of the request model has its place on the page"
    title = f"From the page {secrets.token_hex(3)}"
    good = {
        "title": title,
        "script": "The page works.\n\nEvery other field keeps its default.",
        "notify_emails": "ops@example.com",
        "crossfade_s": "0.5",
    }
    for field, value in good.items():
        form.locator(f"#field_{field}").fill(value)
    assert submit.is_enabled()
    for field, value, message in NEW_VIDEO_CASES:
        form.locator(f"#field_{field}").fill(value)
        assert form.locator(f"#error_{field}").inner_text() == message
        _shot(page, f"new-video-{field}")
        assert submit.is_disabled(), field
        form.locator(f"#field_{field}").fill(good[field])
        assert form.locator(f"#error_{field}").inner_text() == "" and submit.is_enabled()
    submit.click()
    form.get_by_text("Submitted: ").wait_for()
    _shot(page, "new-video-submitted")
    run = wait_for(lambda: _runs_titled(airflow, title), timeout_s=60, what="the submitted run")[0]
    assert run["conf"]["notify_emails"] == ["ops@example.com"] and run["conf"]["crossfade_s"] == 0.5
    form.get_by_role("link", name=run["dag_run_id"]).click()  # Airflow's run page, at the top, not in the frame
    wanted = f"/dags/{DAG}/runs/{run['dag_run_id']}"  # (a history entry of Airflow's router: no load event)
    wait_for(lambda: unquote(page.url).endswith(wanted), timeout_s=30, what="Airflow's run page", interval_s=0.2)
    page.locator("iframe[title='New video']").wait_for(state="detached")  # Airflow's own page replaced the frame
    assert _final_state(airflow, run["dag_run_id"]) == "success"


def test_the_new_video_page_needs_a_login_and_is_in_the_navigation(
    airflow: httpx.Client, airflow_site: AirflowSite
) -> None:
    assert httpx.get(f"{airflow_site.api_url}/video-factory/new", timeout=10).status_code in (401, 403)
    plugins = airflow.get("/plugins").json()["plugins"]
    (ours,) = [p for p in plugins if p["name"] == "video_factory"]
    assert [(v["name"], v["href"]) for v in ours["external_views"]] == [
        ("New video", "/video-factory/new"),
        ("Videos", "/video-factory/videos"),
    ]
