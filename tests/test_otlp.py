"""configure_otlp's exporter choice from OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER (issue 18 item 4),
read as the SDK's own configurator reads them; the exit and fork behaviour is in tests/processes."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from tokentrace.otlp import (
    ProcessLocalMetricExporter,
    ProcessLocalSpanExporter,
    configure_otlp,
    exporter_names,
)


@pytest.mark.parametrize(
    ("value", "protocol", "expected"),
    [
        (None, None, ["otlp_proto_grpc"]),  # unset: OTLP, as the README always promised
        ("otlp", "http/protobuf", ["otlp_proto_http"]),
        ("console", None, ["console"]),
        ("none", None, []),
        ("NONE", None, []),
        (" console , otlp ", None, ["console", "otlp_proto_grpc"]),
        ("otlp,otlp_proto_grpc", None, ["otlp_proto_grpc"]),  # one exporter, not two
        ("otlp_proto_http", "grpc", ["otlp_proto_http"]),  # an explicit name wins over the protocol
    ],
)
def test_exporter_names(
    value: str | None, protocol: str | None, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for signal in ("TRACES", "METRICS"):
        if value is None:
            monkeypatch.delenv(f"OTEL_{signal}_EXPORTER", raising=False)
        else:
            monkeypatch.setenv(f"OTEL_{signal}_EXPORTER", value)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", raising=False)
    if protocol is None:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    else:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    assert exporter_names("traces") == expected
    assert exporter_names("metrics") == expected


def test_configure_otlp_builds_the_exporters_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console,otlp")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console,otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    providers = configure_otlp(set_global=False)
    try:
        processors = providers.tracer_provider._active_span_processor._span_processors
        span_exporters = [processor.span_exporter for processor in processors]  # type: ignore[attr-defined]
        assert all(isinstance(exporter, ProcessLocalSpanExporter) for exporter in span_exporters)
        assert [type(exporter._local.exporter) for exporter in span_exporters] == [
            ConsoleSpanExporter,
            GrpcSpanExporter,
        ]
        readers = providers.meter_provider._metric_readers
        metric_exporters = [reader._exporter for reader in readers]  # type: ignore[attr-defined]
        assert all(isinstance(exporter, ProcessLocalMetricExporter) for exporter in metric_exporters)
        assert [type(exporter._local.exporter) for exporter in metric_exporters] == [
            ConsoleMetricExporter,
            HttpMetricExporter,
        ]
    finally:
        assert providers.shutdown(timeout=5)


def test_an_unknown_exporter_name_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin_typo")
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER: no exporter named 'zipkin_typo'"):
        configure_otlp(set_global=False)
