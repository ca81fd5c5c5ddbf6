"""Split a script into narrated scenes with NLTK: sentence-aware, bounded length, keywords per scene.

Works without any NLTK data (Punkt with a built-in abbreviation list, regex word tokens, a built-in stopword
list) and uses the downloaded models when they are present (``punkt_tab``, ``stopwords``, the POS tagger).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from pipeline.errors import InvalidRequest

if TYPE_CHECKING:
    from nltk.tokenize.punkt import PunktSentenceTokenizer

KEYWORDS_PER_SCENE = 4

# Without these, Punkt (untrained) would end a sentence after "Dr." or "e.g.".
KNOWN_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "ft",
        "rev",
        "gen",
        "col",
        "capt",
        "lt",
        "sgt",
        "gov",
        "sen",
        "rep",
        "pres",
        "e.g",
        "i.e",
        "etc",
        "vs",
        "cf",
        "al",
        "approx",
        "est",
        "dept",
        "fig",
        "no",
        "nos",
        "vol",
        "pp",
        "ch",
        "sec",
        "ed",
        "eds",
        "inc",
        "ltd",
        "co",
        "corp",
        "llc",
        "bros",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "a.m",
        "p.m",
        "u.s",
        "u.k",
        "u.n",
        "e.u",
        "ph.d",
        "m.d",
        "b.a",
        "m.a",
    ]
)

# NLTK's English stopwords (used instead when the corpus is downloaded), trimmed to the common core.
BUILTIN_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "one",
        "two",
        "three",
        "many",
        "much",
        "every",
        "may",
        "might",
        "must",
        "shall",
        "us",
        "get",
        "got",
        "make",
        "made",
        "like",
    ]
)

# what nltk's RegexpTokenizer(pattern).tokenize does (findall); nltk itself is imported only when a script is split,
# since importing it costs about 2 s of CPU (scipy.stats), which every task that imports the core would pay
_WORDS = re.compile(r"\w+(?:['’-]\w+)*", re.UNICODE | re.MULTILINE | re.DOTALL)
# Punkt never ends a sentence at an ellipsis; one followed by a capital letter does end it.
_ELLIPSIS_BOUNDARY = re.compile(r"(?:(?<=\.\.\.)|(?<=…))\s+(?=[\"“‘(\[]?[A-ZÀ-ÖØ-Þ])")
_CJK_STOP_WITHOUT_SPACE = re.compile(r"([。！？])(?=\S)")
_CLAUSE_BREAK = re.compile(r"(?<=[,;:—–])\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


SENTENCE_ENDS = (".", "?", "!", "。", "！", "？", "؟", "।", "‼", "⁉")  # also CJK, Arabic and Devanagari terminators


@dataclass(frozen=True)
class SceneText:
    """One scene as segmentation sees it, before it belongs to a project."""

    index: int
    text: str
    keywords: tuple[str, ...]
    visual_prompt: str


def segment_script(
    script: str, *, max_words: int = 45, max_scenes: int = 200, visuals: Sequence[str] | None = None
) -> list[SceneText]:
    """Split ``script`` into scenes of at most ``max_words`` spoken words.

    Blank lines (paragraphs) always start a new scene; inside a paragraph whole sentences are packed together;
    a sentence longer than ``max_words`` is cut at clause punctuation, then between words. ``visuals[i]``, when
    given (a generated script), is the visual prompt of every scene cut from paragraph ``i``.
    """
    text = unicodedata.normalize("NFC", script or "").strip()
    if not text:
        raise InvalidRequest("the script is empty: nothing to narrate")
    if max_words < 1:
        raise ValueError("max_words must be positive")

    paragraphs = _PARAGRAPH_BREAK.split(text)
    if visuals is not None and len(visuals) != len(paragraphs):
        raise ValueError(f"{len(visuals)} visual descriptions for {len(paragraphs)} paragraphs")
    chunks: list[str] = []
    chunk_visuals: list[str | None] = []
    for number, paragraph in enumerate(paragraphs):
        sentences = [piece for s in split_sentences(paragraph) for piece in _bounded(s, max_words)]
        packed = [chunk for chunk in _pack(sentences, max_words) if _WORDS.findall(chunk)]
        chunks.extend(packed)
        chunk_visuals.extend([visuals[number] if visuals is not None else None] * len(packed))
    if not chunks:
        raise InvalidRequest("the script has no words to narrate")
    if len(chunks) > max_scenes:
        raise InvalidRequest(
            f"the script makes {len(chunks)} scenes; the limit is {max_scenes}: shorten it or split the request"
        )
    stopwords = _stopwords()
    return [
        SceneText(
            index=i,
            text=chunk,
            keywords=(keywords := extract_keywords(chunk, stopwords=stopwords)),
            visual_prompt=chunk_visuals[i] or _visual_prompt(chunk, keywords),
        )
        for i, chunk in enumerate(chunks)
    ]


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: NLTK's trained Punkt model when downloaded, else Punkt with built-in rules."""
    text = _CJK_STOP_WITHOUT_SPACE.sub(r"\1 ", " ".join(text.split()))
    if not text:
        return []
    import nltk

    try:
        sentences = nltk.sent_tokenize(text)
    except LookupError:
        sentences = _offline_tokenizer().tokenize(text)
    return [part.strip() for s in sentences for part in _ELLIPSIS_BOUNDARY.split(s) if part.strip()]


