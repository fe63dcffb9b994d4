"""``tokentrace demo``: instrument, call every installed SDK against the fake provider, print the token table.

The table is read back from the metrics tokentrace recorded, not from the SDK responses, so it shows
exactly what a dashboard would. With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set the same telemetry is also
exported over OTLP.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import tokentrace
from tokentrace._core import semconv
from tokentrace.testing import FakeProvider

# Demo modules, by registry name, in the order they run (LangChain last: it goes through the SDKs).
DEMOS = (
    ("openai", "tokentrace._demo.openai"),
    ("anthropic", "tokentrace._demo.anthropic"),
    ("google_genai", "tokentrace._demo.google_genai"),
    ("bedrock", "tokentrace._demo.bedrock"),
    ("mistralai", "tokentrace._demo.mistral"),
    ("groq", "tokentrace._demo.groq"),
    ("together", "tokentrace._demo.together"),
    ("fireworks", "tokentrace._demo.fireworks"),
    ("langchain", "tokentrace._demo.langchain"),
)


@dataclass
class Row:
    """One line of the table: a provider and request model."""

    calls: int = 0
    errors: int = 0
    input: int = 0
    output: int = 0
    cache_read: int = 0
    reasoning: int = 0
    duration: float = 0.0
    # USD summed from the cost histogram; None when no call of the row was priced.
    cost: float | None = None


def _points(metrics_data: Any, name: str) -> Iterable[Any]:
    if metrics_data is None:  # the reader collected nothing: no instrument recorded a point
        return
    for resource in metrics_data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    yield from metric.data.data_points


def build_rows(metrics_data: Any) -> dict[tuple[str, str], Row]:
    """Aggregate the recorded metric points per (provider, operation and model)."""
    rows: dict[tuple[str, str], Row] = defaultdict(Row)

    def key(point: Any) -> tuple[str, str]:
        attributes = point.attributes
        model = attributes.get(semconv.GEN_AI_REQUEST_MODEL, "-")
        return attributes[
            semconv.GEN_AI_PROVIDER_NAME
        ], f"{attributes[semconv.GEN_AI_OPERATION_NAME]} {model}"

    for point in _points(metrics_data, semconv.GEN_AI_CLIENT_OPERATION_DURATION):
        row = rows[key(point)]
        row.calls += point.count
        row.duration += point.sum
        if semconv.ERROR_TYPE in point.attributes:
            row.errors += point.count
    for point in _points(metrics_data, semconv.GEN_AI_CLIENT_TOKEN_USAGE):
        row = rows[key(point)]
        if point.attributes[semconv.GEN_AI_TOKEN_TYPE] == semconv.TOKEN_TYPE_INPUT:
            row.input += int(point.sum)
        else:
            row.output += int(point.sum)
    for point in _points(metrics_data, semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS):
        rows[key(point)].cache_read += int(point.value)
    for point in _points(metrics_data, semconv.GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS):
        rows[key(point)].reasoning += int(point.value)
    for point in _points(metrics_data, semconv.GEN_AI_CLIENT_OPERATION_COST):
        row = rows[key(point)]
        row.cost = (row.cost or 0.0) + point.sum
    return dict(rows)


def render(rows: dict[tuple[str, str], Row], out: TextIO) -> None:
    """Print the table."""
    header = (
        "provider",
        "operation / model",
        "calls",
        "errors",
        "input",
        "output",
        "cached",
        "reasoning",
        "avg ms",
        "cost USD",
    )
    lines = [
        (provider, model, str(row.calls), str(row.errors), str(row.input), str(row.output),
         str(row.cache_read), str(row.reasoning), f"{1000 * row.duration / max(row.calls, 1):.1f}",
         "-" if row.cost is None else f"{row.cost:.8f}")
        for (provider, model), row in sorted(rows.items())
    ]  # fmt: skip
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=False)]
    for index, line in enumerate([header, *lines]):
        cells = [cell.ljust(width) if col < 2 else cell.rjust(width) for col, (cell, width) in
                 enumerate(zip(line, widths, strict=True))]  # fmt: skip
        out.write("  ".join(cells) + "\n")
        if index == 0:
            out.write("  ".join("-" * width for width in widths) + "\n")


def _is_tokentrace_module(name: str | None) -> bool:
    return name is not None and (name == "tokentrace" or name.startswith("tokentrace."))


def run_demo(providers: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Run the demo; 0 when every instrumented provider's calls went through and were recorded, 1 otherwise.

    A provider whose demo needs a package that is not installed (LangChain's demo calls through
    ``langchain-openai``) is skipped with a note: that is the environment, not tokentrace misbehaving.
    """
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        out.write("tokentrace demo needs the OpenTelemetry SDK: pip install 'tokentrace[otlp]'\n")
        return 2

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "tokentrace-demo")})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    readers: list[MetricReader] = [reader]
    exporting = bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if exporting:
        from tokentrace.otlp import otlp_exporters

        span_exporter, metric_reader = otlp_exporters()
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        readers.append(metric_reader)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)

    failures: list[str] = []
    skipped: list[str] = []
    ran: list[str] = []
    with FakeProvider() as fake:
        instrumented = tokentrace.instrument(
            providers, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        try:
            for name, module_name in DEMOS:
                if name not in instrumented:
                    continue
                spans_before = len(spans.get_finished_spans())
                try:
                    importlib.import_module(module_name).run(fake)
                except ModuleNotFoundError as exc:
                    if _is_tokentrace_module(exc.name):
                        failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    else:  # an optional package the demo calls through (langchain-openai) is not installed
                        skipped.append(f"{name}: needs {exc.name} (pip install 'tokentrace[demo]')")
                    continue
                except Exception as exc:  # the demo reports every provider, even after one fails
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    continue
                ran.append(name)
                if len(spans.get_finished_spans()) == spans_before:
                    failures.append(f"{name}: the calls went through but tokentrace recorded no span")
        finally:
            tokentrace.uninstrument()
    rows = build_rows(reader.get_metrics_data())
    names = ", ".join(ran) or "no SDK"
    out.write(f"tokentrace {tokentrace.__version__} demo: {names} against the fake provider\n\n")
    render(rows, out)
    out.write(f"\n{len(spans.get_finished_spans())} spans; table read back from the recorded metrics.\n")
    out.write(
        "cost USD: list prices from genai-prices (or TOKENTRACE_PRICES_FILE); -: not priced or cost off.\n"
    )
    if exporting:
        tracer_provider.force_flush()
        meter_provider.force_flush()
        out.write(f"Exported over OTLP to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}.\n")
    tracer_provider.shutdown()
    meter_provider.shutdown()
    for skip in skipped:
        out.write(f"skipped {skip}\n")
    for failure in failures:
        out.write(f"FAILED {failure}\n")
    if not ran:
        out.write("No supported SDK is installed: pip install 'tokentrace[demo]'\n")
        return 1
    return 1 if failures else 0
