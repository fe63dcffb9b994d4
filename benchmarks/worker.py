"""One benchmark process: one implementation, switched on and off in ABBA blocks, results as JSON.

Run by ``benchmarks/run.py`` (``python -m benchmarks.worker --impl NAME --out FILE``), with the
interpreter of the virtual environment that has the implementation.

Why the numbers are trustworthy on a machine that drifts by tens of percent within seconds:
- every block measures process CPU time (``time.process_time``: all threads, so the batch span
  processor's export thread is billed too) and ends with ``force_flush`` inside the timed region,
  so each block pays for exporting its own spans;
- the implementation is instrumented once, then switched off and on between blocks by swapping
  the attributes it patched (``PatchSwitch``), which costs microseconds; so blocks are short (tens
  of milliseconds) and alternate off, on, on, off (then on, off, off, on) dozens of times per
  scenario; each group of four gives one on-minus-off difference, and the process reports them all.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import resource
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from benchmarks import fake
from benchmarks.impls import IMPLS, PatchSwitch, apply_env, create

THREADS = 8
TASKS = 100


class CountingExporter(SpanExporter):
    """Drops spans after counting them: export cost is the SDK's batching, not a backend's."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: CountingExporter
    reader: InMemoryMetricReader

    @classmethod
    def create(cls) -> Telemetry:
        exporter = CountingExporter()
        tracer_provider = TracerProvider()
        # Default batch settings (512 per export, 2048 queued): what an application gets.
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        # Delta temporality so each scenario's points can be counted on their own; recording costs
        # the same either way, and collection happens outside the timed blocks.
        delta = AggregationTemporality.DELTA
        reader = InMemoryMetricReader(
            preferred_temporality={
                kind: delta
                for kind in (
                    Counter,
                    UpDownCounter,
                    Histogram,
                    ObservableCounter,
                    ObservableUpDownCounter,
                    ObservableGauge,
                )
            }
        )
        meter_provider = MeterProvider(metric_readers=[reader])
        # Global too, for any peer that reaches for the global providers.
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        return cls(tracer_provider, meter_provider, exporter, reader)

    def flush(self) -> None:
        self.tracer_provider.force_flush()

    def drain_metrics(self) -> dict[str, dict[str, float]]:
        """Points recorded since the last drain, per instrument: histogram counts, counter sums."""
        totals: dict[str, dict[str, float]] = {}
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    entry = totals.setdefault(metric.name, {"points": 0.0, "sum": 0.0, "series": 0.0})
                    for point in metric.data.data_points:
                        entry["series"] += 1
                        count = getattr(point, "count", None)
                        entry["points"] += count if count is not None else 0
                        entry["sum"] += getattr(point, "sum", None) or getattr(point, "value", 0) or 0
        return totals


class Scenario:
    """A unit of work repeated ``n`` times per block; ``quantum`` is the smallest n it accepts."""

    name = ""
    quantum = 1
    # Blocks that start threads or gather tasks need to be long enough to amortize that.
    min_block_seconds = 0.0

    def run(self, n: int) -> None:
        raise NotImplementedError


class Call(Scenario):
    name = "call"

    def __init__(self) -> None:
        self.client = fake.sync_client()

    def run(self, n: int) -> None:
        create = self.client.chat.completions.create
        kwargs = fake.CALL_KWARGS
        for _ in range(n):
            create(**kwargs)


class Stream(Scenario):
    name = "stream"

    def __init__(self) -> None:
        self.client = fake.sync_client()

    def run(self, n: int) -> None:
        create = self.client.chat.completions.create
        kwargs = fake.STREAM_KWARGS
        for _ in range(n):
            for _chunk in create(**kwargs):
                pass