def count_words(text: str) -> int:
    """Spoken-length estimate in words; scripts without spaces (CJK) count about 2 characters a word."""
    total = 0
    for token in _WORDS.findall(text):
        total += math.ceil(len(token) / 2) if _is_cjk(token) else 1
    return total


def extract_keywords(
    text: str, *, stopwords: frozenset[str] | None = None, limit: int = KEYWORDS_PER_SCENE
) -> tuple[str, ...]:
    """The scene's most telling words: frequent, long, not stopwords; nouns first when a tagger is present."""
    stopwords = _stopwords() if stopwords is None else stopwords
    tokens = [t for t in _WORDS.findall(text) if not t.isdigit()]
    candidates = [t for t in tokens if t.lower() not in stopwords and (len(t) > 2 or _is_cjk(t))]
    nouns = _nouns(candidates)
    counts = Counter(t.lower() for t in candidates)
    first_seen: dict[str, int] = {}
    for position, token in enumerate(candidates):
        first_seen.setdefault(token.lower(), position)

    def score(word: str) -> tuple[float, int]:
        return (
            counts[word] * (1 + min(len(word), 12) / 6) + (1.5 if word in nouns else 0),
            -first_seen[word],
        )

    return tuple(sorted(counts, key=score, reverse=True)[:limit])


def _bounded(sentence: str, max_words: int) -> Iterator[str]:
    """The sentence itself, or pieces of it of at most ``max_words``."""
    if count_words(sentence) <= max_words:
        yield sentence
        return
    clauses = [c for c in _CLAUSE_BREAK.split(sentence) if c.strip()]
    pieces: list[str] = []
    for clause in clauses:
        if count_words(clause) <= max_words:
            pieces.append(clause)
        else:
            pieces.extend(_split_words(clause, max_words))
    yield from _pack(pieces, max_words)


def _split_words(text: str, max_words: int) -> Iterator[str]:
    words = text.split()
    if len(words) == 1:  # one unbroken run (CJK): cut by characters
        step = max_words * 2
        yield from (text[i : i + step] for i in range(0, len(text), step))
        return
    current: list[str] = []
    for word in words:
        if current and count_words(" ".join([*current, word])) > max_words:
            yield " ".join(current)
            current = []
        current.append(word)
    if current:
        yield " ".join(current)


def _pack(pieces: Iterable[str], max_words: int) -> list[str]:
    packed: list[str] = []
    current: list[str] = []
    length = 0
    for piece in pieces:
        size = count_words(piece)
        if current and length + size > max_words:
            packed.append(" ".join(current))
            current, length = [], 0
        current.append(piece)
        length += size
    if current:
        packed.append(" ".join(current))
    return packed


def _visual_prompt(text: str, keywords: tuple[str, ...]) -> str:
    subject = ", ".join(keywords) if keywords else text[:80]
    first_sentence = (split_sentences(text) or [text])[0]
    return f"{subject}. {first_sentence[:200]}"


def _is_cjk(token: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in token)


@cache
def _offline_tokenizer() -> PunktSentenceTokenizer:
    from nltk.tokenize.punkt import PunktLanguageVars, PunktParameters, PunktSentenceTokenizer

    class LanguageVars(PunktLanguageVars):
        sent_end_chars = SENTENCE_ENDS

    params = PunktParameters()
    params.abbrev_types = set(KNOWN_ABBREVIATIONS)
    return PunktSentenceTokenizer(params, lang_vars=LanguageVars())


@cache
def _stopwords() -> frozenset[str]:
    try:
        from nltk.corpus import stopwords

        return frozenset(stopwords.words("english")) | BUILTIN_STOPWORDS
    except LookupError:
        return BUILTIN_STOPWORDS


def _nouns(tokens: list[str]) -> set[str]:
    if not tokens:
        return set()
    import nltk

    try:
        tagged = nltk.pos_tag(tokens)
    except LookupError:
        return set()
    return {word.lower() for word, tag in tagged if tag.startswith("NN")}
