"""The batch's checks: a Great Expectations suite generated from the request model's schema plus the batch's
own rules, run on the claimed rows as one table; each failed row gets its reasons from GX's unexpected indexes.

GX is imported inside :func:`validate_batch` only (it takes seconds to import and is used by one task).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipeline.request import DEFAULT_VOICE, form_fields

if TYPE_CHECKING:
    from pipeline.channels import BrandKit

log = logging.getLogger(__name__)
INDEX = "id"  # the request table's primary key: GX reports failed rows by it
# the model's text fields whose schema rules become expectations (arrays are checked per item below)
EMAIL_ITEM = r"^[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+$"


@dataclass(frozen=True)
class Rule:
    """One expectation and how a row that breaks it is told: ``field: message`` (``{value}`` is the row's)."""

    expectation: Any
    field: str
    message: str


@dataclass(frozen=True)
class BatchVerdict:
    """Valid row ids, each rejected row's reasons, and the validation result as JSON."""

    valid: list[int]
    rejected: dict[int, list[dict[str, str]]]
    result: dict[str, Any]


def batch_table(
    rows: Sequence[dict[str, Any]],
    *,
    default_voice_provider: str,
    known_music: Collection[str] | None = None,
    channels: Mapping[str, BrandKit] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One record per claimed row: the model's fields from its payload, plus the derived columns the batch rules
    look at (a row's voice, provider and music as its channel fills them in). Returns the records and the model
    fields present."""
    fields = list(form_fields())
    first_of_script: dict[str, str] = {}
    records = []
    for row in rows:
        payload = row["payload"]
        record: dict[str, Any] = {INDEX: row["id"], "request_key": row["request_key"]}
        for name in fields:
            value = payload.get(name)
            record[name] = "; ".join(map(str, value)) if isinstance(value, list) else value
        script = (payload.get("script") or "").strip()
        topic = (payload.get("topic") or "").strip()
        record["script_or_topic"] = script or topic or None
        channel = payload.get("channel")
        kit = (channels or {}).get(channel) if channel else None
        record["channel_missing"] = channel if channel and channels is not None and kit is None else None
        provider = payload.get("voice_provider") or (kit and kit.voice_provider) or default_voice_provider
        voice = payload.get("voice") or (kit and kit.voice) or DEFAULT_VOICE
        record["voice_of_provider"] = f"{provider}:{voice}"
        digest = hashlib.sha256(" ".join(script.split()).casefold().encode()).hexdigest() if script else None
        record["same_script_as"] = first_of_script.get(digest) if digest else None
        if digest:
            first_of_script.setdefault(digest, row["request_key"])
        music = payload.get("music") or (kit.music if kit and not payload.get("music_mood") else None)
        record["music_missing"] = music if music and known_music is not None and music not in known_music else None
        when = row.get("scheduled_for")
        record["scheduled_for"] = datetime.fromisoformat(when).timestamp() if when else None
        records.append(record)
    return records, fields


def model_rules(fields: Sequence[str]) -> list[Rule]:
    """Expectations generated from the request model's JSON schema: lengths, allowed values, patterns, ranges."""
    import great_expectations.expectations as gxe

    schema = form_fields()
    rules: list[Rule] = []
    for name in fields:
        prop = schema[name]
        kinds: list[Any] = prop["type"] if isinstance(prop.get("type"), list) else [prop.get("type")]
        if "string" in kinds and ("maxLength" in prop or "minLength" in prop):
            low, high = prop.get("minLength", 0), prop.get("maxLength")
            rules.append(
                Rule(
                    gxe.ExpectColumnValueLengthsToBeBetween(column=name, min_value=low, max_value=high),
                    name,
                    f"must be {low} to {high:,} characters" if high else f"must be at least {low} characters",
                )
            )
        if "string" in kinds and "pattern" in prop:
            rules.append(
                Rule(
                    gxe.ExpectColumnValuesToMatchRegex(column=name, regex=prop["pattern"]),
                    name,
                    "has characters or a form it may not have",
                )
            )
        if "enum" in prop:
            allowed = [value for value in prop["enum"] if value is not None]
            rules.append(
                Rule(
                    gxe.ExpectColumnValuesToBeInSet(column=name, value_set=allowed),
                    name,
                    "must be one of " + ", ".join(map(str, allowed)),
                )
            )
        if {"integer", "number"} & set(kinds) and ("minimum" in prop or "maximum" in prop):
            rules.append(
                Rule(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=name, min_value=prop.get("minimum"), max_value=prop.get("maximum")
                    ),
                    name,
                    f"must be from {prop.get('minimum')} to {prop.get('maximum')}",
                )
            )
        items: dict[str, Any] = prop["items"] if isinstance(prop.get("items"), dict) else {}
        if "array" in kinds and "enum" in items:  # a list of names (media_sources): each a known one
            names = "|".join(re.escape(str(v)) for v in items["enum"])
            rules.append(
                Rule(
                    gxe.ExpectColumnValuesToMatchRegex(column=name, regex=f"^({names})(; ({names}))*$"),
                    name,
                    "every entry must be one of " + ", ".join(map(str, items["enum"])),
                )
            )
    if "notify_emails" in fields:
        item = EMAIL_ITEM.strip("^$")
        rules.append(
            Rule(
                gxe.ExpectColumnValuesToMatchRegex(column="notify_emails", regex=f"^{item}(; {item})*$"),
                "notify_emails",
                "every entry must be an email address like name@example.com",
            )
        )
    return rules


def batch_rules(*, known_voices: Sequence[str], due_by: datetime) -> list[Rule]:
    """The batch's own rules, beyond one request's model."""
    import great_expectations.expectations as gxe

    return [
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="script_or_topic"), "script", "give a script or a topic"),
        Rule(
            gxe.ExpectColumnValuesToBeInSet(column="voice_of_provider", value_set=sorted(known_voices)),
            "voice",
            "not a voice of its provider: {value}",
        ),
        Rule(gxe.ExpectColumnValuesToBeUnique(column="request_key"), "request_id", "appears twice in the batch"),
        Rule(
            gxe.ExpectColumnValuesToBeNull(column="music_missing"),
            "music",
            "no track {value} in the music library: add it (videoctl music add, the Videos page) or leave it empty",
        ),
        Rule(
            gxe.ExpectColumnValuesToBeNull(column="channel_missing"),
            "channel",
            "no channel {value}: choose one of videoctl channel list, or leave it empty",
        ),
        Rule(
            gxe.ExpectColumnValuesToBeNull(column="same_script_as"),
            "script",
            "the same script as request {value} in this batch",
        ),
        Rule(
            gxe.ExpectColumnValuesToBeBetween(column="scheduled_for", max_value=due_by.timestamp()),
            "scheduled_for",
            "is in the future: it waits for a later batch",
        ),
    ]


