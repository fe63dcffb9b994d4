"""tokentrace's telemetry through the SDK's real OTLP exporters (gRPC and HTTP) to the in-process
receiver, asserted on the decoded protobuf: what a Collector or backend really receives."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality as ProtoTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.metrics.export import AggregationTemporality

import tokentrace
from tests.export.conftest import Pipeline, Protocol, make_pipeline, otlp_exporters
from tests.export.workload import (
    CHAT_MODEL,
    MESSAGES,
    OPENAI_ERROR_TYPE,
    PROVIDER_CALLS,
    ProviderCall,
    missing_piece,
    openai_client,
)
from tokentrace._core import semconv
from tokentrace.testing import FakeProvider
from tokentrace.testing.otlp_receiver import OtlpReceiver, attributes_of

SERVICE = "tokentrace-otlp-test"
CHAT_USAGE = {
    "prompt_tokens": 1217,
    "completion_tokens": 9,
    "total_tokens": 1226,
    "prompt_tokens_details": {"cached_tokens": 1152},
}
COUNTERS = {
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS: 1217,
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS: 9,
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS: 1152,
}

InstrumentedPipeline = Callable[..., Pipeline]
T = TypeVar("T")


@pytest.fixture
def pipeline(receiver: OtlpReceiver) -> Iterator[InstrumentedPipeline]:
    """``pipeline("grpc")``: instruments every SDK with providers exporting to the receiver."""
    made: list[Pipeline] = []

    def _make(
        protocol: Protocol,
        *,
        temporality: AggregationTemporality | None = None,
        gzip: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Pipeline:
        endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
        exporters = otlp_exporters(protocol, endpoint, temporality=temporality, gzip=gzip, headers=headers)
        built = make_pipeline(*exporters, service_name=SERVICE)
        made.append(built)
        tokentrace.instrument(tracer_provider=built.tracer_provider, meter_provider=built.meter_provider)
        return built

    yield _make
    tokentrace.uninstrument()
    # Shut the SDK down before the receiver stops, or its exporters retry until their timeout.
    for built in made:
        built.shutdown()


def only(items: Sequence[T]) -> T:
    assert len(items) == 1, items
    return items[0]


@pytest.mark.parametrize(
    ("protocol", "gzip"), [("grpc", False), ("grpc", True), ("http", False), ("http", True)]
)
def test_chat_span_and_metrics_arrive_decoded(
    protocol: Protocol, gzip: bool, pipeline: InstrumentedPipeline, receiver: OtlpReceiver, fake: FakeProvider
) -> None:
    sent = pipeline(protocol, gzip=gzip, headers={"x-tenant": "tokentrace"})
    fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
    openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    sent.flush()

    exports = receiver.exports()
    assert {export.transport for export in exports} == {protocol}
    assert {export.signal for export in exports} == {"traces", "metrics"}
    assert all(export.headers.get("x-tenant") == "tokentrace" for export in exports)
    if protocol == "http":
        assert {export.encoding for export in exports} == {"protobuf+gzip" if gzip else "protobuf"}

    received = only(receiver.spans())
    span = received.span
    assert span.name == f"chat {CHAT_MODEL}"
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert span.status.code == Status.STATUS_CODE_UNSET
    assert len(span.trace_id) == 16 and len(span.span_id) == 8
    assert received.scope.name == "tokentrace"
    assert received.resource_attributes["service.name"] == SERVICE
    attributes = received.attributes
    assert attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[semconv.GEN_AI_REQUEST_MODEL] == CHAT_MODEL
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attributes[semconv.SERVER_PORT] == fake.port
    # Token counts travel as OTLP int values, not doubles or strings.
    usage_values = {
        key: span_attribute_kind(span, key)
        for key in (
            semconv.GEN_AI_USAGE_INPUT_TOKENS,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        )
    }
    assert usage_values == {
        semconv.GEN_AI_USAGE_INPUT_TOKENS: ("int_value", 1217),
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: ("int_value", 9),
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: ("int_value", 1152),
    }

    # The token histogram: unit, advised buckets, cumulative, one point per token type.
    token_usage = only(receiver.metrics(semconv.GEN_AI_CLIENT_TOKEN_USAGE)).metric
    assert token_usage.unit == semconv.TOKEN_UNIT
    assert (
        token_usage.histogram.aggregation_temporality == ProtoTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    by_type = {
        attributes_of(point.attributes)[semconv.GEN_AI_TOKEN_TYPE]: point
        for point in token_usage.histogram.data_points
    }
    assert {kind: (point.sum, point.count) for kind, point in by_type.items()} == {
        "input": (1217, 1),
        "output": (9, 1),
    }
    for point in by_type.values():
        assert list(point.explicit_bounds) == [float(bound) for bound in semconv.TOKEN_USAGE_BUCKETS]
        # The SDK's trace-based exemplar filter links each point to the span: Grafana's way from a
        # metric panel to the Jaeger trace.
        assert [exemplar.span_id for exemplar in point.exemplars] == [span.span_id]
        assert [exemplar.trace_id for exemplar in point.exemplars] == [span.trace_id]
    point_attributes = attributes_of(by_type["input"].attributes)
    assert point_attributes == {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: CHAT_MODEL,
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: fake.port,
        semconv.GEN_AI_TOKEN_TYPE: "input",
    }

    duration = only(receiver.metrics(semconv.GEN_AI_CLIENT_OPERATION_DURATION)).metric
    assert duration.unit == semconv.SECONDS_UNIT
    duration_point = only(list(duration.histogram.data_points))
    assert duration_point.count == 1
    assert list(duration_point.explicit_bounds) == list(semconv.DURATION_BUCKETS)
    assert semconv.ERROR_TYPE not in attributes_of(duration_point.attributes)

    for name, value in COUNTERS.items():
        counter = only(receiver.metrics(name)).metric
        assert counter.unit == semconv.TOKEN_UNIT
        assert counter.sum.is_monotonic
        assert counter.sum.aggregation_temporality == ProtoTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        counter_point = only(list(counter.sum.data_points))
        assert counter_point.as_int == value
        assert attributes_of(counter_point.attributes)[semconv.GEN_AI_TOKEN_MODALITY] == "unknown"


def span_attribute_kind(span: Span, key: str) -> tuple[str | None, object]:
    for pair in span.attributes:
        if pair.key == key:
            kind = pair.value.WhichOneof("value")
            return kind, getattr(pair.value, kind) if kind else None
    return None, None


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_stream_records_chunk_timings(
    protocol: Protocol, pipeline: InstrumentedPipeline, receiver: OtlpReceiver, fake: FakeProvider
) -> None:
    sent = pipeline(protocol)
    fake.enqueue("openai.chat", {"usage": CHAT_USAGE, "text": "one two three four"})
    stream = openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    chunks = sum(1 for _ in stream)
    sent.flush()

    span = only(receiver.spans()).attributes
    assert span[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1217
    first_chunk = span[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert isinstance(first_chunk, float) and first_chunk > 0

    ttfc = only(receiver.data_points(semconv.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK))
    assert ttfc.count == 1
    assert ttfc.sum == pytest.approx(first_chunk, abs=0.005)
    per_chunk = only(receiver.data_points(semconv.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK))
    # Every chunk after the first is one interval (the usage-only chunk included).
    assert 1 <= per_chunk.count <= chunks - 1
    sums = {
        attributes_of(point.attributes)[semconv.GEN_AI_TOKEN_TYPE]: point.sum
        for point in receiver.data_points(semconv.GEN_AI_CLIENT_TOKEN_USAGE)
    }
    assert sums == {"input": 1217, "output": 9}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_failed_call_exports_error(
    protocol: Protocol, pipeline: InstrumentedPipeline, receiver: OtlpReceiver, fake: FakeProvider
) -> None:
    from openai import InternalServerError

    sent = pipeline(protocol)
    fake.enqueue("openai.chat", {"error": 500})
    with pytest.raises(InternalServerError):
        openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    sent.flush()

    received = only(receiver.spans())
    assert received.span.status.code == Status.STATUS_CODE_ERROR
    assert received.attributes[semconv.ERROR_TYPE] == OPENAI_ERROR_TYPE
    duration = only(receiver.data_points(semconv.GEN_AI_CLIENT_OPERATION_DURATION))
    assert attributes_of(duration.attributes)[semconv.ERROR_TYPE] == OPENAI_ERROR_TYPE
    # No usage arrived, so no token histogram points.
    assert receiver.data_points(semconv.GEN_AI_CLIENT_TOKEN_USAGE) == []


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_delta_temporality_sends_only_changes(
    protocol: Protocol, pipeline: InstrumentedPipeline, receiver: OtlpReceiver, fake: FakeProvider
) -> None:
    # Delta is what some backends want; VictoriaMetrics and Prometheus drop it, hence the docs'
    # insistence on cumulative (the SDK default).
    sent = pipeline(protocol, temporality=AggregationTemporality.DELTA)
    client = openai_client(fake)
    for _ in range(2):
        fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
        client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
        sent.flush()
    sent.flush()  # nothing new

    durations = receiver.metrics(semconv.GEN_AI_CLIENT_OPERATION_DURATION)
    assert [received.metric.histogram.aggregation_temporality for received in durations] == [
        ProtoTemporality.AGGREGATION_TEMPORALITY_DELTA
    ] * 2
    # The token counters are asynchronous (summed in process, observed at each export), so an idle
    # series reports a zero change instead of nothing, as any observable counter does.
    inputs = receiver.metrics(semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS)
    assert [received.metric.sum.aggregation_temporality for received in inputs] == [
        ProtoTemporality.AGGREGATION_TEMPORALITY_DELTA
    ] * 3
    assert [point.as_int for received in inputs for point in received.metric.sum.data_points] == [
        1217,
        1217,
        0,
    ]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_cumulative_repeats_running_totals(
    protocol: Protocol, pipeline: InstrumentedPipeline, receiver: OtlpReceiver, fake: FakeProvider
) -> None:
    sent = pipeline(protocol)
    client = openai_client(fake)
    for _ in range(2):
        fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
        client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
        sent.flush()

    totals = [
        int(point.as_int)
        for point in receiver.data_points(semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS)
    ]
    assert totals == [1217, 2434]
    latest = only(receiver.latest_data_points(semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS))
    assert latest.as_int == 2434


def test_env_only_configuration_reaches_receiver(
    monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver, fake: FakeProvider
) -> None:
    """What the README tells users: OTEL_* variables and ``configure_otlp()``, nothing in code."""
    from tokentrace.otlp import configure_otlp

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=env-test")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-configured")
    providers = configure_otlp(set_global=False)
    try:
        tokentrace.instrument(
            ["openai"], tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
        )
        fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
        openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
        providers.tracer_provider.force_flush()
        providers.meter_provider.force_flush()
    finally:
        tokentrace.uninstrument()
        providers.shutdown()

    received = receiver.spans()
    assert [span.span.name for span in received] == [f"chat {CHAT_MODEL}"]
    assert received[0].resource_attributes["service.name"] == "env-configured"
    assert {export.transport for export in receiver.exports()} == {"http"}
    assert all(export.headers["x-tenant"] == "env-test" for export in receiver.exports())
    sums = {
        attributes_of(point.attributes)[semconv.GEN_AI_TOKEN_TYPE]: point.sum
        for point in receiver.latest_data_points(semconv.GEN_AI_CLIENT_TOKEN_USAGE)
    }
    assert sums == {"input": 1217, "output": 9}


@pytest.mark.parametrize("call", PROVIDER_CALLS, ids=[call.provider for call in PROVIDER_CALLS])
def test_every_provider_exports_consistent_usage(
    call: ProviderCall, pipeline: InstrumentedPipeline, receiver: OtlpReceiver, fake: FakeProvider
) -> None:
    """One call per provider present: the exported span's usage equals its exported token metrics."""
    missing = missing_piece(call)
    if missing is not None:
        pytest.skip(missing)
    sent = pipeline("grpc")
    call.call(fake)
    sent.flush()

    received = only(receiver.spans())
    attributes = received.attributes
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == call.provider_name
    input_tokens = attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS]
    output_tokens = attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS]
    assert isinstance(input_tokens, int) and input_tokens > 0
    assert isinstance(output_tokens, int) and output_tokens > 0
    sums = {
        attributes_of(point.attributes)[semconv.GEN_AI_TOKEN_TYPE]: point.sum
        for point in receiver.data_points(semconv.GEN_AI_CLIENT_TOKEN_USAGE)
    }
    assert sums == {"input": input_tokens, "output": output_tokens}
    counters = {
        name: sum(int(point.as_int) for point in receiver.data_points(name))
        for name in (
            semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS,
            semconv.GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS,
        )
    }
    assert counters == {
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS: input_tokens,
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS: output_tokens,
    }
    for name, key in (
        (
            semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS,
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        ),
        (
            semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS,
            semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
        ),
        (
            semconv.GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS,
            semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        ),
    ):
        points = receiver.data_points(name)
        if key in attributes:
            assert sum(int(point.as_int) for point in points) == attributes[key]


