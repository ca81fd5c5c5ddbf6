"""A video request, defined once: the trigger form, the REST conf, the script table and the CLI come from here.

A request arrives as a flat JSON object (the DAG run's conf). ``VideoRequest.from_conf`` is the only way in: it
refuses unknown keys and states every problem in one line. ``form_fields`` turns the model into the JSON schema
of each flat field (types, bounds, enums, defaults, titles, descriptions, form sections); the DAG's Params are
made from it, so the form and the model cannot disagree.

This module imports nothing heavy: the DAG file imports it at parse time.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.errors import InvalidRequest

Aspect = Literal["16:9", "9:16", "1:1"]
ImageProviderName = Literal["procedural", "stability"]
VoiceProviderName = Literal["espeak", "polly"]
MediaSourceName = Literal["library", "pexels"]
CaptionPreset = Literal["classic", "boxed", "shorts"]
ClipFit = Literal["crop", "blur"]
IMAGE_PROVIDERS: tuple[str, ...] = get_args(ImageProviderName)
VOICE_PROVIDERS: tuple[str, ...] = get_args(VoiceProviderName)
MEDIA_SOURCES: tuple[str, ...] = get_args(MediaSourceName)
CAPTION_PRESETS: tuple[str, ...] = get_args(CaptionPreset)

# (aspect, resolution) -> (width, height): "resolution" is the short side of the frame.
FRAME_SIZES: dict[tuple[str, int], tuple[int, int]] = {
    ("16:9", 720): (1280, 720),
    ("16:9", 1080): (1920, 1080),
    ("9:16", 720): (720, 1280),
    ("9:16", 1080): (1080, 1920),
    ("1:1", 720): (720, 720),
    ("1:1", 1080): (1080, 1080),
}

_NARRATED_WORD = re.compile(r"\w", re.UNICODE)  # what the segmenter counts as (part of) a word
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
# Patterns are valid in Python's and JavaScript's syntax (the New video page checks them in the browser).
EMAIL_PATTERN = r'^[^@\s<>,;"\x00-\x1f\x7f-\x9f]+@[^@\s<>,;"\x00-\x1f\x7f-\x9f]+\.[^@\s<>,;"\x00-\x1f\x7f-\x9f]+$'
MUSIC_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"
# some text on one line: no control characters, no Unicode line or paragraph separator
ONE_LINE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\x00-\x20\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
NO_CONTROLS = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
NO_NUL = r"^[^\x00]*$"  # free text: newlines and tabs are kept, other control characters are dropped
_DROPPED = {c: None for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\n\t"}
MOOD_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$"
MAX_TRANSLATIONS = 10
ONE_LINE_PATTERNS = frozenset(
    {REQUEST_ID_PATTERN, EMAIL_PATTERN, MUSIC_PATTERN, MOOD_PATTERN, LANGUAGE_PATTERN, ONE_LINE, NO_CONTROLS}
)
MAX_TITLE_CHARS = 200
MAX_SCRIPT_CHARS = 20_000
MAX_EMAILS = 20
SHOWN_VALUE_CHARS = 60  # of a refused value, in an error message
DEFAULT_VOICE = "en-us"

GENERATION = "Script generation (only when no script is given)"
PROVIDERS = "Providers"
LOOK = "Look and sound"
TRACKING = "Tracking"
LANGUAGES = "Languages"


def _whole_number(value: object) -> object:
    """JSON has one number type: 60.0 is the integer 60 (as JSON Schema says), 60.5 is not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON types exactly: no "true" for a boolean, no "60" for a number (the Param schema refuses them too).
Flag = Annotated[bool, Strict()]
WholeNumber = Annotated[int, BeforeValidator(_whole_number), Strict()]
Number = Annotated[float, Strict()]
Resolution = Annotated[Literal[720, 1080], BeforeValidator(_whole_number)]


