"""The DAGs built once where task processes are forked from (video_factory.prebuilt, airflow_local_settings): a
forked task process parses its DAG file and gets the DAG built before the fork, with the plugins' listeners loaded;
a DAG file changed since is built again. Real fork, real DAG files, Airflow's own DagBag as the task runner uses it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.stack import PROJECT_ROOT

PROBE = r"""
import json, os, sys, time
sys.argv = ["airflow", "scheduler"]  # a process that forks task processes
import airflow_local_settings  # the task modules imported here; the DAGs built before the first fork
from airflow.dag_processing.dagbag import BundleDagBag

def parse_in_child(path):
    # what Airflow's task runner does first in a task process: parse the task's DAG file
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        from airflow.sdk.listener import get_listener_manager
        from video_factory import prebuilt
        kept = prebuilt.kept(path)
        listeners_loaded = get_listener_manager.cache_info().currsize == 1  # before this process asked
        started = time.process_time()
        bag = BundleDagBag(dag_folder=path, safe_mode=False, load_op_links=False,
                           bundle_path=os.path.dirname(path), bundle_name="dags-folder")
        cpu = time.process_time() - started
        dags = list(bag.dags.values())
        os.write(write, json.dumps({
            "dags": [dag.dag_id for dag in dags], "errors": list(bag.import_errors), "cpu_s": cpu,
            "kept": kept is not None and dags == [kept] and dags[0] is kept,
            "listeners_loaded": listeners_loaded,
            "listeners": [getattr(p, "__name__", "") for p in get_listener_manager().pm.get_plugins()],
        }).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    return json.loads(os.read(read, 1 << 16))

folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
files = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".py"))
results = {os.path.basename(path): parse_in_child(path) for path in files}
with open(files[0], "a") as changed:  # a DAG file edited after the scheduler started
    changed.write("\n# edited\n")
results["changed"] = parse_in_child(files[0])
print(json.dumps(results))
"""


def _probe(dags: Path) -> dict[str, dict]:
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join(str(PROJECT_ROOT / part) for part in ("plugins", "include", "")),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_task_process_gets_the_dag_built_before_the_fork(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    shutil.copytree(PROJECT_ROOT / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    results = _probe(dags)
    for name, dag_id in (
        ("nightly_batch.py", "nightly_batch"),
        ("video_production.py", "video_production"),
        ("video_publishing.py", "video_publishing"),
    ):
        parsed = results[name]
        assert parsed["errors"] == [] and parsed["dags"] == [dag_id], parsed
        assert parsed["kept"], f"{name}: the task process built its DAG again"
        assert parsed["listeners_loaded"] and "video_factory.run_notes" in parsed["listeners"], parsed
    changed = results["changed"]
    assert changed["errors"] == [] and changed["dags"] == ["nightly_batch"]
    assert not changed["kept"]  # edited after the fork: built from the file as it is now


COMPILE_PROBE = r"""
import importlib.util, json, sys
from importlib.machinery import SourceFileLoader
compiled = []
original = SourceFileLoader.source_to_code
def counting(self, data, path, **kwargs):
    compiled.append(path)
    return original(self, data, path, **kwargs)
SourceFileLoader.source_to_code = counting
# as Airflow's DAG importer loads a DAG file: a module of its own name, from the file's path
spec = importlib.util.spec_from_file_location("unusual_mod_name_1", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"compiled": compiled, "answer": module.ANSWER, "writes": not sys.dont_write_bytecode}))
"""


def test_a_started_stacks_processes_read_the_projects_compiled_sources_instead_of_compiling_them(
    tmp_path: Path,
) -> None:
    """With PYTHONDONTWRITEBYTECODE (this machine's setting) no process writes Python's bytecode cache: every task
    process compiled its DAG file again, every render the pipeline. The stack compiles the project's folders as it
    starts; a process then reads them, even with the setting, and a changed file is compiled again."""
    from tools.supervise import compile_sources

    for folder in ("dags", "plugins", "include"):
        (tmp_path / folder).mkdir()
    dag_file = tmp_path / "dags" / "a_dag.py"
    dag_file.write_text("ANSWER = 42\n")
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

    def load() -> dict[str, object]:
        ran = subprocess.run(
            [sys.executable, "-c", COMPILE_PROBE, str(dag_file)],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(ran.stdout)

    assert load() == {"compiled": [str(dag_file)], "answer": 42, "writes": False}  # compiled, nothing written
    assert load()["compiled"] == [str(dag_file)]  # ... and again
    assert compile_sources(tmp_path)
    assert load() == {"compiled": [], "answer": 42, "writes": False}  # read from the cache
    dag_file.write_text("ANSWER = 43  # changed\n")
    assert load() == {"compiled": [str(dag_file)], "answer": 43, "writes": False}  # a stale cache is not used
