"""The shipped collector-config/otel-collector.yaml, run by a real Collector (scripts/obs-tools builds
it): application -> Collector -> in-process receiver for traces, Collector -> VictoriaMetrics for
metrics, queried back with PromQL. Skips with the reason when the binaries are not built."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

import tokentrace
from tests.export.conftest import (
    COLLECTOR_CONFIG,
    Collector,
    Pipeline,
    Protocol,
    VictoriaMetrics,
    make_pipeline,
    obs_binary,
    otlp_exporters,
)
from tests.export.workload import CHAT_MODEL, CHAT_USAGE, MESSAGES, openai_client
from tokentrace._core import semconv
from tokentrace.testing import FakeProvider
from tokentrace.testing.otlp_receiver import OtlpReceiver

HISTOGRAMS = {
    semconv.GEN_AI_CLIENT_TOKEN_USAGE: semconv.TOKEN_UNIT,
    semconv.GEN_AI_CLIENT_OPERATION_DURATION: semconv.SECONDS_UNIT,
    semconv.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK: semconv.SECONDS_UNIT,
    semconv.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK: semconv.SECONDS_UNIT,
}
COUNTERS = (
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS,
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS,
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS,
)


def prometheus_base(name: str, unit: str) -> str:
    """OTLP -> Prometheus naming: dots to underscores, ``s`` adds ``_seconds``, ``{...}`` units nothing."""
    return name.replace(".", "_") + ("_seconds" if unit == semconv.SECONDS_UNIT else "")


def label(attribute: str) -> str:
    return attribute.replace(".", "_")


@pytest.fixture
def app_pipeline(collector: Collector) -> Iterator[tuple[Collector, dict[str, Pipeline]]]:
    made: dict[str, Pipeline] = {}
    yield collector, made
    tokentrace.uninstrument()
    for pipeline in made.values():
        pipeline.shutdown()


def instrumented(
    holder: tuple[Collector, dict[str, Pipeline]], protocol: Protocol, service_name: str
) -> Pipeline:
    collector, made = holder
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    pipeline = make_pipeline(*otlp_exporters(protocol, endpoint), service_name=service_name)
    made[service_name] = pipeline
    tokentrace.instrument(
        ["openai"], tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider
    )
    return pipeline


def test_shipped_config_validates() -> None:
    binary = obs_binary("otelcol-deb")
    result = subprocess.run(
        [str(binary), "validate", f"--config={COLLECTOR_CONFIG}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    components = subprocess.run(
        [str(binary), "components"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    # Core components only: what every Collector distribution has.
    for name in ("otlp", "batch", "memory_limiter", "otlp_grpc", "otlp_http"):
        assert f"- name: {name}\n" in components


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_traces_pass_through_collector(
    protocol: Protocol,
    app_pipeline: tuple[Collector, dict[str, Pipeline]],
    trace_sink: OtlpReceiver,
    fake: FakeProvider,
) -> None:
    service = f"collector-traces-{protocol}"
    pipeline = instrumented(app_pipeline, protocol, service)
    fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
    openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    pipeline.flush()

    def ours(receiver: OtlpReceiver) -> list[dict[str, object]]:
        return [
            span.attributes
            for span in receiver.spans(f"chat {CHAT_MODEL}")
            if span.resource_attributes.get("service.name") == service
        ]

    assert trace_sink.wait_for(lambda receiver: len(ours(receiver)) == 1, timeout=15), (
        f"no span from {service} reached the sink through the Collector"
    )
    attributes = ours(trace_sink)[0]
    assert {key: attributes[key] for key in attributes if key.startswith("gen_ai.usage.")} == {
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 1217,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 9,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1152,
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
    }
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    exports = [export for export in trace_sink.exports("traces") if export.transport == "grpc"]
    assert exports, "the Collector forwards over OTLP/gRPC"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_metrics_reach_victoria_metrics_with_prometheus_names(
    protocol: Protocol,
    app_pipeline: tuple[Collector, dict[str, Pipeline]],
    victoria_metrics: VictoriaMetrics,
    fake: FakeProvider,
) -> None:
    service = f"collector-metrics-{protocol}"
    pipeline = instrumented(app_pipeline, protocol, service)
    client = openai_client(fake)
    fake.enqueue("openai.chat", {"usage": CHAT_USAGE}, {"usage": CHAT_USAGE})
    client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    for _ in client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True):
        pass
    pipeline.flush()

    selector = f'{{service_name="{service}"}}'
    expected_names = {
        prometheus_base(name, unit) + suffix
        for name, unit in HISTOGRAMS.items()
        for suffix in ("_bucket", "_sum", "_count")
    } | {prometheus_base(name, semconv.TOKEN_UNIT) + "_total" for name in COUNTERS}
    victoria_metrics.wait_for_names(selector, expected_names)
    assert set(victoria_metrics.metric_names(selector)) == expected_names

    token_usage = prometheus_base(semconv.GEN_AI_CLIENT_TOKEN_USAGE, semconv.TOKEN_UNIT)
    by_type = {
        row["metric"][label(semconv.GEN_AI_TOKEN_TYPE)]: float(row["value"][1])
        for row in victoria_metrics.query(
            f"sum by ({label(semconv.GEN_AI_TOKEN_TYPE)}) ({token_usage}_sum{selector})"
        )
    }
    assert by_type == {"input": 2 * 1217, "output": 2 * 9}

    input_total = prometheus_base(semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS, semconv.TOKEN_UNIT)
    (row,) = victoria_metrics.query(f"{input_total}_total{selector}")
    assert float(row["value"][1]) == 2 * 1217
    # Every attribute of the metric point, and the resource's service.name, become labels.
    instance = row["metric"].pop("service_instance_id")
    assert instance and row["metric"] == {
        "__name__": f"{input_total}_total",
        label(semconv.GEN_AI_OPERATION_NAME): "chat",
        label(semconv.GEN_AI_PROVIDER_NAME): "openai",
        label(semconv.GEN_AI_REQUEST_MODEL): CHAT_MODEL,
        label(semconv.GEN_AI_RESPONSE_MODEL): "gpt-4o-mini-2024-07-18",
        label(semconv.SERVER_ADDRESS): "127.0.0.1",
        label(semconv.SERVER_PORT): str(fake.port),
        label(semconv.GEN_AI_TOKEN_MODALITY): "unknown",
        "service_name": service,
        "telemetry_sdk_language": "python",
        "telemetry_sdk_name": "opentelemetry",
        "telemetry_sdk_version": row["metric"]["telemetry_sdk_version"],
    }
    cached = prometheus_base(
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS, semconv.TOKEN_UNIT
    )
    (cached_row,) = victoria_metrics.query(f"{cached}_total{selector}")
    assert float(cached_row["value"][1]) == 2 * 1152

    # The advised bucket boundaries survive the trip: one le per bound, plus +Inf.
    buckets = victoria_metrics.query(
        f'{token_usage}_bucket{{service_name="{service}", {label(semconv.GEN_AI_TOKEN_TYPE)}="input"}}'
    )
    les = {float(bucket["metric"]["le"]): float(bucket["value"][1]) for bucket in buckets}
    assert sorted(les) == [float(bound) for bound in semconv.TOKEN_USAGE_BUCKETS] + [float("inf")]
    assert les[1024.0] == 0 and les[4096.0] == 2 and les[float("inf")] == 2

    ttfc = prometheus_base(semconv.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, semconv.SECONDS_UNIT)
    (ttfc_row,) = victoria_metrics.query(f"{ttfc}_count{selector}")
    assert float(ttfc_row["value"][1]) == 1