def _one_line(pattern: str) -> BeforeValidator:
    """Refuse a final line break the way the pattern refuses any other: Python's ``re`` (the engine of both the
    model and the trigger form's schema) lets ``$`` match before it. The schema says the same with ``not``."""

    def check(value: object) -> object:
        if isinstance(value, str) and value.endswith("\n"):
            raise PydanticCustomError(
                "string_pattern_mismatch", "String should match pattern '{pattern}'", {"pattern": pattern}
            )
        return value

    return BeforeValidator(check)


Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254), _one_line(EMAIL_PATTERN)]
Language = Annotated[str, Field(pattern=LANGUAGE_PATTERN, max_length=12), _one_line(LANGUAGE_PATTERN)]


class _Request(BaseModel):
    # python-re: the same regular-expression engine as the JSON Schema validator of the trigger form
    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")


class LookAndSound(_Request):
    """How the video looks and sounds; the render spec takes these defaults too."""

    model_config = ConfigDict(title=LOOK)

    ken_burns: Flag = Field(default=True, title="Ken Burns motion", description="Slow zoom and pan over each still.")
    crossfade_s: Number = Field(
        default=0.5, ge=0, le=2, title="Crossfade (s)", description="Length of the crossfade between scenes; 0 cuts."
    )
    scene_padding_s: Number = Field(
        default=0.3, ge=0, le=3, title="Pause after each scene (s)", description="Silence after each narration."
    )
    burn_subtitles: Flag = Field(
        default=True,
        title="Burn in subtitles",
        description="Word-timed subtitles drawn on the picture (the SRT file is always made).",
    )
    soft_subtitles: Flag = Field(default=True, title="Subtitle track", description="A switchable track in the MP4.")
    captions: CaptionPreset | None = Field(
        default=None,
        title="Caption style",
        description="How burned-in subtitles look: classic (outlined, at the bottom), boxed (on a dark band), "
        "shorts (large, centred, each word highlighted as it is spoken). Empty: the channel's, else classic.",
        json_schema_extra={
            "values_display": {
                "classic": "Classic: outlined, bottom",
                "boxed": "Boxed: on a dark band",
                "shorts": "Shorts: large, centred, word by word",
            }
        },
    )
    clip_fit: ClipFit = Field(
        default="crop",
        title="Fit footage",
        description="A clip or photo of another shape than the frame: crop it to fill the frame, or show it whole "
        "on a blurred copy of itself.",
        json_schema_extra={"values_display": {"crop": "Crop to fill", "blur": "Whole, on a blurred background"}},
    )
    music: Annotated[str | None, _one_line(MUSIC_PATTERN)] = Field(
        default=None,
        pattern=MUSIC_PATTERN,
        title="Background music",
        description="File name of a track in the music folder (storage key music/NAME); empty for none. "
        "It is looped or trimmed, ducked under the voice and faded.",
    )
    music_mood: Annotated[str | None, _one_line(MOOD_PATTERN)] = Field(
        default=None,
        pattern=MOOD_PATTERN,
        title="Music mood",
        description="When no track is named: a track of the music library with this mood (e.g. calm, upbeat), "
        "the same one for the same request.",
    )


