"""Every text the request model accepts becomes a video, or is refused at the door: texts of extreme shape at the
model's limits (a 200-character title, a request id of 100, one unbroken word of thousands of characters, Markdown
and HTML, right-to-left and combining marks, emoji, invisible characters) are generated, and each one the model
accepts is pushed through every place its text goes: the mapped task's label and the batch's (Airflow's 250-character
column), the run's note (1,000), the review page's Markdown, the card, the subtitles, the storage keys and run ids.
The texts the model refuses are refused with one line.
"""

from __future__ import annotations

import re

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from PIL import Image

from pipeline.errors import InvalidRequest
from pipeline.images.procedural import card_background, draw_card_text
from pipeline.markdown import literal, plain
from pipeline.models import Scene, WordTiming
from pipeline.names import safe_name
from pipeline.render.spec import output_keys, spec_key
from pipeline.render.subtitles import WORD_JOINER, cues_for_scene, to_srt
from pipeline.request import VideoRequest, run_id_for
from pipeline.segment import segment_script
from video_factory.run_notes import MAX_NOTE_CHARS, note_of

AIRFLOW_LABEL_CHARS = 250  # task_instance.rendered_map_index
AIRFLOW_RUN_ID_CHARS = 250  # dag_run.run_id
BATCH_LABEL = re.search(
    r'map_index_template="(?P<template>[^"]+)"',
    (__import__("pathlib").Path(__file__).parents[2] / "dags" / "nightly_batch.py").read_text(),
)
MARKDOWN = MarkdownIt("gfm-like")  # CommonMark, tables, strikethrough and bare links: what Airflow's UI renders

# pieces the generated texts are made of: the shapes that break things
PIECES = st.sampled_from(
    [
        "**bold**",
        "_em_",
        "[a link](https://example.com)",
        "![an image](https://evil.example/pixel.png)",
        "<img src=https://evil.example/x.png>",
        "<script>alert(1)</script>",
        "# heading",
        "> quote",
        "- item",
        "1. item",
        "`code`",
        "| a | b |",
        "www.example.com",
        "a@example.com",
        "\\",
        "&amp;",
        "~~gone~~",
        "<!-- hidden -->",
        "\u202eevil\u202c",
        "\u200b",
        "e\u0301",
        "שלום",
        "مرحبا",
        "日本語の文章",
        "🎬🎞️👩‍👩‍👧",
        "{\\b1}",
        "\\N",
        "...",
        "Ünïcödé",
        " ",
    ]
)
WORDISH = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
TEXTS = st.lists(st.one_of(PIECES, WORDISH), min_size=1, max_size=20).map("".join)
TITLES = st.one_of(
    TEXTS,
    st.integers(1, 200).map(lambda n: "T" * n),  # the longest title
    st.builds(lambda piece, n: (piece * n)[:200], PIECES, st.integers(1, 200)),
)
REQUEST_IDS = st.one_of(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", fullmatch=True),
    st.just("r" * 100),
)
SCRIPTS = st.one_of(
    TEXTS,
    st.integers(1, 20_000).map(lambda n: "w" * n),  # one unbroken word, up to the script's limit
    st.integers(1, 400).map(lambda n: "日本" * n),  # an unbroken run of CJK
    st.builds(lambda a, b: f"{a}\n\n{b}", TEXTS, TEXTS),
)


def accepted(conf: dict[str, object]) -> VideoRequest | None:
    """The request the model makes of ``conf``, or None after checking its refusal is one line."""
    try:
        return VideoRequest.from_conf(conf)
    except InvalidRequest as exc:
        assert "\n" not in exc.message and len(exc.message) < 600, exc.message
        return None


def visible(html: str) -> str:
    """The text a browser shows of rendered Markdown (tags dropped, entities read)."""
    from html import unescape

    return unescape(re.sub(r"<[^>]+>", "", html))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=TITLES, request_id=REQUEST_IDS, script=SCRIPTS)