class Threads(Scenario):
    name = "threads"
    quantum = THREADS
    min_block_seconds = 0.1

    def __init__(self) -> None:
        self.client = fake.sync_client()

    def run(self, n: int) -> None:
        create = self.client.chat.completions.create
        kwargs = fake.CALL_KWARGS
        per_thread = n // THREADS

        def work() -> None:
            for _ in range(per_thread):
                create(**kwargs)

        threads = [threading.Thread(target=work) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


class Tasks(Scenario):
    name = "async"
    quantum = TASKS
    min_block_seconds = 0.1

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = fake.async_client()

    def run(self, n: int) -> None:
        create = self.client.chat.completions.create
        kwargs = fake.CALL_KWARGS
        per_task = n // TASKS

        async def work() -> None:
            for _ in range(per_task):
                await create(**kwargs)

        async def block() -> None:
            await asyncio.gather(*(work() for _ in range(TASKS)))

        self.loop.run_until_complete(block())


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "call": Call,
    "stream": Stream,
    "threads": Threads,
    "async": Tasks,
}


class Bench:
    def __init__(self, switch: PatchSwitch, telemetry: Telemetry) -> None:
        self.switch_ = switch
        self.telemetry = telemetry
        self.on = False
        self.ops = {False: 0, True: 0}
        self.spans = {False: 0, True: 0}

    def switch(self, on: bool) -> None:
        if on != self.on:
            self.switch_.on() if on else self.switch_.off()
            self.on = on

    def block(self, scenario: Scenario, n: int) -> float:
        """CPU seconds per op for ``n`` ops in the current state, export included."""
        before = self.telemetry.exporter.count
        started = time.process_time()
        scenario.run(n)
        self.telemetry.flush()
        elapsed = time.process_time() - started
        self.ops[self.on] += n
        self.spans[self.on] += self.telemetry.exporter.count - before
        return elapsed / n


def calibrate(scenario: Scenario, block_seconds: float) -> tuple[int, float]:
    """Ops per block so that a block of the bare SDK lasts about ``block_seconds``, and s per op."""
    n = scenario.quantum
    while True:
        started = time.process_time()
        scenario.run(n)
        elapsed = time.process_time() - started
        if elapsed >= 0.1 or n >= 100_000:
            break
        n *= 4
    per_op = elapsed / n
    wanted = max(1, round(max(block_seconds, scenario.min_block_seconds) / per_op / scenario.quantum))
    return wanted * scenario.quantum, per_op


def measure(bench: Bench, scenario: Scenario, n: int, quads: int) -> dict[str, Any]:
    # Both states warmed up before anything is timed (first-call work, caches, metric series).
    for on in (True, False):
        bench.switch(on)
        bench.block(scenario, n)
    bench.telemetry.drain_metrics()
    ops_before = dict(bench.ops)
    spans_before = dict(bench.spans)
    results = []
    for quad in range(quads):
        order = (False, True, True, False) if quad % 2 == 0 else (True, False, False, True)
        times: dict[bool, list[float]] = {False: [], True: []}
        for on in order:
            bench.switch(on)
            times[on].append(bench.block(scenario, n))
        results.append({"off": statistics.fmean(times[False]), "on": statistics.fmean(times[True])})
    bench.switch(False)
    ops = {state: bench.ops[state] - ops_before[state] for state in (False, True)}
    spans = {state: bench.spans[state] - spans_before[state] for state in (False, True)}
    return {
        "n": n,
        "quads": results,
        "ops_on": ops[True],
        "ops_off": ops[False],
        "spans_per_op_on": spans[True] / ops[True] if ops[True] else None,
        "spans_per_op_off": spans[False] / ops[False] if ops[False] else None,
        "metrics": bench.telemetry.drain_metrics(),
    }


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") // 1024