class VideoRequest(_Request):
    """What content ops ask for: one DAG run's conf, or one row of the request table."""

    title: Annotated[str, _one_line(ONE_LINE)] = Field(
        min_length=1,
        max_length=MAX_TITLE_CHARS,
        pattern=ONE_LINE,
        title="Title",
        description="Shown on the scene cards, in the video's metadata and in the emails.",
    )
    script: str | None = Field(
        default=None,
        max_length=MAX_SCRIPT_CHARS,
        pattern=NO_NUL,
        title="Script",
        description="The narration. Blank lines start a new scene; long paragraphs are split at sentences. "
        "Leave empty to write one from the topic.",
        json_schema_extra={"format": "multiline"},
    )
    channel: Annotated[str | None, _one_line(REQUEST_ID_PATTERN)] = Field(
        default=None,
        pattern=REQUEST_ID_PATTERN,
        title="Channel",
        description="A channel's brand kit (logo, intro and outro, card colours, caption style, voice, music, "
        "media sources) fills in what this request leaves empty (videoctl channel list shows them).",
    )
    voice: Annotated[str | None, _one_line(NO_CONTROLS)] = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=NO_CONTROLS,
        title="Voice",
        description="A voice of the voice provider: espeak-ng en-us, en-gb, de, fr, es, ...; "
        f"Amazon Polly Joanna, Matthew, Amy, Vicki, ... Empty: the channel's voice, else {DEFAULT_VOICE}.",
    )
    aspect: Aspect = Field(
        default="16:9",
        title="Aspect ratio",
        json_schema_extra={
            "values_display": {"16:9": "16:9 landscape", "9:16": "9:16 vertical (shorts)", "1:1": "1:1 square"}
        },
    )
    resolution: Resolution = Field(
        default=720,
        title="Resolution",
        description="The frame's short side in pixels.",
        json_schema_extra={"values_display": {"720": "720p", "1080": "1080p"}},
    )
    notify_emails: tuple[Email, ...] | None = Field(
        default=None,
        max_length=MAX_EMAILS,
        title="Notify",
        description="Addresses that get the 'video ready' or 'video failed' email, one per line; "
        "empty: the factory's ops address.",
    )
    topic: str | None = Field(
        default=None,
        max_length=2_000,
        pattern=NO_NUL,
        title="Topic",
        description="What a generated script is about (needs a script generator configured).",
        json_schema_extra={"section": GENERATION},
    )
    tone: str | None = Field(
        default=None,
        max_length=200,
        pattern=NO_NUL,
        title="Tone",
        description="For a generated script, e.g. 'warm and curious'.",
        json_schema_extra={"section": GENERATION},
    )
    audience: str | None = Field(
        default=None,
        max_length=200,
        pattern=NO_NUL,
        title="Audience",
        description="For a generated script, e.g. 'beginners, age 12 and up'.",
        json_schema_extra={"section": GENERATION},
    )
    target_duration_s: WholeNumber = Field(
        default=60,
        ge=10,
        le=900,
        title="Target length (s)",
        description="About how long the generated narration should be.",
        json_schema_extra={"section": GENERATION},
    )
    voice_provider: VoiceProviderName | None = Field(
        default=None,
        title="Voice provider",
        description="Empty: the factory's default (setting VIDEO_VOICE_PROVIDER).",
        json_schema_extra={
            "section": PROVIDERS,
            "values_display": {"espeak": "espeak-ng (offline, free)", "polly": "Amazon Polly (neural)"},
        },
    )
    image_provider: ImageProviderName | None = Field(
        default=None,
        title="Image provider",
        description="Empty: the factory's default (setting VIDEO_IMAGE_PROVIDER).",
        json_schema_extra={
            "section": PROVIDERS,
            "values_display": {"procedural": "Title cards (offline, free)", "stability": "Stability AI"},
        },
    )
    media_sources: tuple[MediaSourceName, ...] | None = Field(
        default=None,
        max_length=len(MEDIA_SOURCES),
        title="Media sources",
        description="Where each scene's picture is looked for first, in order, one per line: library (the team's "
        "own images and clips, by tags), pexels (stock footage and photos); a scene nothing matches gets a "
        "picture from the image provider. Empty: the factory's default (setting VIDEO_MEDIA_SOURCES).",
        json_schema_extra={"section": PROVIDERS, "uniqueItems": True},
    )
    translations: tuple[Language, ...] | None = Field(
        default=None,
        max_length=MAX_TRANSLATIONS,
        title="Also in",
        description="Other languages to make this video in as well, one per line (de, fr, es, pt-BR, ...): each is "
        "a version of its own with the same pictures, its narration and title translated (VIDEO_TRANSLATOR), "
        "spoken by a voice of that language and captioned in it.",
        json_schema_extra={"section": LANGUAGES, "uniqueItems": True},
    )
    translated_scripts: dict[Language, Annotated[str, Field(max_length=MAX_SCRIPT_CHARS, pattern=NO_NUL)]] | None = (
        Field(
            default=None,
            title="Translated scripts",
            description='Scripts translated by you, by language, as a JSON object ({"de": "..."}); each '
            "splits into as many scenes as the script (give it the same paragraphs). A language here is not sent "
            "to the translator; it must be listed in Also in.",
            json_schema_extra={"section": LANGUAGES},
        )
    )
    look: LookAndSound = Field(default_factory=LookAndSound)
    request_id: Annotated[str | None, _one_line(REQUEST_ID_PATTERN)] = Field(
        default=None,
        pattern=REQUEST_ID_PATTERN,
        title="Request id",
        description="Stable id of the request (letters, digits, . _ -): one video per id, so a second run of "
        "an id makes nothing new unless 'Make again' is set; empty: one is made from the run id.",
        json_schema_extra={"section": TRACKING},
    )
    rerender: Flag = Field(
        default=False,
        title="Make again",
        description="Make the video again although this request id already has a finished one (new images "
        "and voices are still taken from storage when their inputs are unchanged). Off: a second run of a "
        "finished or running request ends early and says so.",
        json_schema_extra={"section": TRACKING},
    )
    review: Flag = Field(
        default=False,
        title="Review the script first",
        description="Wait after the script is split into scenes until an editor approves it, edits it or rejects "
        "it (Airflow's Required actions, or the Videos page's link); no image or voice is paid for before. "
        "Rows of the nightly batch get it when VIDEO_BATCH_REVIEW is on.",
        json_schema_extra={"section": TRACKING},
    )
    priority: WholeNumber = Field(
        default=0,
        ge=0,
        le=100,
        title="Priority",
        description="0-100: when the workers are busy, the tasks of higher-priority videos run first (the "
        "nightly batch also starts them first).",
        json_schema_extra={"section": TRACKING},
    )

    @field_validator("title")
    @classmethod
    def _title_trimmed(cls, value: str) -> str:
        return unicodedata.normalize("NFC", value.strip())

    @field_validator("script", "topic", "tone", "audience")
    @classmethod
    def _text_cleaned(cls, value: str | None) -> str | None:
        """Text is NFC-normalised once, here; newlines and tabs stay, other control characters go."""
        return None if value is None else unicodedata.normalize("NFC", value.translate(_DROPPED))

    @field_validator("translated_scripts")
    @classmethod
    def _scripts_cleaned(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        return {key: unicodedata.normalize("NFC", text.translate(_DROPPED)) for key, text in value.items()}

    @model_validator(mode="after")
    def _translated_languages_are_asked_for(self) -> VideoRequest:
        asked = {language.lower() for language in self.translations or ()}
        extra = sorted(key for key in self.translated_scripts or {} if key.lower() not in asked)
        if extra:
            raise ValueError(f"translated_scripts: {', '.join(extra)} not in Also in (translations): add it there")
        return self

    @model_validator(mode="after")
    def _something_to_narrate(self) -> VideoRequest:
        """A script with words to narrate, or a topic to write one from: what register would refuse later is refused
        here, at the door (a script of emoji or punctuation only splits into no scene)."""
        if self.has_script:
            if not _NARRATED_WORD.search(self.script or ""):
                raise ValueError("script: has no words to narrate (only symbols, emoji or spaces): write some words")
        elif not (self.topic or "").strip():
            raise ValueError("script: give a script, or a topic to generate one from")
        return self

    @field_validator("media_sources")
    @classmethod
    def _each_source_once(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("name each source once")
        return value

    @field_validator("translations")
    @classmethod
    def _each_language_once(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len({v.lower() for v in value}) != len(value):
            raise ValueError("name each language once")
        return value

    @property
    def key(self) -> str:
        """The request id (``from_conf`` always fills it in)."""
        if self.request_id is None:
            raise ValueError("the request has no id: parse it with VideoRequest.from_conf")
        return self.request_id

    @property
    def voice_name(self) -> str:
        """The voice asked for, or the default one (a channel's is filled in by ``register``)."""
        return self.voice or DEFAULT_VOICE

    @property
    def frame_size(self) -> tuple[int, int]:
        return FRAME_SIZES[(self.aspect, self.resolution)]

    @property
    def has_script(self) -> bool:
        return bool(self.script and self.script.strip())

    @property
    def emails(self) -> tuple[str, ...]:
        return self.notify_emails or ()

    @classmethod
    def from_conf(cls, conf: dict[str, Any], *, default_id: str | None = None) -> VideoRequest:
        """Validate a flat conf (the trigger form's fields), raising ``InvalidRequest`` with a one-line reason.

        ``default_id`` becomes the request id when the conf has none (e.g. one derived from the run id).
        """
        unknown = unknown_keys(conf)
        if unknown:
            raise InvalidRequest(
                f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(_shown, unknown))} in the request: "
                f"remove {'them' if len(unknown) > 1 else 'it'} (the fields are listed in README.md, 'Requests')"
            )
        try:
            return cls._nested(conf, default_id)
        except ValidationError as exc:
            raise InvalidRequest(one_line_reason(exc)) from None

    @classmethod
    def _nested(cls, conf: dict[str, Any], default_id: str | None) -> VideoRequest:
        """The flat conf validated as the model (the look-and-sound fields nested), or ``ValidationError``."""
        data = dict(conf)
        look = {name: data.pop(name) for name in LookAndSound.model_fields if name in data}
        if default_id and not data.get("request_id"):
            data["request_id"] = default_id
        return cls.model_validate({**data, "look": look})

    def to_conf(self) -> dict[str, Any]:
        """The flat conf of this request (what ``from_conf`` reads back)."""
        data = self.model_dump(mode="json", exclude={"look"})
        return {**data, **self.look.model_dump(mode="json")}


def without_unknown_keys(conf: dict[str, Any]) -> dict[str, Any]:
    """The part of a flat conf that names request fields (what ``from_conf`` would not refuse as unknown)."""
    fields = {*VideoRequest.model_fields, *LookAndSound.model_fields} - {"look"}
    return {key: value for key, value in conf.items() if key in fields}


def run_id_for(request_id: str) -> str:
    """The DAG run id a client gives a request's run: readable in the UI, and one per request id."""
    return f"video__{request_id}"


def one_line_reason(exc: ValidationError) -> str:
    """Every problem of a refused request in one line, naming the field and the limit, never the whole value."""
    return "invalid video request: " + "; ".join(f"{field}: {rule}" for field, rule in field_problems(exc))


_WHOLE_REQUEST = re.compile(r"^Value error, (?P<field>\w+): (?P<rule>.*)$", re.DOTALL)


def field_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, what it must be) for every problem pydantic found (a rule over several fields names its field)."""
    problems = []
    for error in exc.errors(include_url=False):
        whole = _WHOLE_REQUEST.match(error["msg"]) if not error["loc"] else None
        if whole:
            problems.append((whole["field"], whole["rule"]))
        else:
            problems.append((".".join(str(part) for part in error["loc"] if part != "look") or "request", _rule(error)))
    return problems


def checked_request(
    conf: dict[str, Any], *, default_id: str | None = None
) -> tuple[VideoRequest | None, list[tuple[str, str]]]:
    """The request a flat conf describes, or what is wrong with it field by field: ``(request, [])`` when
    ``VideoRequest.from_conf`` accepts it, ``(None, problems)`` otherwise (validated once either way)."""
    problems = [(key, "unknown field: remove it") for key in unknown_keys(conf)]
    try:
        request = VideoRequest._nested(without_unknown_keys(conf), default_id)
    except ValidationError as exc:
        return None, problems + field_problems(exc)
    return (None, problems) if problems else (request, [])


def unknown_keys(conf: dict[str, Any]) -> list[str]:
    """The keys of a flat conf that name no request field, sorted."""
    return sorted(set(conf) - set(without_unknown_keys(conf)))


def _rule(error: Any) -> str:
    """What the field must be, from pydantic's error, with at most a short head of the refused value."""
    kind, ctx = error["type"], error.get("ctx") or {}
    value = error.get("input")
    rules = {
        "missing": lambda: "required",
        "string_too_short": lambda: "must not be empty",
        "string_too_long": lambda: f"at most {ctx['max_length']:,} characters (got {len(value):,})",
        "too_long": lambda: f"at most {ctx['max_length']} items (got {len(value)})",
        "string_pattern_mismatch": lambda: f"{pattern_rule(ctx.get('pattern', ''))} (got {_shown(value)})",
        "value_error": lambda: f"{error['msg'].removeprefix('Value error, ')} (got {_shown(value)})",
    }
    if kind in rules:
        return rules[kind]()
    return f"{error['msg'].replace('Input should be', 'must be')} (got {_shown(value)})"


