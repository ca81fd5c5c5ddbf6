"""Kills leave nothing behind: the render's process group dies whole, scratch space is per attempt and removed,
and the render sees none of Airflow's secrets. Real renders (ffmpeg), real signals, real process trees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.errors import RenderError
from pipeline.render.runner import render_environment_from, render_in_subprocess

pytestmark = pytest.mark.fault
LONG = " ".join(["The harbour wakes slowly while the boats go out and the gulls circle above the water."] * 6)


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (zombies, already dead, are not counted)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def render_leader(spec: Path, timeout_s: float = 60) -> int:
    """The pid of the render process of ``spec``, once ffmpeg runs in its group."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes().split(b"\0")
            except OSError:
                continue
            if b"pipeline.render" in args and str(spec).encode() in args:
                pid = int(cmdline.parent.name)
                if len(group_members(pid)) > 1:  # the render and at least one ffmpeg
                    return pid
        time.sleep(0.1)
    raise TimeoutError("the render process did not start ffmpeg")


def wait_until(check: Callable[[], bool], timeout_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise TimeoutError(f"not within {timeout_s} s")


@pytest.fixture
def long_spec(make_render_spec: Callable[..., Path]) -> Path:
    return make_render_spec([LONG, LONG, LONG], ken_burns=True, crossfade_s=0.5)


def test_the_render_sees_no_airflow_secret() -> None:
    environ = {
        "PATH": "/usr/bin",
        "VIDEO_DATA_DIR": "/data",
        "AIRFLOW__API_AUTH__JWT_SECRET": "jwt",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://u:p@h/db",
        "AIRFLOW_CONN_VIDEO_DB": "postgres://u:p@h/db",
        "VIDEO_STABILITY_API_KEY": "sk",
        "GOOGLE_API_KEY": "g",
        "AWS_SECRET_ACCESS_KEY": "s3",
    }
    assert render_environment_from(environ, {"AWS_ACCESS_KEY_ID": "a"}) == {
        "PATH": "/usr/bin",
        "VIDEO_DATA_DIR": "/data",
        "AWS_SECRET_ACCESS_KEY": "s3",  # the storage's credentials: the render uploads the video
        "AWS_ACCESS_KEY_ID": "a",
    }


def test_killing_the_render_kills_its_ffmpeg_and_removes_its_scratch(
    long_spec: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "not-for-the-render")
    failures: list[RenderError] = []

    def render() -> None:
        try:
            render_in_subprocess(str(long_spec), work_dir=settings.work_dir, timeout_s=600, run_name="run-kill")
        except RenderError as exc:
            failures.append(exc)

    worker = threading.Thread(target=render)
    worker.start()
    leader = render_leader(long_spec)
    environment = Path(f"/proc/{leader}/environ").read_bytes().split(b"\0")
    assert not [v for v in environment if v.startswith(b"AIRFLOW")]
    assert (settings.work_dir / "renders" / "run-kill" / "try-1").is_dir()

    os.kill(leader, signal.SIGKILL)  # an OOM kill of the render: its ffmpeg would encode on alone
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert len(failures) == 1 and failures[0].retryable
    assert group_members(leader) == []
    assert list((settings.work_dir / "renders" / "run-kill").iterdir()) == []
    assert not list(settings.storage_root.glob("videos/**/*.mp4"))


TASK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipeline.render.runner import render_in_subprocess
    render_in_subprocess(sys.argv[1], work_dir=Path(sys.argv[2]), timeout_s=600, run_name="run-dead", attempt=1)
    """
)
SUPERVISOR = textwrap.dedent(
    """
    import subprocess, sys, time
    task = subprocess.Popen([sys.executable, "-c", sys.argv[1], *sys.argv[2:]])
    print(task.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("victim", ["supervisor", "task"])
def test_a_dead_worker_takes_its_render_along(
    victim: str,
    long_spec: Path,
    settings: Settings,
    make_render_spec: Callable[..., Path],
) -> None:
    """SIGKILL of the task's supervisor (the task notices its parent is gone) or of the task process itself (the
    kernel tells the render): within seconds no render or ffmpeg is left, and the next attempt starts clean."""
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, TASK, str(long_spec), str(settings.work_dir)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert supervisor.stdout is not None
        task = int(supervisor.stdout.readline())
        leader = render_leader(long_spec)
        os.kill(supervisor.pid if victim == "supervisor" else task, signal.SIGKILL)
        gone_after_s = wait_until(lambda: group_members(leader) == [], timeout_s=15)
        print(f"render group gone {gone_after_s:.1f} s after the {victim} was killed")
        wait_until(lambda: not Path(f"/proc/{task}").exists() or _zombie(task), timeout_s=15)
    finally:
        os.killpg(supervisor.pid, signal.SIGKILL)
        supervisor.wait()

    short = make_render_spec(["A second try."])
    result = render_in_subprocess(str(short), work_dir=settings.work_dir, timeout_s=600, run_name="run-dead", attempt=2)
    assert result.attempt == 2 and result.video_key.endswith("-try2.mp4")
    assert list((settings.work_dir / "renders" / "run-dead").iterdir()) == []  # try-1's leftovers went too


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
