"""Overhead benchmark: tokentrace against the bare OpenAI SDK, the telemetry floor and the peers.

    python -m benchmarks            # full: every implementation, 3 rounds, memory test (~10 minutes)
    python -m benchmarks --quick    # a few seconds: proves the harness works, numbers not judged

One worker process per implementation and round (peers run with the interpreter of their own
environment under benchmarks/.venvs, made by benchmarks/setup_peers.sh). Rounds visit the
implementations in rotating order, so slow drift of the machine spreads over all of them. Only
in-process on/off percentages are compared across implementations, never absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import startup
from benchmarks.impls import IMPLS
from benchmarks.report import write_report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MAIN_IMPLS = [
    "bare",
    "floor",
    "floor-no-chunk-metric",
    "floor-same-signals",
    "tokentrace",
    "tokentrace-nocounters",
]
PEERS = [name for name, impl in IMPLS.items() if impl.peer]


def interpreter(name: str) -> Path | None:
    """The Python that has implementation ``name``, or None when its environment is missing."""
    venv = IMPLS[name.partition("@")[0]].venv
    if venv is None:
        return Path(sys.executable)
    python = HERE / ".venvs" / venv / "bin" / "python"
    return python if python.exists() else None


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout.strip()


def run_worker(name: str, python: Path, worker_args: list[str], log: Path) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    env = dict(os.environ)
    base, _, tree = name.partition("@")
    # "tokentrace@TREE" imports tokentrace from TREE/src: a change can be measured against main in
    # the same run, rounds interleaved, before it is committed.
    source = str(Path(tree).resolve() / "src") if tree else None
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, str(REPO), env.get("PYTHONPATH")]))
    # Keep every worker's interpreter the same: no bytecode writes, hash seed fixed.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    command = [str(python), "-m", "benchmarks.worker", "--impl", base, "--out", str(out), *worker_args]
    with log.open("a") as stderr:
        stderr.write(f"\n== {' '.join(command)}\n")
        stderr.flush()
        completed = subprocess.run(command, cwd=REPO, env=env, stdout=stderr, stderr=stderr, check=False)
    try:
        result: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        result = {"impl": name, "error": f"worker exited {completed.returncode} without a result; see {log}"}
    finally:
        out.unlink(missing_ok=True)
    result["impl"] = name
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI: the harness works")
    parser.add_argument(
        "--impls",
        help=f"comma-separated subset of {','.join(IMPLS)}; NAME@TREE runs tokentrace from TREE/src",
    )
    parser.add_argument("--scenarios", default="call,stream,threads,async")
    parser.add_argument("--rounds", type=int, help="processes per implementation (default 3; quick 1)")
    parser.add_argument("--quads", type=int, help="ABBA groups per scenario and process (default: from time)")
    parser.add_argument("--block-seconds", type=float, default=0.03, help="bare-SDK CPU seconds per block")
    parser.add_argument(
        "--scenario-seconds", type=float, default=3.0, help="bare-SDK CPU seconds per scenario and process"
    )
    parser.add_argument("--memory-calls", type=int, help="calls in the memory test (default 20000)")
    parser.add_argument(
        "--startup-rounds", type=int, help="rounds of the startup scenario (default 10; quick 2; 0: none)"
    )
    parser.add_argument("--out-dir", type=Path, help="RESULTS.md and results.json (default benchmarks/)")
    parser.add_argument("--plot", type=Path, help="PNG path (default docs/benchmark.png; quick: out-dir)")
    args = parser.parse_args(argv)

    if args.quick:
        names = args.impls.split(",") if args.impls else ["floor", "floor-same-signals", "tokentrace"]
        rounds, quads = args.rounds or 1, args.quads or 1
        memory_calls = args.memory_calls or 200
        worker_sizes = ["--fixed-n", "20"]
        out_dir = args.out_dir or HERE / ".out" / "quick"
    else:
        names = args.impls.split(",") if args.impls else MAIN_IMPLS + PEERS
        rounds, quads = args.rounds or 3, args.quads or 0
        memory_calls = args.memory_calls if args.memory_calls is not None else 20_000
        worker_sizes = [
            "--block-seconds",
            str(args.block_seconds),
            "--scenario-seconds",
            str(args.scenario_seconds),
        ]
        out_dir = args.out_dir or HERE
    plot = args.plot or (out_dir / "benchmark.png" if args.quick else REPO / "docs" / "benchmark.png")
    unknown = [name for name in names if name.partition("@")[0] not in IMPLS]
    if unknown:
        parser.error(f"unknown implementations {unknown}; known: {', '.join(IMPLS)}")

    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "workers.log"
    log.write_text("")
    missing = {
        name: "not set up: bash benchmarks/setup_peers.sh" for name in names if interpreter(name) is None
    }
    runnable = [name for name in names if name not in missing]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in runnable}
    started = time.monotonic()
    load_before = os.getloadavg()
    # Taken before the run: the tree may move while it runs (PYTHONPATH can point at a snapshot).
    source_state = {
        "repo_commit": _git("rev-parse", "--short", "HEAD"),
        "src_dirty": bool(_git("status", "--porcelain", "--", "src")),
    }
    for round_index in range(rounds):
        shift = round_index % max(1, len(runnable))
        for name in runnable[shift:] + runnable[:shift]:
            worker_args = ["--scenarios", args.scenarios, "--quads", str(quads), *worker_sizes]
            if round_index == 0 and memory_calls:
                worker_args += ["--memory-calls", str(memory_calls)]
            python = interpreter(name)
            assert python is not None
            print(
                f"[{time.monotonic() - started:6.1f}s] round {round_index + 1}/{rounds}: {name}",
                file=sys.stderr,
            )
            result = run_worker(name, python, worker_args, log)
            result["round"] = round_index
            if "error" in result:
                print(f"  {name} failed:\n{result['error']}", file=sys.stderr)
            results[name].append(result)

    startup_rounds = args.startup_rounds if args.startup_rounds is not None else (2 if args.quick else 10)
    startup_result: dict[str, Any] | None = None
    if startup_rounds:
        print(f"[{time.monotonic() - started:6.1f}s] startup: {startup_rounds} round(s)", file=sys.stderr)
        startup_result = startup.measure(startup_rounds, REPO / "src")
        if "error" in startup_result:
            print(f"  startup failed:\n{startup_result['error']}", file=sys.stderr)

    settings = {
        "mode": "quick" if args.quick else "full",
        "rounds": rounds,
        "quads": quads,
        "block_seconds": None if args.quick else args.block_seconds,
        "scenario_seconds": None if args.quick else args.scenario_seconds,
        "memory_calls": memory_calls,
        "scenarios": args.scenarios.split(","),
        "seconds": round(time.monotonic() - started, 1),
        # Other processes on the machine slow both states of a block pair alike, but a busy machine
        # widens the spread between rounds: the load is part of the result.
        "load_average": [round(value, 1) for value in (*load_before, *os.getloadavg())],
        "command": "python -m benchmarks" + (" --quick" if args.quick else ""),
    }
    settings.update(source_state)
    raw = {"settings": settings, "missing": missing, "results": results, "startup": startup_result}
    (out_dir / "results.json").write_text(json.dumps(raw, indent=1))
    failed = write_report(raw, out_dir / "RESULTS.md", plot)
    failed = failed or bool(startup_result and "error" in startup_result)
    print(f"wrote {out_dir / 'RESULTS.md'} ({settings['seconds']} s)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
