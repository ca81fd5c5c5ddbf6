"""The emails sent when a video is finished or has failed, and the local outbox that stands in for SMTP."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.atomic import write_atomic

if TYPE_CHECKING:
    from pipeline.models import ProjectSummary


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


def success_email(
    summary: ProjectSummary, *, run_url: str, page_url: str, costs: Sequence[tuple[str, str]] = ()
) -> EmailContent:
    """Title, the video's page, duration, scene count and cost summary of a finished video; every user string is
    escaped. The link is the Videos page's (which serves the file to whoever may see it), never a presigned one.

    ``costs`` are ``(label, text)`` lines, e.g. ``("Cost total", "$0.0421")``, ``("polly", "5 calls, ...")``.
    """
    video = summary.video or {}
    title = summary.title
    duration = float(video.get("duration_s") or 0)
    facts = [
        ("Video", page_url),
        ("Stored at", video.get("video_url", "")),
        ("Duration", f"{duration:.1f} s"),
        ("Resolution", f"{video.get('width')}x{video.get('height')}"),
        ("Scenes", str(summary.scene_count)),
        *costs,
        ("Airflow run", run_url),
    ]
    return EmailContent(
        subject=f"Video ready: {one_line(title)}",
        text=f'Your video "{title}" is ready.\n\n' + "\n".join(f"{k}: {v}" for k, v in facts) + "\n",
        html=_html(f"Your video <b>{html.escape(title)}</b> is ready.", facts, links={"Video", "Airflow run"}),
    )


def failure_email(
    *, title: str, task_id: str, error: str, try_number: int | None, log_url: str, run_url: str
) -> EmailContent:
    """Which task failed, why, on which try, and where its log is."""
    facts = [
        ("Failed task", task_id),
        ("Try", str(try_number) if try_number else "?"),
        ("Error", error),
        ("Log", log_url),
        ("Airflow run", run_url),
    ]
    return EmailContent(
        subject=f"Video failed: {one_line(title)}",
        text=f'The video "{title}" could not be made.\n\n' + "\n".join(f"{k}: {v}" for k, v in facts) + "\n",
        html=_html(f"The video <b>{html.escape(title)}</b> could not be made.", facts, links={"Log", "Airflow run"}),
    )


def publishing_failure_email(
    *, title: str, destination: str, version: str, reason: str, fix: str, run_url: str
) -> EmailContent:
    """A finished video could not be sent to one destination of its channel: why, and what to do."""
    facts = [("Destination", destination), ("Version", version), ("Reason", reason), ("Airflow run", run_url)]
    return EmailContent(
        subject=f"Video not published to {one_line(destination, 40)}: {one_line(title)}",
        text=f'The video "{title}" is made but could not be sent to {destination}. {fix}\n\n'
        + "\n".join(f"{k}: {v}" for k, v in facts)
        + "\n",
        html=_html(
            f"The video <b>{html.escape(title)}</b> is made but could not be sent to {html.escape(destination)}. "
            + html.escape(fix),
            facts,
            links={"Airflow run"},
        ),
    )


def rejection_email(*, title: str, reason: str, run_url: str) -> EmailContent:
    """The script was rejected in review (or nobody reviewed it in time): the video was not made."""
    facts = [("Reason", reason), ("Airflow run", run_url)]
    return EmailContent(
        subject=f"Video not made (script rejected): {one_line(title)}",
        text=f'The script of "{title}" was not approved, so the video was not made; no image or voice was paid '
        "for. Fix the script and submit the request again.\n\n" + "\n".join(f"{k}: {v}" for k, v in facts) + "\n",
        html=_html(
            f"The script of <b>{html.escape(title)}</b> was not approved, so the video was not made.",
            facts,
            links={"Airflow run"},
        ),
    )


def listing_email(
    subject: str,
    lead: str,
    items: Sequence[str],
    facts: Sequence[tuple[str, str]] = (),
    links: frozenset[str] = frozenset(),
) -> EmailContent:
    """A lead sentence, a bulleted list (one line each) and facts: the batch's emails to submitters and ops."""
    text = lead + "\n\n" + "".join(f"- {item}\n" for item in items)
    if facts:
        text += "\n" + "\n".join(f"{k}: {v}" for k, v in facts) + "\n"
    bullets = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    page = _html(html.escape(lead), facts, links=set(links))
    return EmailContent(
        subject=one_line(subject), text=text, html=page.replace("<table>", f"<ul>{bullets}</ul><table>", 1)
    )


def build_message(content: EmailContent, *, sender: str, recipients: Sequence[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = content.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="video-factory.local")
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


def write_to_outbox(message: EmailMessage, outbox: Path) -> Path:
    """Save ``message`` as an ``.eml`` file, atomically (a reader never sees half a mail)."""
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{message['Message-ID'].strip('<>').split('@')[0]}.eml"
    target = outbox / name
    write_atomic(target, message.as_bytes())
    return target


def one_line(text: str, limit: int = 120) -> str:
    """``text`` on one line (white space folded), cut with an ellipsis at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _html(lead: str, facts: Sequence[tuple[str, str]], *, links: set[str]) -> str:
    rows = []
    for key, value in facts:
        shown = html.escape(value)
        if key in links and value:
            shown = f'<a href="{html.escape(value, quote=True)}">{shown}</a>'
        rows.append(f"<tr><th align='left'>{html.escape(key)}</th><td>{shown}</td></tr>")
    return f"<html><body><p>{lead}</p><table>{''.join(rows)}</table></body></html>"