# --- the receiver itself: the encodings no Python exporter sends ---------------------------------------


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


OTLP_JSON_TRACE = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-client"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "manual"},
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "name": "chat gpt-4o-mini",
                            "kind": 3,
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "attributes": [
                                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1217"}}
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}


@pytest.mark.parametrize("compress", [False, True])
def test_receiver_decodes_otlp_json(receiver: OtlpReceiver, compress: bool) -> None:
    body = json.dumps(OTLP_JSON_TRACE).encode()
    headers = {"Content-Type": "application/json"}
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    status, reply, content_type = post(receiver.http_url("traces"), body, headers)
    assert (status, content_type) == (200, "application/json")
    assert json.loads(reply) == {}
    received = only(receiver.spans())
    # OTLP/JSON ids are hex (not protobuf-JSON base64): they must decode to the same bytes.
    assert received.span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert received.span.span_id.hex() == "eee19b7ec3c1b174"
    assert received.attributes == {"gen_ai.usage.input_tokens": 1217}
    assert received.resource_attributes == {"service.name": "json-client"}
    assert only(receiver.exports()).encoding == ("json+gzip" if compress else "json")


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/v1/spans", b"", {"Content-Type": "application/x-protobuf"}, 404),
        ("/v1/traces", b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}, 400),
        ("/v1/traces", b"{}", {"Content-Type": "text/plain"}, 415),
        (
            "/v1/traces",
            b"not gzip",
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            400,
        ),
        ("/v1/traces", b"", {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}, 415),
    ],
)
def test_receiver_rejects_bad_requests(
    receiver: OtlpReceiver, path: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    assert post(receiver.http_endpoint + path, body, headers)[0] == status
    assert receiver.exports() == []


def test_receiver_wait_for_sees_exports_from_other_threads(receiver: OtlpReceiver) -> None:
    import threading

    body = json.dumps(OTLP_JSON_TRACE).encode()
    thread = threading.Timer(
        0.1, post, args=(receiver.http_url("traces"), body, {"Content-Type": "application/json"})
    )
    thread.start()
    try:
        # The predicate reads through the receiver's own (reentrant) lock while it is held.
        assert receiver.wait_for(lambda r: len(r.spans()) == 1, timeout=5)
    finally:
        thread.join()
    assert not receiver.wait_for(lambda r: len(r.spans()) == 2, timeout=0.2)
