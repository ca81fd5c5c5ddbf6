from __future__ import annotations

import pytest

from pipeline.errors import InvalidRequest
from pipeline.segment import count_words, extract_keywords, segment_script, split_sentences


def test_abbreviations_do_not_end_sentences() -> None:
    text = "Dr. Smith met Mrs. Jones at 10 a.m. in the U.S. office. They ate fruit, e.g. apples and pears."
    assert split_sentences(text) == [
        "Dr. Smith met Mrs. Jones at 10 a.m. in the U.S. office.",
        "They ate fruit, e.g. apples and pears.",
    ]


def test_decimals_stay_inside_their_sentence() -> None:
    assert split_sentences("Pi is about 3.14159 and e is 2.718. Both are irrational.") == [
        "Pi is about 3.14159 and e is 2.718.",
        "Both are irrational.",
    ]


def test_quotes_close_with_their_sentence() -> None:
    assert split_sentences('He said "It works." Then he left. She asked, "Why?" Nobody knew.') == [
        'He said "It works."',
        "Then he left.",
        'She asked, "Why?"',
        "Nobody knew.",
    ]


def test_ellipsis_ends_a_sentence_only_before_a_capital() -> None:
    assert split_sentences("Wait... it was him. Then... Silence fell.") == [
        "Wait... it was him.",
        "Then...",
        "Silence fell.",
    ]
    assert split_sentences("It went on and on… The end.") == ["It went on and on…", "The end."]


def test_accented_and_non_latin_text() -> None:
    assert split_sentences("Ça coûte 3,50 €. Où est la gare? Très bien!") == [
        "Ça coûte 3,50 €.",
        "Où est la gare?",
        "Très bien!",
    ]
    assert split_sentences("今天天气很好。我们去公园吧！好的？") == ["今天天气很好。", "我们去公园吧！", "好的？"]
    assert split_sentences("Привет, мир. Как дела?") == ["Привет, мир.", "Как дела?"]
    scenes = segment_script("Ελληνικά κείμενα εδώ. Και άλλο ένα.\n\nمرحبا بالعالم. كيف حالك؟")
    assert [s.text for s in scenes] == ["Ελληνικά κείμενα εδώ. Και άλλο ένα.", "مرحبا بالعالم. كيف حالك؟"]
    assert "ελληνικά" in scenes[0].keywords


def test_very_long_sentence_is_cut_into_bounded_scenes() -> None:
    sentence = "The caravan moved on, " + ", ".join(f"past village number {i}" for i in range(60)) + "."
    scenes = segment_script(sentence, max_words=30)
    assert len(scenes) > 5
    assert all(count_words(s.text) <= 30 for s in scenes)
    # nothing is lost or reordered
    assert " ".join(s.text for s in scenes).split() == sentence.split()


def test_unbroken_run_without_spaces_is_cut_too() -> None:
    scenes = segment_script("字" * 500, max_words=40)
    assert all(count_words(s.text) <= 40 for s in scenes)
    assert "".join(s.text for s in scenes) == "字" * 500


def test_paragraphs_start_scenes_and_sentences_pack_within_the_bound() -> None:
    script = "One short line. Another short line.\n\nA new paragraph starts a new scene.\n \nAnd a third."
    scenes = segment_script(script, max_words=45)
    assert [s.text for s in scenes] == [
        "One short line. Another short line.",
        "A new paragraph starts a new scene.",
        "And a third.",
    ]
    assert [s.index for s in scenes] == [0, 1, 2]


def test_sentences_are_packed_up_to_the_bound_and_not_split() -> None:
    script = " ".join(f"Sentence number {i} has exactly seven words." for i in range(10))
    scenes = segment_script(script, max_words=20)
    assert all(count_words(s.text) <= 20 for s in scenes)
    assert all(s.text.endswith(".") for s in scenes)
    assert len(scenes) == 5  # two seven-word sentences per scene


@pytest.mark.parametrize("script", ["", "   ", "\n\n\t  \n", "... !!! ???"])
def test_empty_or_wordless_script_is_rejected(script: str) -> None:
    with pytest.raises(InvalidRequest, match="script"):
        segment_script(script)


def test_too_many_scenes_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match=r"makes 4 scenes; the limit is 3"):
        segment_script("a b.\n\nc d.\n\ne f.\n\ng h.", max_scenes=3)


def test_keywords_skip_stopwords_and_prefer_repeated_words() -> None:
    keywords = extract_keywords("The lighthouse keeper watched the lighthouse beam sweep over the rocks.")
    assert keywords[0] == "lighthouse"
    assert not {"the", "over"} & set(keywords)
    assert len(keywords) <= 4


def test_scene_has_a_visual_prompt_from_its_keywords() -> None:
    (scene,) = segment_script("Volcanoes erupt when magma rises through the crust.")
    assert scene.keywords
    assert scene.visual_prompt.startswith(", ".join(scene.keywords))
    assert "magma rises" in scene.visual_prompt
