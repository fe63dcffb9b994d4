"""Where an implementation's added time goes, per call or per chunk, from py-spy samples.

    python -m benchmarks.profile --impl tokentrace --mode call      # or --mode stream, --depth 3
    PYSPY=/path/to/py-spy python -m benchmarks.profile ...           # default: py-spy on PATH or in
                                                                    # benchmarks/.venvs/tools/bin

A child process loops over the same requests as the benchmark with the implementation switched on,
under ``py-spy record`` (a sampling profiler: no per-function overhead skews small functions the way
cProfile does). Each sample is owned by whoever runs at its leaf: the SDK (``openai``, ``httpx2``
and what they call) or the telemetry (the instrumentation, the OpenTelemetry SDK, span export in
``force_flush``), switching owner at every boundary crossing. Telemetry samples are grouped by their
first ``--depth`` telemetry frames and converted to microseconds per operation with the child's own
process CPU time. ``pip install py-spy`` (e.g. into benchmarks/.venvs/tools) to use it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Frames from these files belong to telemetry (checked first: peers live under opentelemetry/.../openai);
# the SDK's own frames switch the owner back; anything else (stdlib, pydantic, wrapt) keeps the owner
# of its caller, so a pydantic dump made by an instrumentation is billed to the instrumentation.
_TELEMETRY = re.compile(r"/(opentelemetry|tokentrace|openinference|traceloop)/|/benchmarks/floor\.py")
_SDK = re.compile(r"/site-packages/(openai|httpx2|httpcore2|anyio|jiter|sniffio)/")
_LOOP = "_child_loop ("
_FLUSH = "TracerProvider.force_flush"


def _child(impl_name: str, mode: str, seconds: float, out: str) -> None:
    from benchmarks import fake, worker
    from benchmarks.impls import apply_env, create

    apply_env(impl_name)
    telemetry = worker.Telemetry.create()
    impl = create(impl_name, telemetry.tracer_provider, telemetry.meter_provider)
    impl.instrument()
    client = fake.sync_client()
    _child_loop(client, telemetry, mode, 2.0, fake)  # warm-up: first-call work, caches
    started = time.process_time()
    ops = _child_loop(client, telemetry, mode, seconds, fake)
    Path(out).write_text(json.dumps({"ops": ops, "cpu": time.process_time() - started}))


def _child_loop(client: object, telemetry: object, mode: str, seconds: float, fake: object) -> int:
    create = client.chat.completions.create  # type: ignore[attr-defined]
    call_kwargs, stream_kwargs = fake.CALL_KWARGS, fake.STREAM_KWARGS  # type: ignore[attr-defined]
    ops = 0
    end = time.process_time() + seconds
    while time.process_time() < end:
        if mode == "call":
            for _ in range(100):
                create(**call_kwargs)
            ops += 100
        else:
            for _ in range(2):
                for _chunk in create(**stream_kwargs):
                    pass
            ops += 2
        telemetry.flush()  # type: ignore[attr-defined]
    return ops


def _strip(frame: str) -> str:
    # "Span.end (/x/site-packages/opentelemetry/sdk/trace/__init__.py:956)"
    # -> "Span.end (sdk/trace/__init__.py)"
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r"\((?:/[^()]*?/(?:site-packages|src)/)?(?:opentelemetry/)?", "(", frame)


_OTEL_SDK = re.compile(r"/opentelemetry/sdk/")
_OTEL_API = re.compile(r"/opentelemetry/")
_OWN = re.compile(r"/(tokentrace|openinference|traceloop)/|/benchmarks/floor\.py|/instrumentation/openai")


def _leaf_group(frames: list[str]) -> str:
    """ "innermost instrumentation frame | where the leaf runs": our code, the OTel SDK or API, other."""
    own = next((frame for frame in reversed(frames) if _OWN.search(frame)), None)
    leaf = frames[-1]
    if _OWN.search(leaf):
        where = "instrumentation itself"
    elif _OTEL_SDK.search(leaf):
        where = "OpenTelemetry SDK"
    elif _OTEL_API.search(leaf):
        where = "OpenTelemetry API"
    else:
        where = "other (stdlib, wrapt, pydantic)"
    return f"{_strip(own) if own else '-'} | {where}"


def analyse(raw: Path, depth: int, by_leaf: bool = False) -> tuple[int, int, collections.Counter[str]]:
    """Samples in the loop, samples owned by telemetry, and telemetry samples per frame group.

    With ``by_leaf``, samples are grouped by the innermost instrumentation frame and where the leaf
    runs, which separates an instrumentation's own work from what it asks the OpenTelemetry SDK to do.
    """
    total = telemetry = 0
    groups: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        loop = next((i for i, frame in enumerate(frames) if frame.startswith(_LOOP)), None)
        if loop is None:
            continue
        count = int(count_text)
        total += count
        owner, segment_start = "sdk", None
        below = frames[loop + 1 :]
        for index, frame in enumerate(below):
            if _FLUSH in frame or _TELEMETRY.search(frame):
                if owner != "telemetry":
                    owner, segment_start = "telemetry", index
            elif _SDK.search(frame):
                owner = "sdk"
        if owner != "telemetry" or segment_start is None:
            continue
        telemetry += count
        if by_leaf:
            groups[_leaf_group(below[segment_start:])] += count
        else:
            groups[" > ".join(_strip(f) for f in below[segment_start : segment_start + depth])] += count
    return total, telemetry, groups


def find_pyspy() -> str | None:
    candidates = [os.environ.get("PYSPY"), shutil.which("py-spy"), str(HERE / ".venvs/tools/bin/py-spy")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="tokentrace")
    parser.add_argument("--mode", choices=("call", "stream"), default="call")
    parser.add_argument("--seconds", type=float, default=15.0, help="CPU seconds profiled")
    parser.add_argument("--depth", type=int, default=2, help="telemetry frames per group")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--rate", type=int, default=400, help="samples per second")
    parser.add_argument(
        "--by-leaf", action="store_true", help="group by innermost instrumentation frame and leaf owner"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.impl, args.mode, args.seconds, args.out)
        return 0

    pyspy = find_pyspy()
    if pyspy is None:
        print("py-spy not found: pip install py-spy (or set PYSPY)", file=sys.stderr)
        return 2
    from benchmarks.run import interpreter

    python = interpreter(args.impl)
    if python is None:
        print(f"{args.impl}: environment missing (bash benchmarks/setup_peers.sh)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "samples.txt", Path(tmp) / "ops.json"
        base, _, tree = args.impl.partition("@")
        source = str(Path(tree).resolve() / "src") if tree else None  # as in run.py: NAME@TREE
        path = os.pathsep.join(filter(None, [source, str(REPO), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        child = [str(python), "-m", "benchmarks.profile", "--child", "--impl", base, "--mode", args.mode]
        child += ["--seconds", str(args.seconds), "--out", str(out)]
        record = [pyspy, "record", "--full-filenames", "--rate", str(args.rate), "--format", "raw"]
        record += ["--output", str(raw), "--"]
        subprocess.run(record + child, cwd=REPO, env=env, check=True, capture_output=True)
        summary = json.loads(out.read_text())
        total, telemetry, groups = analyse(raw, args.depth, args.by_leaf)
    per_op_us = summary["cpu"] / summary["ops"] * 1e6
    sdk = total - telemetry
    unit = "call" if args.mode == "call" else "stream"
    print(f"{args.impl}, {args.mode}: {summary['ops']} ops, {per_op_us:.0f} µs CPU per {unit} in all")
    added_us = telemetry / total * per_op_us
    print(f"telemetry: {telemetry / sdk:.1%} of the SDK's samples, {added_us:.1f} µs per {unit}")
    print(f"{'% of SDK':>9} {'µs/' + unit:>10}  telemetry frames (outermost first)")
    for group, count in groups.most_common(args.top):
        print(f"{count / sdk:9.2%} {count / total * per_op_us:10.2f}  {group}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
