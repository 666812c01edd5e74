"""The shipped commands as subprocesses, started the way the README tells users to: the
`tenure` script of the venv, configured by TENURE_ environment variables only."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.databases import TEST_ENCRYPTION_KEY

ROOT = Path(__file__).resolve().parents[2]
TENURE = Path(sys.executable).parent / "tenure"
REDIS_URL = os.environ.get("TENURE_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
GRACE_SECONDS = 2.0
"""TENURE_SHUTDOWN_GRACE_SECONDS of the started processes."""
EXIT_SECONDS = GRACE_SECONDS + 8.0
"""How long a stopped process may take to exit: the grace period, plus closing the engine,
the Redis pools and the interpreter on a busy 2-core machine."""
LIFESPAN_UNSUPPORTED = "ASGI 'lifespan' protocol appears unsupported"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tenure_env(**settings: str) -> dict[str, str]:
    """This process's environment without any TENURE_ setting of its own, plus `settings`
    (fast polling and a short grace period unless given)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    env = {
        **inherited,
        "TENURE_RELAY_POLL_SECONDS": "0.2",
        "TENURE_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        **settings,
    }
    if env.get("TENURE_DATABASE_URL", "").startswith("postgresql"):
        # Production refuses to start without a key; the embedded mode makes its own file.
        env.setdefault("TENURE_ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
    return env


def tenure(*args: str, env: dict[str, str]) -> str:
    """Runs a one-shot `tenure` command and returns its stdout; fails with its stderr."""
    result = subprocess.run(
        [str(TENURE), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"tenure {' '.join(args)}: {result.stderr}"
    return result.stdout


def create_workspace(env: dict[str, str], name: str = "Acme CS") -> str:
    """`tenure workspace create` (it migrates first); returns the admin API key."""
    key: str = json.loads(tenure("workspace", "create", name, env=env))["api_key"]
    return key


@dataclass
class Service:
    """A long-running `tenure serve` or `tenure worker`; each start logs to a file of its own."""

    command: str
    env: dict[str, str]
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['TENURE_PORT']}"

    @property
    def log_path(self) -> Path:
        return self.logs[-1]

    def start(self) -> "Service":
        assert self.process is None or self.process.poll() is not None, "already running"
        path = self.directory / f"{self.command}-{os.getpid()}-{len(self.logs)}.log"
        self.logs.append(path)
        with path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(TENURE), self.command],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def log(self) -> str:
        """The log of the latest start."""
        return self.log_path.read_text(errors="replace") if self.logs else ""

    def wait_ready(self, seconds: float = 60.0) -> "Service":
        """For `serve`: until GET /readyz answers 200."""

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"tenure {self.command} exited early\n{self.log()}")
            try:
                return httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, seconds=seconds, explain=self.log)
        return self

    def stop(self, seconds: float = EXIT_SECONDS) -> int:
        """SIGTERM, then the exit code; kills it (and fails) if it outlives `seconds`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"tenure {self.command} still ran {seconds} s after SIGTERM\n{self.log()}"
            ) from None

    def assert_stops_cleanly(self) -> None:
        """SIGTERM: exit code 0 in time, and a log without a traceback or a lifespan warning."""
        started = time.monotonic()
        code = self.stop()
        took = time.monotonic() - started
        log = self.log()
        assert code == 0, f"tenure {self.command} exited with {code} after SIGTERM\n{log}"
        assert "Traceback" not in log, log
        assert LIFESPAN_UNSUPPORTED not in log, log
        assert took < EXIT_SECONDS, f"tenure {self.command} took {took:.1f} s to exit"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def services(directory: Path) -> Iterator[Callable[[str, dict[str, str]], Service]]:
    """Makes `Service`s in `directory`; whichever still run at the end are killed."""
    made: list[Service] = []

    def make(command: str, env: dict[str, str]) -> Service:
        made.append(Service(command, env, directory))
        return made[-1]

    try:
        yield make
    finally:
        for service in made:
            service.kill()


def serve_env(database_url: str, **settings: str) -> dict[str, str]:
    """What `tenure serve` needs: a database, a free port (and TENURE_REDIS_URL for arq mode)."""
    return tenure_env(TENURE_DATABASE_URL=database_url, TENURE_PORT=str(free_port()), **settings)


def api(base_url: str, key: str) -> httpx.Client:
    """An HTTP client of a started server, authenticated with `key`; use it as `with`."""
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def wait_until(
    check: Callable[[], bool],
    *,
    seconds: float,
    explain: Callable[[], str] = str,
    every: float = 0.1,
) -> None:
    """Polls `check` every `every` seconds until it holds; fails with `explain()` otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s\n{explain()}")
        time.sleep(every)
