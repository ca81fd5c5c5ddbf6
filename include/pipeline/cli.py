"""``videoctl``: the video factory from a terminal. This part fills the request table for the nightly batch.

    videoctl import samples/batch.csv            # every row checked first; nothing inserted unless all are valid
    videoctl import requests.jsonl --skip-invalid
    videoctl enqueue --title "Tides" --script-file tides.txt --set voice=en-gb --set aspect=9:16 --priority 80

The request table is the ``video_factory`` database: ``--db`` or ``VIDEO_DB_URL``, by default the one ``make demo``
runs. Exit codes: 0 done, 3 invalid rows (nothing inserted), 4 a request id already in the table (nothing
inserted), 5 the database cannot be reached.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from pipeline.config import PROJECT_ROOT
from pipeline.names import safe_name

if TYPE_CHECKING:
    from pipeline.queue import QueuedRequest

EXIT_INVALID, EXIT_TAKEN, EXIT_UNREACHABLE = 3, 4, 5
DEMO_DB = f"postgresql+psycopg2://postgres@/video_factory?host={PROJECT_ROOT / '.local' / 'pg' / 'data'}"

app = typer.Typer(help="The video factory from a terminal.", no_args_is_help=True, add_completion=False)
out, err = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)  # one line per message, never wrapped
DbOption = Annotated[str, typer.Option("--db", envvar="VIDEO_DB_URL", help="The video_factory database's URL.")]
ByOption = Annotated[str | None, typer.Option("--submitted-by", help="Who submits (default: your login name).")]


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .jsonl file of requests.")],
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Insert the valid rows, list the rest.")] = False,
    submitted_by: ByOption = None,
    db: DbOption = DEMO_DB,
) -> None:
    """Check every row of FILE against the request model, then insert them as pending, all or none."""
    from pipeline.queue import check_rows, read_rows

    prefix = safe_name(file.stem, limit=60, fallback="import")
    valid, problems = check_rows(read_rows(file), id_prefix=prefix, submitted_by=submitted_by or getpass.getuser())
    for problem in problems:
        err.print(f"{file.name} {problem}", markup=False, highlight=False)
    if problems and not skip_invalid:
        bad = len({p.row for p in problems})
        err.print(f"{bad} invalid row(s): nothing was inserted. Fix them, or pass --skip-invalid.", markup=False)
        raise typer.Exit(EXIT_INVALID)
    _insert(valid, db)
    skipped = len({p.row for p in problems})
    note = f"; skipped {skipped} invalid row(s) listed above" if skipped else ""
    out.print(f"Inserted {len(valid)} request(s) as pending{note}.", markup=False)


@app.command()
def enqueue(
    *,
    title: Annotated[str, typer.Option("--title", help="The video's title.")],
    script_file: Annotated[
        Path | None, typer.Option("--script-file", help="The narration: a text file, or - for standard input.")
    ] = None,
    fields: Annotated[
        list[str] | None, typer.Option("--set", help="Any other request field, as FIELD=VALUE (repeatable).")
    ] = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Default: cli-<UTC time>.")] = None,
    priority: Annotated[int, typer.Option(help="0-100, higher first.")] = 0,
    at: Annotated[
        str | None, typer.Option("--at", help="Not before this time (ISO 8601); default: next batch.")
    ] = None,
    submitted_by: ByOption = None,
    db: DbOption = DEMO_DB,
) -> None:
    """Put one request in the table for the next batch."""
    from pipeline.queue import check_rows, typed_cells

    cells: dict[str, str | None] = {"title": title, "request_id": request_id, "scheduled_for": at}
    for item in fields or []:
        name, equals, value = item.partition("=")
        if not equals:
            err.print(f"--set {item}: write it as FIELD=VALUE", markup=False)
            raise typer.Exit(EXIT_INVALID)
        cells[name.strip()] = value
    if script_file is not None:
        cells["script"] = sys.stdin.read() if str(script_file) == "-" else script_file.read_text(encoding="utf-8")
    raw = {**typed_cells(cells), "priority": priority}
    stamp = f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    valid, problems = check_rows([(1, raw)], id_prefix=stamp, submitted_by=submitted_by or getpass.getuser())
    for problem in problems:
        err.print(f"{problem.field}: {problem.message}", markup=False, highlight=False)
    if problems:
        raise typer.Exit(EXIT_INVALID)
    _insert(valid, db)
    out.print(f"Queued {valid[0].request.key} for the next batch.", markup=False)


def _insert(valid: list[QueuedRequest], db: str) -> None:
    from pipeline.db import connect
    from pipeline.queue import enqueue

    engine = connect(db)
    try:
        taken = enqueue(engine, valid)
    except OperationalError:
        err.print(
            f"cannot reach the request table at {make_url(db).render_as_string(hide_password=True)}: "
            "start it (make demo) or set VIDEO_DB_URL",
            markup=False,
        )
        raise typer.Exit(EXIT_UNREACHABLE) from None
    finally:
        engine.dispose()
    for problem in taken:
        err.print(str(problem), markup=False, highlight=False)
    if taken:
        err.print("Nothing was inserted: choose other request ids.", markup=False)
        raise typer.Exit(EXIT_TAKEN)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
