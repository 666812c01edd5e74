"""`python -m tests.workers.worker_process`: `tenure worker` with the probe registry, for the
fault tests that kill, stop and start real worker processes."""

import asyncio

from app.config import Settings
from app.logging import configure_logging
from app.workers.settings import run_worker
from tests.workers.probe import probe_registry

if __name__ == "__main__":
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings, probe_registry()))
