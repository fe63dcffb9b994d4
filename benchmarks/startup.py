"""Startup cost: what tokentrace adds to a process's start, with every supported SDK installed.

Each case is a fresh interpreter, measured by its CPU time (user + system, from the kernel's
accounting of the waited-for child: on a shared machine wall time mostly measures the other
processes) and its wall time, the cases interleaved round by round so the machine's drift spreads
over all of them:

- ``python``: ``python -c pass``, the interpreter alone;
- ``import``: ``import tokentrace``;
- ``instrument``: ``import tokentrace; tokentrace.instrument()`` (every installed SDK);
- ``distro``: ``opentelemetry-instrument python -c pass`` with tokentrace's entry points switched off;
- ``auto``: the same with tokentrace's instrumentors loaded.

Exporters are off (``OTEL_*_EXPORTER=none``) so only instrumentation is measured. The
``instrument`` case also reports which SDK modules were imported by the time it ended: with
import-time patching that list must be empty.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tokentrace._providers import REGISTRY

SDK_MODULES = sorted({entry.package for entry in REGISTRY.values()} | {"aiobotocore"})
TOKENTRACE_ENTRY_POINTS = ",".join(f"tokentrace_{name}" for name in REGISTRY)
# Another OpenAI instrumentation installed next to tokentrace (the contrib one in the test
# environment) is no part of tokentrace's cost.
OTHERS = "openai"

INSTRUMENT = (
    "import sys, json, tokentrace; tokentrace.instrument(); "
    f"print(json.dumps([m for m in {SDK_MODULES!r} if m in sys.modules]))"
)


def _cases(python: str) -> dict[str, tuple[list[str], str]]:
    auto = str(Path(python).parent / "opentelemetry-instrument")
    return {
        "python": ([python, "-c", "pass"], OTHERS),
        "import": ([python, "-c", "import tokentrace"], OTHERS),
        "instrument": ([python, "-c", INSTRUMENT], OTHERS),
        "distro": ([auto, python, "-c", "pass"], f"{OTHERS},{TOKENTRACE_ENTRY_POINTS}"),
        "auto": ([auto, python, "-c", "pass"], OTHERS),
    }


def measure(rounds: int, source: Path, python: str = sys.executable) -> dict[str, Any]:
    """Seconds per case and round, and the SDK modules ``instrument()`` left imported.

    ``source`` is the ``src`` folder tokentrace is imported from.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("TOKENTRACE_STRICT", None)
    cases = _cases(python)
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    wall: dict[str, list[float]] = {name: [] for name in cases}
    imported: list[str] = []
    # A first pass fills the OS file cache and compiles nothing new (bytecode exists from installs).
    for round_index in range(rounds + 1):
        for name, (command, disabled) in cases.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(
                command,
                env={**env, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled},
                capture_output=True,
                text=True,
                check=False,
            )
            elapsed = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            if done.returncode != 0:
                return {"error": f"{name}: exit {done.returncode}: {done.stderr.strip()[-500:]}"}
            if name == "instrument":
                imported = json.loads(done.stdout.strip().splitlines()[-1])
            if round_index:
                seconds[name].append(cpu)
                wall[name].append(elapsed)
    return {
        "rounds": rounds,
        "seconds": seconds,
        "wall": wall,
        "sdk_modules_imported_by_instrument": imported,
    }


# What each difference of two cases measures: (with, without, label).
ADDED = {
    "import": ("import", "python", "`import tokentrace`"),
    "instrument": ("instrument", "import", "`instrument()` after the import"),
    "auto": ("auto", "distro", "tokentrace's instrumentors under `opentelemetry-instrument`"),
}
LABELS = {
    "python": "`python -c pass`",
    "import": "`import tokentrace`",
    "instrument": "`import tokentrace; tokentrace.instrument()`",
    "distro": "`opentelemetry-instrument python -c pass`, tokentrace's entry points off",
    "auto": "`opentelemetry-instrument python -c pass`, with tokentrace",
}
