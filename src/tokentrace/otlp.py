"""OTLP export set up from the standard ``OTEL_*`` variables, for applications that call ``instrument()``.

Needs the ``otlp`` extra (``pip install 'tokentrace[otlp]'``). With ``opentelemetry-instrument`` the
distro does this already; this helper is for manual setups and the demo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


@dataclass(frozen=True, slots=True)
class OtlpProviders:
    """The providers ``configure_otlp`` built (already installed globally unless asked not to)."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def shutdown(self) -> None:
        """Flush and stop both providers."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def _protocol() -> str:
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()


def otlp_exporters() -> tuple[SpanExporter, MetricReader]:
    """A span exporter and a periodic metric reader, by the ``OTEL_EXPORTER_OTLP_*`` variables.

    The protocol is ``grpc`` unless ``OTEL_EXPORTER_OTLP_PROTOCOL`` says ``http/protobuf``.
    """
    if _protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    return OTLPSpanExporter(), PeriodicExportingMetricReader(OTLPMetricExporter())


def configure_otlp(
    *,
    service_name: str | None = None,
    set_global: bool = True,
    extra_metric_readers: list[MetricReader] | None = None,
) -> OtlpProviders:
    """Build a TracerProvider and MeterProvider exporting over OTLP.

    Endpoint, headers, protocol (``grpc`` or ``http/protobuf``), temporality and export interval
    all come from the standard ``OTEL_*`` variables, as the exporters read them. ``service_name``
    fills ``service.name`` when ``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES`` do not.
    """
    attributes = (
        {"service.name": service_name} if service_name and not os.environ.get("OTEL_SERVICE_NAME") else {}
    )
    resource = Resource.create(attributes)
    span_exporter, metric_reader = otlp_exporters()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[metric_reader, *(extra_metric_readers or [])]
    )
    if set_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
    return OtlpProviders(tracer_provider, meter_provider)