def test_an_accepted_text_fits_every_place_it_goes(title: str, request_id: str, script: str) -> None:
    request = accepted({"title": title, "request_id": request_id, "script": script})
    if request is None:
        return
    key = request.key
    # run ids and storage keys made of the request id fit Airflow's columns and stay one path segment
    assert len(run_id_for(key)) <= AIRFLOW_RUN_ID_CHARS
    assert len(f"{run_id_for(key)}__20261206") <= AIRFLOW_RUN_ID_CHARS  # the batch's run of it
    for storage_key in (*output_keys(key, run_id_for(key)), spec_key(key, run_id_for(key))):
        assert ".." not in storage_key.split("/") and safe_name(key) in storage_key

    # the batch's label of its trigger fits Airflow's column
    assert BATCH_LABEL is not None
    label = jinja2.Environment().from_string(BATCH_LABEL["template"]).render(task={"conf": request.to_conf()})
    assert 0 < len(label) <= AIRFLOW_LABEL_CHARS

    # the run's note fits its column and shows the title as written, nothing interpreted
    note = note_of(request.title)
    assert len(note) <= MAX_NOTE_CHARS
    assert plain(note) == " ".join(request.title.split())[: MAX_NOTE_CHARS // 2] or plain(note).endswith("…")
    shown = MARKDOWN.render(note)
    assert not re.search(r"<(a|img|em|strong|h\d|ul|ol|li|blockquote|code|table|del|script)\b", shown), shown
    assert " ".join(visible(shown).split()) == " ".join(plain(note).split())

    # every scene: its mapped task's label fits, its text reaches the subtitles intact
    for text in segment_script(request.script or "", max_words=45):  # a script the model accepts always splits
        scene = Scene(
            project_id=1,
            index=text.index,
            text=text.text,
            keywords=text.keywords,
            visual_prompt=text.visual_prompt,
            width=1280,
            height=720,
            voice="en-us",
            title=request.title,
        )
        assert 0 < len(scene.label) <= AIRFLOW_LABEL_CHARS
        words = scene.text.split()
        timings = [WordTiming(word=w, start_s=i * 0.3, end_s=i * 0.3 + 0.25) for i, w in enumerate(words)]
        srt = to_srt(cues_for_scene(timings, offset_s=0.0, scene_end_s=len(words) * 0.3 + 0.5))
        cue_words = [
            line
            for block in srt.strip().split("\n\n")
            for line in block.split("\n")[2:]  # number, times, then the text
        ]
        # the subtitles add invisible joiners after "\\" and "{" (so players show them as text), nothing else
        assert " ".join(cue_words).replace(WORD_JOINER, "").split() == " ".join(words).replace(WORD_JOINER, "").split()


@settings(max_examples=150, deadline=None)
@given(text=TEXTS)
def test_markdown_from_literal_renders_exactly_the_text(text: str) -> None:
    shown = MARKDOWN.render(literal(text))
    assert not re.search(r"<(a|img|em|strong|h\d|ul|ol|li|blockquote|code|table|del|script|pre)\b", shown), shown
    assert " ".join(visible(shown).split()) == " ".join(text.split())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=TITLES, keywords=st.lists(WORDISH | PIECES, max_size=3))
def test_a_card_draws_any_accepted_title_and_keywords(title: str, keywords: list[str]) -> None:
    request = accepted({"title": title, "script": "Hi."})
    if request is None:
        return
    image = card_background(title=request.title, prompt=" ".join(keywords), width=320, height=180)
    before = image.copy()
    draw_card_text(image, title=request.title, heading=keywords or ["Scene"], joiner=" · ", scene_number=200)
    assert image.size == (320, 180)
    assert image.tobytes() != before.tobytes()  # something was drawn


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"title": "a\ud800b", "script": "x"}, "title"),  # an unpaired surrogate: no text PostgreSQL can store
        ({"title": "t", "script": "x" * 20_001}, "script"),
        ({"title": "t", "script": "x", "request_id": "r" * 101}, "request_id"),
        ({"title": "x" * 201, "script": "x"}, "title"),
        ({"title": "t", "script": "a\x00b"}, "script"),
    ],
)
def test_what_cannot_become_a_video_is_refused_at_the_door_in_one_line(conf: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        VideoRequest.from_conf(conf)
    assert field in refused.value.message and "\n" not in refused.value.message


def test_an_image_of_the_card_is_rgb_at_the_frame_size() -> None:  # the card's contract, once, at full size
    image = card_background(title="Title", prompt="harbour", width=1280, height=720)
    draw_card_text(image, title="Title", heading=["Harbour"], joiner=" · ", scene_number=1)
    assert isinstance(image, Image.Image) and image.size == (1280, 720)
