"""Run an external program (ffmpeg, ffprobe, espeak-ng): one place that says what a missing binary, a timeout
and a failed run mean, with the end of its error output in one line."""

from __future__ import annotations

import logging
import resource
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError

# the caller's own error class (or a partial of it), called as error(message, retryable=...)
ErrorFactory = Callable[..., PipelineError]
STDERR_TAIL_CHARS = 500
PACKAGES = {"ffmpeg": "ffmpeg", "ffprobe": "ffmpeg", "espeak-ng": "espeak-ng"}


WORK_CPU = "work CPU"  # the log line's words benchmarks/batch_bench.py adds up


@contextmanager
def work_cpu(what: str) -> Iterator[None]:
    """Log the CPU seconds the block spent, its own and its finished child processes' (an FFmpeg render, an
    espeak-ng narration): "work CPU 8.412 s: render". The batch benchmark sets them beside the whole stack's."""
    before = _cpu_seconds()
    try:
        yield
    finally:
        logging.getLogger("pipeline.work").info("%s %.3f s: %s", WORK_CPU, _cpu_seconds() - before, what)


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_program(
    command: Sequence[str],
    *,
    error: ErrorFactory,
    timeout_s: float,
    input: str | bytes | None = None,
    cwd: Path | None = None,
    text: bool = True,
    check: bool = True,
) -> subprocess.CompletedProcess[Any]:
    """Run ``command``; a missing binary, a timeout and (with ``check``) a failed exit raise ``error(...)``.

    A timeout, or a kill by a signal (out of memory, eviction), is retryable; an error exit is not.
    """
    program = Path(command[0]).name
    try:
        completed = subprocess.run(
            list(command), input=input, capture_output=True, text=text, check=False, timeout=timeout_s, cwd=cwd
        )
    except FileNotFoundError:
        raise error(
            f"{program} is not installed (apt-get install {PACKAGES.get(program, program)})", retryable=False
        ) from None
    except subprocess.TimeoutExpired:
        raise error(f"{program} did not finish within {timeout_s:.0f} s", retryable=True) from None
    if check and completed.returncode != 0:
        raise error(
            f"{program} failed (exit {completed.returncode}): {stderr_tail(completed.stderr)}",
            retryable=completed.returncode < 0,
        )
    return completed


def stderr_tail(stderr: str | bytes | None) -> str:
    """The end of a program's error output, as one line."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    flat = " ".join((stderr or "").split())
    return flat[-STDERR_TAIL_CHARS:] or "no error output"


def synthesize(
    dest: Path, source: str, options: Sequence[str], *, ffmpeg_bin: str = "ffmpeg", timeout_s: float = 120
) -> Path:
    """Write ``dest`` (under a temporary name, moved into place) from an ffmpeg lavfi ``source`` (``testsrc2=…``,
    ``aevalsrc=…``) encoded with ``options``: the sample media the demo makes from nothing."""
    from pipeline.atomic import atomic_path
    from pipeline.errors import RenderError

    with atomic_path(dest) as tmp:
        command = [ffmpeg_bin, "-v", "error", "-y", "-f", "lavfi", "-i", source, *options, str(tmp)]
        run_program(command, error=RenderError, timeout_s=timeout_s)
    return dest
