"""User text placed where Airflow's UI renders Markdown (a run's note, a required action's body): escaped so that it
shows exactly as written and as it will be narrated. No link, image, emphasis, heading, list, code or HTML of the
submitter's is ever interpreted, and nothing is fetched when an editor opens the page.
"""

from __future__ import annotations

import re

# CommonMark lets a backslash escape any ASCII punctuation character: escaped, each one is shown as itself
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_LEADING_SPACE = re.compile(r"^[ \t]+", re.MULTILINE)  # four spaces would start a code block


def literal(text: str) -> str:
    """``text`` as Markdown that renders to exactly ``text``: punctuation escaped, blank lines kept as paragraph
    breaks and other line breaks as hard breaks, no indentation that would make a code block."""
    text = _LEADING_SPACE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs = [part for part in re.split(r"\n[ \t]*\n+", text) if part.strip()]
    return "\n\n".join("\\\n".join(_PUNCTUATION.sub(r"\\\1", line) for line in part.split("\n")) for part in paragraphs)


def plain(markdown: str) -> str:
    """What :func:`literal` made, back as the text it shows (for a terminal: ``videoctl`` prints notes)."""
    return _ESCAPED.sub(r"\1", markdown.replace("\\\n", "\n"))


_ESCAPED = re.compile(r"""\\([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
