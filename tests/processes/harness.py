"""What the multi-process tests share: the scripted usage, the apps' environment, and the PromQL
sums over every series a service's processes reported."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tokentrace
from tests.export.conftest import REPO, Collector, Process, VictoriaMetrics, start_process, wait_for_port
from tokentrace.testing import FakeProvider

VENV_BIN = Path(sys.executable).parent
EXPORT_INTERVAL_MS = 500


@dataclass(frozen=True)
class Usage:
    input: int
    output: int
    cache_read: int
    reasoning: int

    def reply(self) -> dict[str, Any]:
        return {
            "usage": {
                "prompt_tokens": self.input,
                "completion_tokens": self.output,
                "total_tokens": self.input + self.output,
                "prompt_tokens_details": {"cached_tokens": self.cache_read},
                "completion_tokens_details": {"reasoning_tokens": self.reasoning},
            }
        }


BEFORE_FORK = Usage(input=100, output=20, cache_read=40, reasoning=10)  # the parent's one call
PER_CALL = Usage(input=10, output=2, cache_read=4, reasoning=1)  # each call a child makes


@dataclass(frozen=True)
class Expected:
    calls: int
    input: int
    output: int
    cache_read: int
    reasoning: int

    @classmethod
    def of(cls, *calls: tuple[int, Usage]) -> Expected:
        return cls(
            calls=sum(count for count, _ in calls),
            input=sum(count * usage.input for count, usage in calls),
            output=sum(count * usage.output for count, usage in calls),
            cache_read=sum(count * usage.cache_read for count, usage in calls),
            reasoning=sum(count * usage.reasoning for count, usage in calls),
        )


def app_env(collector: Collector, fake: FakeProvider, service: str, protocol: str = "grpc") -> dict[str, str]:
    """The environment of an app process: the standard OTEL_* variables and the fake's URL."""
    return {
        **os.environ,
        # This checkout first (also when the installed tokentrace is another one), then the tests.
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "FAKE_OPENAI_URL": fake.base_url("openai"),
        "APP_SERVICE": service,
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.grpc_endpoint
        if protocol == "grpc"
        else collector.http_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc" if protocol == "grpc" else "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": str(EXPORT_INTERVAL_MS),
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "",
        # These apps count tokens against a healthy Collector: on a starved machine (load 12 on 2
        # cores, measured) a process's exit flush can take longer than the 2 s default bound, which
        # test_exit.py tests on its own.
        "TOKENTRACE_EXIT_TIMEOUT": "30",
    }


@contextmanager
def server(
    name: str,
    argv: list[str],
    env: dict[str, str],
    workdir: Path,
    port: int | None = None,
    stop: signal.Signals = signal.SIGTERM,
) -> Iterator[Process]:
    """A server or worker run from this checkout, stopped gracefully (``stop``) when the block ends.

    A graceful stop lets each of its processes end normally and flush: the test checks the exit
    code afterwards (``process.popen.returncode``).
    """
    process = start_process(name, argv, workdir, env)
    try:
        if port is not None:
            wait_for_port(port, process.popen, process.log, timeout=60)
        yield process
    finally:
        process.popen.send_signal(stop)
        process.popen.wait(timeout=60)


def only_openai_instrumented() -> str:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` for these apps under ``opentelemetry-instrument``.

    Every other instrumentor would import its SDK at startup (issue 18 item 6), and tearing all of
    them down again takes seconds at exit on a busy machine: not what these tests measure. OpenTelemetry's
    own OpenAI instrumentation (entry point ``openai``, installed for the coexistence tests) is off too: it
    records ``gen_ai.client.token.usage`` as well, so the sums would count each call twice.
    """
    others = [f"tokentrace_{name}" for name in tokentrace.supported_providers() if name != "openai"]
    return ",".join([*others, "botocore", "openai"])


# Prometheus names of the token metrics, as VictoriaMetrics stores them (see tests/export).
COUNTERS = {
    "input": "gen_ai_client_inference_usage_input_tokens_total",
    "output": "gen_ai_client_inference_usage_output_tokens_total",
    "cache_read": "gen_ai_client_inference_usage_cache_read_input_tokens_total",
    "reasoning": "gen_ai_client_inference_usage_reasoning_output_tokens_total",
}
HISTOGRAM_SUM = "gen_ai_client_token_usage_sum"
HISTOGRAM_COUNT = "gen_ai_client_token_usage_count"
INSTANCE_LABEL = "service_instance_id"


@dataclass(frozen=True)
class Seen:
    """The PromQL sums over all series of one service, and the instances that reported."""

    counters: dict[str, float]
    histogram_sums: dict[str, float]
    histogram_counts: dict[str, float]
    instances: set[str]

    def tokens(self) -> dict[str, dict[str, float]]:
        return {
            "counters": self.counters,
            "histogram_sums": self.histogram_sums,
            "histogram_counts": self.histogram_counts,
        }


def seen_for(expected: Expected, instances: set[str]) -> Seen:
    return Seen(
        counters={
            "input": expected.input,
            "output": expected.output,
            "cache_read": expected.cache_read,
            "reasoning": expected.reasoning,
        },
        histogram_sums={"input": expected.input, "output": expected.output},
        histogram_counts={"input": expected.calls, "output": expected.calls},
        instances=instances,
    )


def _sum(vm: VictoriaMetrics, expr: str) -> float:
    result = vm.query(f"sum({expr})")
    return float(result[0]["value"][1]) if result else 0.0


def token_sums(vm: VictoriaMetrics, service: str) -> Seen:
    selector = f'service_name="{service}"'
    by_instance = vm.query(f"count by ({INSTANCE_LABEL}) ({COUNTERS['input']}{{{selector}}})")
    return Seen(
        counters={kind: _sum(vm, f"{name}{{{selector}}}") for kind, name in COUNTERS.items()},
        histogram_sums={
            kind: _sum(vm, f'{HISTOGRAM_SUM}{{{selector}, gen_ai_token_type="{kind}"}}')
            for kind in ("input", "output")
        },
        histogram_counts={
            kind: _sum(vm, f'{HISTOGRAM_COUNT}{{{selector}, gen_ai_token_type="{kind}"}}')
            for kind in ("input", "output")
        },
        instances={series["metric"].get(INSTANCE_LABEL, "") for series in by_instance},
    )


def wait_for_sums(vm: VictoriaMetrics, service: str, expected: Expected, instance_count: int) -> Seen:
    """The sums once they equal the expected ones from that many instances, or after 20 s.

    Called once every process has exited (so has sent all it will): nothing arrives later.
    """
    want = seen_for(expected, set()).tokens()
    deadline = time.monotonic() + 20
    while True:
        vm.flush()
        seen = token_sums(vm, service)
        done = seen.tokens() == want and len(seen.instances) == instance_count
        if done or time.monotonic() > deadline:
            return seen
        time.sleep(0.3)


def assert_token_sums(
    vm: VictoriaMetrics, service: str, expected: Expected, instance_count: int, context: str = ""
) -> Seen:
    """The exact expected sums of every token metric, from ``instance_count`` distinct instances."""
    seen = wait_for_sums(vm, service, expected, instance_count)
    assert seen.tokens() == seen_for(expected, set()).tokens(), (seen, context)
    assert len(seen.instances) == instance_count, (seen.instances, context)
    return seen
