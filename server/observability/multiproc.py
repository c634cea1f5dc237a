"""The directory where prometheus-client keeps each worker's values
(server/observability/metrics.py).

Apart from the metrics module because the variable must be set before prometheus-client is
imported: it chooses its file-backed values at import time.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_directory(data_dir: Path) -> Path:
    """A fresh directory for this run's metrics, DATA_DIR/metrics/<pid>; those of runs that are
    no longer alive (killed before they could clean up) are removed first."""
    root = data_dir.resolve() / "metrics"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if not (old.name.isdigit() and _alive(int(old.name))):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir()
    return mine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