def pattern_rule(pattern: str) -> str:
    """What a value must look like, in words, for one of the request's patterns."""
    return {
        EMAIL_PATTERN: "must be an email address like name@example.com",
        REQUEST_ID_PATTERN: "letters, digits, '.', '_' and '-' only, starting with a letter or digit, at most 100",
        MUSIC_PATTERN: "a file name of the music folder (letters, digits, spaces, '.', '_', '-')",
        MOOD_PATTERN: "one lower-case word such as calm or upbeat (letters, digits, '-')",
        LANGUAGE_PATTERN: "a language code such as de, fr or pt-BR",
        ONE_LINE: "must be some text on one line, without control characters",
        NO_CONTROLS: "must not contain control characters",
        NO_NUL: "must not contain NUL characters",
    }.get(pattern, f"must match {pattern}")


def _shown(value: object) -> str:
    """A refused value as JSON, cut to ``SHOWN_VALUE_CHARS`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


# -- the flat form fields, generated from the model ---------------------------------------------------------------


def form_fields() -> dict[str, dict[str, Any]]:
    """The JSON schema of every flat conf field, in form order, as Airflow's Params take them.

    Optional fields are nullable (``type: [..., "null"]``), so the form never demands them; a field without a
    default (the title) is required. Every limit is also stated in the field's description. (Generated once per
    process: the DAG file builds its Params from them at every parse, i.e. at every task instance's start; each
    caller gets its own copy.)
    """
    return copy.deepcopy(_form_fields())


@cache
def _form_fields() -> dict[str, dict[str, Any]]:
    fields: dict[str, dict[str, Any]] = {}
    for name, schema in _properties(VideoRequest).items():
        if name == "look":
            fields.update({n: {**s, "section": LOOK} for n, s in _properties(LookAndSound).items()})
        else:
            fields[name] = schema
    return fields


def _properties(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    return {name: _form_schema(prop) for name, prop in schema["properties"].items()}


def _form_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's ``anyOf: [X, null]`` as ``X`` with a nullable type, and the limits said in words."""
    prop = dict(prop)
    options = prop.pop("anyOf", None)
    if options:
        (inner,) = [o for o in options if o.get("type") != "null"]
        prop = {**inner, **prop, "type": [inner["type"], "null"]}
        if "enum" in prop:
            prop["enum"] = [*prop["enum"], None]
    _end_means_end(prop)
    if isinstance(prop.get("items"), dict):
        prop["items"] = dict(prop["items"])
        _end_means_end(prop["items"])
    limits = _limits_in_words(prop)
    if limits:
        prop["description"] = " ".join(filter(None, [prop.get("description"), limits]))
    return prop


