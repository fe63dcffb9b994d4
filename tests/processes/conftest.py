"""Multi-process tests: real gunicorn, multiprocessing and short scripts, exporting to the real
Collector -> VictoriaMetrics tier of tests/export (its fixtures, reused here)."""

from __future__ import annotations

from tests.export.conftest import (  # noqa: F401 - fixtures
    collector,
    obs_workdir,
    trace_sink,
    victoria_metrics,
)
