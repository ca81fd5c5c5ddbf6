"""The work-CPU line the batch benchmark adds up: a block's own CPU and its finished child processes'."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import pytest

from pipeline.commands import work_cpu

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass"


def test_work_cpu_counts_a_child_process_and_says_what_the_work_was(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.work")
    with work_cpu("render original"):
        subprocess.run([sys.executable, "-c", BURN.format(s=0.4)], check=True)  # a render's ffmpeg, say
    (line,) = [r.getMessage() for r in caplog.records if r.name == "pipeline.work"]
    found = re.fullmatch(r"work CPU (\d+\.\d{3}) s: render original", line)
    assert found, line
    assert float(found.group(1)) >= 0.4  # the child's CPU, counted once it has ended

    caplog.clear()
    with pytest.raises(RuntimeError), work_cpu("voice 3"):
        raise RuntimeError("the work failed")
    assert [r.getMessage().endswith(": voice 3") for r in caplog.records] == [True]  # said even then