def memory(bench: Bench, calls: int, segments: int = 10) -> dict[str, Any]:
    """Growth over ``calls`` instrumented calls (one in 20 a short stream), after a warm-up segment.

    RSS moves by megabytes with allocator arenas and the span queue's high-water mark, so it is
    sampled at flushed, collected checkpoints; a leak shows as steady growth across them. GC-tracked
    objects and tracemalloc's retained bytes per call are the exact counts behind it.
    """
    import tracemalloc

    client = fake.sync_client()

    def run(count: int) -> None:
        # Looked up here, after the switch: a method bound earlier would bypass the patch.
        create = client.chat.completions.create
        for index in range(count):
            if index % 20 == 19:
                for _chunk in create(**fake.SHORT_STREAM_KWARGS):
                    pass
            else:
                create(**fake.CALL_KWARGS)

    def checkpoint() -> tuple[int, int]:
        bench.telemetry.flush()
        bench.telemetry.drain_metrics()
        gc.collect()
        return _rss_kib(), len(gc.get_objects())

    bench.switch(True)
    segment = max(20, calls // segments)
    run(segment)  # warm-up: caches, exemplar reservoirs, metric series, allocator arenas
    points = [checkpoint()]
    spans_before = bench.telemetry.exporter.count
    for _ in range(segments):
        run(segment)
        points.append(checkpoint())
    spans = bench.telemetry.exporter.count - spans_before
    traced_calls = max(20, segment // 2)
    tracemalloc.start()
    # Allocations made before tracing started are invisible to it, so the first traced leg is a
    # warm-up of its own (it shows tens of kilobytes of one-off cache growth); the second is measured.
    run(traced_calls)
    checkpoint()
    traced_before = tracemalloc.get_traced_memory()[0]
    run(traced_calls)
    checkpoint()
    traced_after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    bench.switch(False)
    return {
        "calls": segment * segments,
        "rss_kib": [rss for rss, _ in points],
        "rss_growth_kib": points[-1][0] - points[0][0],
        "object_growth": points[-1][1] - points[0][1],
        "traced_calls": traced_calls,
        "retained_bytes_per_call": (traced_after - traced_before) / traced_calls,
        "spans_per_call": spans / (segment * segments),
    }


def _versions(impl_name: str) -> dict[str, str]:
    names = ["openai", "opentelemetry-api", "opentelemetry-sdk", "wrapt", "pydantic"]
    names += list(IMPLS[impl_name].distributions)
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", required=True, choices=sorted(IMPLS))
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--block-seconds", type=float, default=0.03, help="bare-SDK CPU time per block")
    parser.add_argument("--scenario-seconds", type=float, default=3.0, help="bare-SDK CPU time per scenario")
    parser.add_argument("--quads", type=int, default=0, help="ABBA groups per scenario (default: from time)")
    parser.add_argument("--fixed-n", type=int, default=0, help="ops per block (quick mode), no calibration")
    parser.add_argument("--memory-calls", type=int, default=0, help="instrumented calls for the memory test")
    args = parser.parse_args(argv)

    result: dict[str, Any] = {
        "impl": args.impl,
        "python": platform.python_version(),
        "executable": sys.executable,
        "versions": _versions(args.impl),
        "stream_chunks": fake.STREAM_CHUNKS,
        "scenarios": {},
    }
    try:
        apply_env(args.impl)
        telemetry = Telemetry.create()
        impl = create(args.impl, telemetry.tracer_provider, telemetry.meter_provider)
        scenarios = {name: SCENARIOS[name]() for name in args.scenarios.split(",")}
        for scenario in scenarios.values():
            scenario.run(scenario.quantum)  # imports and first-call work of the SDK itself
        if args.impl.startswith("tokentrace"):
            result["source"] = str(Path(sys.modules["tokentrace"].__file__ or "?").parent)
        switch = PatchSwitch(impl, allow_empty=args.impl == "bare")
        switch.off()
        result["patched"] = switch.names()
        bench = Bench(switch, telemetry)
        # Everything allocated so far is moved out of the collector's reach, so an automatic full
        # collection landing in a block walks what the workload allocates, not the SDKs' modules.
        gc.collect()
        gc.freeze()
        for name, scenario in scenarios.items():
            if args.fixed_n:
                n = max(1, math.ceil(args.fixed_n / scenario.quantum)) * scenario.quantum
                if name == "stream":
                    n = max(1, args.fixed_n // 20)
                quads = args.quads or 1
            else:
                n, per_op = calibrate(scenario, args.block_seconds)
                quads = args.quads or max(2, round(args.scenario_seconds / (4 * n * per_op)))
            result["scenarios"][name] = measure(bench, scenario, n, quads)
        if args.memory_calls:
            result["memory"] = memory(bench, args.memory_calls)
        leftovers = switch.finish()
        if leftovers:
            result["uninstrument_leftovers"] = leftovers
    except Exception:
        result["error"] = traceback.format_exc()
    result["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(args.out, "w") as out:
        json.dump(result, out, indent=1)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
