"""The README's curl tour, run as printed against a real `tenure serve` (embedded mode, on a
SQLite file): every call must succeed, and the background must have scored the tour's client
and opened its signals by the time the tour shows them."""

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import ROOT, TENURE, Service, serve_env, services


def _tour() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- tour:start -->\n```sh\n(.*?)```\n<!-- tour:end -->", readme, re.S)
    assert match, "README.md lost its tour markers"
    return match.group(1)


def _steps(output: str) -> dict[str, list[Any]]:
    """The tour's output by step heading (`== …`): the JSON documents each step printed."""
    steps: dict[str, list[Any]] = {}
    current: list[Any] = []
    for line in output.splitlines():
        if line.startswith("== "):
            current = steps.setdefault(line[3:], [])
        elif line.startswith(("{", "[")):
            current.append(json.loads(line))
    return steps


def _step(steps: dict[str, list[Any]], starting: str) -> list[Any]:
    found = [docs for heading, docs in steps.items() if heading.startswith(starting)]
    assert len(found) == 1, f"no single step {starting!r} in {list(steps)}"
    return found[0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Service]:
    env = serve_env(f"sqlite+aiosqlite:///{tmp_path / 'tour.db'}")
    with services(tmp_path) as make:
        yield make("serve", env).start().wait_ready()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tour needs curl")
def test_readme_tour_runs_as_printed_and_shows_a_live_background(server: Service) -> None:
    script = "set -euo pipefail\n" + _tour().replace(".venv/bin/tenure", str(TENURE))
    result = subprocess.run(
        ["bash", "-c", script],
        env={**server.env, "BASE": server.base_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, f"{result.stderr}\n{result.stdout}\n{server.log()}"
    assert result.stderr == "", result.stderr
    output = result.stdout
    assert '"mrr":{"USD":"2500.00"}' in output
    assert '"next_renewal_on":"2027-12-31"' in output
    assert '"status":"churned"' in output
    assert '"status":404' in output

    steps = _steps(output)
    assert _step(steps, "activity:")[0] == {"created": 48}
    (history,) = _step(steps, "the background scores the client")
    assert history["data"], f"no stored score: the background is not running\n{server.log()}"
    (signals,) = _step(steps, "open signals of Dana's clients")
    assert {(s["kind"], s["status"]) for s in signals["data"]} >= {
        ("gone_quiet", "open"),
        ("usage_drop", "open"),
    }, signals
    (runs,) = _step(steps, "playbooks act")
    assert [(r["outcome"], r["fact_kind"]) for r in runs["data"]] == [("fired", "signal.opened")]
    completed, cadence = _step(steps, "Dana calls")
    assert (completed["status"], completed["channel"], completed["source"]) == (
        "done",
        "call",
        "trigger",
    ), completed
    assert [e["cadence_name"] for e in cadence["enrollments"]] == ["Mid touchpoint every 30 days"]
    assert cadence["last_touchpoint_at"][:10] == completed["completed_at"][:10], cadence
    (preview,) = _step(steps, "a playbook of your own")
    assert preview["version"] == 1
    assert isinstance(preview["data"], list)
    (jobs,) = _step(steps, "background work")
    statuses = {job["status"] for job in jobs["data"]}
    assert "succeeded" in statuses, jobs  # the latest change's job may still be running
    assert "failed" not in statuses, jobs