def validate_batch(
    rows: Sequence[dict[str, Any]],
    *,
    voices_of: Callable[[str], Collection[str]],
    default_voice_provider: str,
    due_by: datetime,
    known_music: Collection[str] | None = None,
    channels: Mapping[str, BrandKit] | None = None,
    extra_problems: Callable[[dict[str, Any]], list[tuple[str, str]]] = lambda _: [],
) -> BatchVerdict:
    """Run the generated suite over ``rows`` (claimed rows as dicts with ``id``, ``request_key``, ``payload``,
    ``scheduled_for``); ``known_music`` is the music library's track names (None: not checked); ``extra_problems``
    adds what only the model itself can say (e.g. unknown fields). ``videoctl import`` and ``enqueue`` run the same
    suite on the rows they are about to insert."""
    if not rows:
        return BatchVerdict(valid=[], rejected={}, result={"success": True, "results": []})
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    records, fields = batch_table(
        rows, default_voice_provider=default_voice_provider, known_music=known_music, channels=channels
    )
    providers = sorted({record["voice_of_provider"].split(":", 1)[0] for record in records})
    known = [f"{provider}:{voice}" for provider in providers for voice in _voices(voices_of, provider)]
    rules = [*model_rules(fields), *batch_rules(known_voices=known, due_by=due_by)]

    context = gx.get_context(mode="ephemeral")
    context.enable_analytics(enable=False)
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    frame = pd.DataFrame.from_records(records).astype(object)
    frame = frame.where(pd.notna(frame), None)
    batch = (
        context.data_sources.add_pandas("requests")
        .add_dataframe_asset("claimed")
        .add_batch_definition_whole_dataframe("batch")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = context.suites.add(gx.ExpectationSuite(name="nightly_batch"))
    for rule in rules:
        suite.add_expectation(rule.expectation)
    outcome = batch.validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [INDEX]}
    )

    rejected: dict[int, list[dict[str, str]]] = {}
    for result in outcome.results:
        if result.success:
            continue
        rule = _rule_of(result, rules)
        column = result.expectation_config.kwargs.get("column") if result.expectation_config else None
        for hit in result.result.get("unexpected_index_list") or []:
            message = rule.message.format(value=hit.get(column))
            _add(rejected, int(hit[INDEX]), rule.field, message)
    for row in rows:
        for field, message in extra_problems(row):
            _add(rejected, int(row["id"]), field, message)
    valid = [int(row["id"]) for row in rows if int(row["id"]) not in rejected]
    return BatchVerdict(valid=valid, rejected=rejected, result=outcome.to_json_dict())


def _voices(voices_of: Callable[[str], Collection[str]], provider: str) -> Collection[str]:
    try:
        return voices_of(provider)
    except Exception as exc:  # a provider that cannot list its voices rejects its rows, with the reason logged
        log.warning("could not list the voices of %s: %s", provider, exc)
        return ()


def _rule_of(result: Any, rules: Sequence[Rule]) -> Rule:
    """The rule a result belongs to: matched by expectation type and kwargs (GX copies the configuration)."""
    config = result.expectation_config
    for rule in rules:
        if rule.expectation.expectation_type == config.type and rule.expectation.column == config.kwargs.get("column"):
            return rule
    raise LookupError(f"no rule for {config.type} on {config.kwargs.get('column')}")


def _add(rejected: dict[int, list[dict[str, str]]], row_id: int, field: str, message: str) -> None:
    reasons = rejected.setdefault(row_id, [])
    if {"field": field, "message": message} not in reasons and not any(r["field"] == field for r in reasons):
        reasons.append({"field": field, "message": message})
