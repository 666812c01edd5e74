"""`python -m tests.workers.worker_process [probe|fan-out]`: `tenure worker` with the probe
registry (or the fan-out one), for the tests that kill, stop and start real worker processes."""

import asyncio
import sys

from app.config import Settings
from app.logging import configure_logging
from app.workers.settings import run_worker
from tests.workers.probe import fan_out_registry, probe_registry

REGISTRIES = {"probe": probe_registry, "fan-out": fan_out_registry}

if __name__ == "__main__":
    settings = Settings()
    configure_logging(settings.log_level)
    registry = REGISTRIES[sys.argv[1] if len(sys.argv) > 1 else "probe"]()
    asyncio.run(run_worker(settings, registry))
