"""The README's curl tour, run as printed against a real `tenure serve` on SQLite."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TENURE = Path(sys.executable).parent / "tenure"


def _tour() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- tour:start -->\n```sh\n(.*?)```\n<!-- tour:end -->", readme, re.S)
    assert match, "README.md lost its tour markers"
    return match.group(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    env = {**os.environ, "TENURE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tour.db'}"}
    process = subprocess.Popen(
        [str(TENURE), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tenure serve did not start") from None
                time.sleep(0.2)
        yield base, env
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tour needs curl")
def test_readme_tour_runs_as_printed(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    script = "set -euo pipefail\n" + _tour().replace(".venv/bin/tenure", str(TENURE))
    result = subprocess.run(
        ["bash", "-c", script],
        env={**env, "BASE": base},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert '"mrr":{"USD":"2500.00"}' in result.stdout
    assert '"next_renewal_on":"2027-12-31"' in result.stdout
    assert '"status":"churned"' in result.stdout
    assert '"status":404' in result.stdout