def _end_means_end(schema: dict[str, Any]) -> None:
    """A one-line pattern refuses a trailing line break too. Python's ``re``, which checks the schema on the API
    server, lets ``$`` match before a final newline (JavaScript and the model's regex do not): say it again."""
    if schema.get("pattern") in ONE_LINE_PATTERNS:
        schema["not"] = {"type": "string", "pattern": "\n$"}


def _limits_in_words(prop: dict[str, Any]) -> str:
    parts = []
    if "maxLength" in prop:
        parts.append(f"At most {prop['maxLength']:,} characters.")
    if "minimum" in prop and "maximum" in prop:
        parts.append(f"From {prop['minimum']:g} to {prop['maximum']:g}.")
    if "maxItems" in prop:
        parts.append(f"At most {prop['maxItems']} entries.")
    return " ".join(parts)


def fields_table() -> str:
    """The request's fields as a Markdown table (README.md, 'Requests'): generated, so it cannot drift."""
    rows = ["| field | form label (section) | type | default | what it is |", "| --- | --- | --- | --- | --- |"]
    for name, schema in form_fields().items():
        kind = schema.get("type")
        types = [str(t) for t in (kind if isinstance(kind, list) else [kind]) if t != "null"]
        shown = " or ".join(f"`{json.dumps(v)}`" for v in schema["enum"] if v is not None) if "enum" in schema else ""
        default = "required" if "default" not in schema else f"`{json.dumps(schema['default'])}`"
        section = f" ({schema['section']})" if "section" in schema else ""
        rows.append(
            f"| `{name}` | {schema.get('title', name)}{section} | {shown or ', '.join(types)} | {default} | "
            f"{schema.get('description', '')} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(fields_table())
