"""Item 4, the telemetry backend down or slow: the application does not notice, and telemetry resumes.

The SDK is set up as an application would: ``BatchSpanProcessor`` and
``PeriodicExportingMetricReader`` with the real OTLP exporters (gRPC and HTTP), short intervals and
timeouts. Their endpoint is a switchable TCP port (``FaultyEndpoint``): a relay to the in-process
OTLP receiver (healthy), a closed port (refusing), or a socket that accepts and never answers
(hanging). Instrumented calls through the fake provider keep their latency (medians compared with a
generous noise bound), memory stays bounded while nothing can be exported (the batch queue drops,
it does not grow), and spans arrive again once the backend is back on the same port.
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import tokentrace
from tests.reliability.cases import OPENAI_CHAT, Clients
from tests.reliability.netfaults import FaultyEndpoint
from tokentrace.testing import FakeProvider
from tokentrace.testing.otlp_receiver import OtlpReceiver

Transport = Literal["grpc", "http"]
QUEUE_SIZE = 128
EXPORT_TIMEOUT_S = 0.5

pytestmark = pytest.mark.slow


@dataclass
class Pipeline:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    processor: BatchSpanProcessor

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown(timeout_millis=2000)


def pipeline(transport: Transport, endpoint: str) -> Pipeline:
    """What an application configures: batch span export and periodic metric export over OTLP."""
    if transport == "grpc":
        spans: Any = GrpcSpanExporter(endpoint=endpoint, insecure=True, timeout=EXPORT_TIMEOUT_S)
        metrics: Any = GrpcMetricExporter(endpoint=endpoint, insecure=True, timeout=EXPORT_TIMEOUT_S)
    else:
        spans = HttpSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=EXPORT_TIMEOUT_S)
        metrics = HttpMetricExporter(endpoint=f"{endpoint}/v1/metrics", timeout=EXPORT_TIMEOUT_S)
    processor = BatchSpanProcessor(
        spans,
        max_queue_size=QUEUE_SIZE,
        max_export_batch_size=32,
        schedule_delay_millis=50,
        export_timeout_millis=EXPORT_TIMEOUT_S * 1000,
    )
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor)
    reader = PeriodicExportingMetricReader(
        metrics, export_interval_millis=200, export_timeout_millis=EXPORT_TIMEOUT_S * 1000
    )
    return Pipeline(tracer_provider, MeterProvider(metric_readers=[reader]), processor)


@dataclass
class Backend:
    receiver: OtlpReceiver
    endpoint: FaultyEndpoint
    pipeline: Pipeline
    transport: Transport

    def healthy(self) -> None:
        port = self.receiver.grpc_port if self.transport == "grpc" else self.receiver.http_port
        self.endpoint.set_mode("relay", target=port)


@pytest.fixture(autouse=True)
def quiet_exporters() -> Iterator[None]:
    """The exporters log every failed export; pytest would keep each record (and count it as memory)."""
    logger = logging.getLogger("opentelemetry")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@pytest.fixture(params=["grpc", "http"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    transport: Transport = request.param
    with OtlpReceiver(grpc=transport == "grpc", http=transport == "http") as receiver:
        endpoint = FaultyEndpoint("refuse")
        setup = Backend(receiver, endpoint, pipeline(transport, endpoint.endpoint), transport)
        setup.healthy()
        tokentrace.instrument(
            ["openai"],
            tracer_provider=setup.pipeline.tracer_provider,
            meter_provider=setup.pipeline.meter_provider,
        )
        try:
            yield setup
        finally:
            tokentrace.uninstrument()
            # A backend that answers, so shutdown's final export does not wait out its timeout.
            setup.healthy()
            setup.pipeline.shutdown()
            endpoint.stop()


def timed_calls(clients: Clients, count: int, model: str = "gpt-4o-mini") -> list[float]:
    """Per-call latency of ``count`` instrumented calls, alternating plain and streamed."""
    latencies = []
    for index in range(count):
        started = time.perf_counter()
        clients.call(stream=index % 2 == 1, is_async=False, model=model)
        latencies.append(time.perf_counter() - started)
    return latencies


@pytest.fixture
def clients(fake_provider: FakeProvider) -> Iterator[Clients]:
    with Clients(OPENAI_CHAT, fake_provider.base_url("openai")) as made:
        yield made


def test_latency_unchanged_while_backend_refuses_or_hangs(backend: Backend, clients: Clients) -> None:
    timed_calls(clients, 30)  # warm-up: connections, first export
    # Short blocks of each state, interleaved: a shared machine's load drifts over seconds, and four long
    # phases in a row compared a quiet first phase with a loaded later one (a 2.6x "slowdown" that was load).
    latencies: dict[str, list[float]] = {"healthy": [], "refuse": [], "hang": []}
    for _ in range(6):
        for state in ("healthy", "refuse", "healthy", "hang"):
            if state == "healthy":
                backend.healthy()
            else:
                backend.endpoint.set_mode(state)  # type: ignore[arg-type]
            latencies[state] += timed_calls(clients, 25)
    backend.healthy()
    healthy, refusing, hanging = (
        statistics.median(latencies[state]) for state in ("healthy", "refuse", "hang")
    )
    # Medians of 300 and 150 calls; the bound is generous because shared machines drift a lot.
    bound = 2.0 * healthy + 0.005
    assert refusing <= bound, (refusing, healthy)
    assert hanging <= bound, (hanging, healthy)


@pytest.mark.parametrize("backend", ["grpc"], indirect=True)  # the heavier exporter; one is enough
def test_memory_bounded_while_backend_hangs(
    backend: Backend, clients: Clients, fake_provider: FakeProvider
) -> None:
    backend.endpoint.set_mode("hang")
    timed_calls(clients, QUEUE_SIZE * 2)  # the batch queue is full from here on: new spans are dropped
    tracemalloc.start()
    try:
        timed_calls(clients, 50)
        # The fake provider records every request it gets: not the application's memory.
        fake_provider.reset()
        gc.collect()
        start, _ = tracemalloc.get_traced_memory()
        live_before = live_objects()
        timed_calls(clients, 400)
        fake_provider.reset()
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
        live_after = live_objects()
    finally:
        tracemalloc.stop()
    # What may grow is noise (free lists, the fake endpoint's threads): 100-500 kB here. 400 more
    # spans kept would add well over a megabyte.
    assert end - start < 1_000_000, end - start
    # And exactly: the batch queue was full before, so no more spans are alive after 400 more calls
    # (give or take one export batch in flight); no invocation or stream proxy outlives its call.
    grown = {kind: live_after[kind] - live_before[kind] for kind in live_after}
    assert grown["spans"] <= 64, (live_before, live_after)
    assert grown["invocations"] <= 0 and grown["proxies"] <= 0, (live_before, live_after)


def live_objects() -> dict[str, int]:
    live = Counter(type(thing).__name__ for thing in gc.get_objects())
    return {
        "spans": live["_Span"] + live["ReadableSpan"],
        "invocations": live["Invocation"],
        "proxies": live["SyncStreamWrapper"] + live["AsyncStreamWrapper"],
    }


def test_telemetry_resumes_when_backend_returns(backend: Backend, clients: Clients) -> None:
    backend.endpoint.set_mode("refuse")
    timed_calls(clients, 20, model="while-down")
    backend.healthy()
    deadline = time.monotonic() + 20

    def arrived(receiver: OtlpReceiver) -> bool:
        return bool(receiver.spans("chat after-return"))

    while time.monotonic() < deadline and not arrived(backend.receiver):
        timed_calls(clients, 2, model="after-return")
        backend.pipeline.tracer_provider.force_flush(2000)
        time.sleep(0.1)
    assert arrived(backend.receiver)
    assert backend.receiver.wait_for(
        lambda receiver: "gen_ai.client.token.usage" in receiver.metric_names(), timeout=10
    )
    span = backend.receiver.spans("chat after-return")[0]
    assert span.attributes["gen_ai.usage.input_tokens"] == 1217
