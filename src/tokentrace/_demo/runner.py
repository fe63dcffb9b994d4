"""``tokentrace demo``: instrument, call every installed SDK against the fake provider, print the token table.

The table is read back from the metrics tokentrace recorded, not from the SDK responses, so it shows
exactly what a dashboard would. With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set the same telemetry is also
exported over OTLP, and the demo says what the exporters really reported: a backend that refuses
the connection is told at once (nothing is sent), one that fails or hangs after the first attempt
is not tried again (the demo's whole export is one batch of spans and one of metrics).

Exit status: 0 when everything asked for happened; 1 when a provider's calls failed or recorded no
span, a requested provider is not installed or not supported in its installed version, no SDK ran,
or the OTLP export did not succeed; 2 without the OpenTelemetry SDK. A provider whose demo needs an
optional package that is missing is skipped with a note and does not fail the run.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

import wrapt

import tokentrace
from tokentrace._core import semconv
from tokentrace._providers import REGISTRY, resolve_name
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


@dataclass
class ExportCheck:
    """What the OTLP exporters reported; after the first failure nothing more is sent.

    The demo exports once, at its end: after a refused, failed or timed-out batch, a second batch
    would only wait out another exporter timeout to fail the same way.
    """

    endpoint: str
    failures: list[str] = field(default_factory=list)
    spans: int = 0
    metric_exports: int = 0

    def checked_span_exporter(self, exporter: Any) -> Any:
        """``exporter`` reporting each batch's result here."""
        return _CheckedSpanExporter(exporter, self)

    def check_metric_reader(self, reader: Any) -> None:
        """Make ``reader``'s exporter report each export's result here."""
        # The periodic reader drops the export result; its exporter is the one place that has it.
        exporter = getattr(reader, "_exporter", None)
        if exporter is not None:
            reader._exporter = _CheckedMetricExporter(exporter, self)

    def unreachable(self) -> str | None:
        """Why nothing can be sent to the endpoint (it refuses connections), or None."""
        parts = urlsplit(self.endpoint if "//" in self.endpoint else f"//{self.endpoint}")
        try:
            port = parts.port
        except ValueError:
            return None
        if parts.hostname is None or port is None:
            return None  # the exporter's own defaults apply; let it try
        try:
            socket.create_connection((parts.hostname, port), timeout=2).close()
        except OSError as exc:
            return exc.strerror or type(exc).__name__
        return None

    def report(self, out: TextIO) -> bool:
        """Print what happened; True when every export succeeded."""
        if self.failures:
            out.write(f"NOT exported to {self.endpoint}: {'; '.join(self.failures)}.\n")
            return False
        out.write(
            f"Exported over OTLP to {self.endpoint}: {self.spans} spans and {self.metric_exports} "
            "metric export(s), each accepted by the backend.\n"
        )
        return True


class _CheckedSpanExporter(wrapt.ObjectProxy[Any]):
    def __init__(self, wrapped: Any, check: ExportCheck) -> None:
        super().__init__(wrapped)
        self._self_check = check

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        check: ExportCheck = self._self_check
        if check.failures:
            return SpanExportResult.FAILURE
        result = self.__wrapped__.export(spans)
        if result is SpanExportResult.SUCCESS:
            check.spans += len(spans)
        else:
            check.failures.append(f"{len(spans)} spans not accepted (see the exporter's log above)")
        return result


class _CheckedMetricExporter(wrapt.ObjectProxy[Any]):
    def __init__(self, wrapped: Any, check: ExportCheck) -> None:
        super().__init__(wrapped)
        self._self_check = check

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        check: ExportCheck = self._self_check
        if check.failures:
            return MetricExportResult.FAILURE
        result = self.__wrapped__.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        if result is MetricExportResult.SUCCESS:
            check.metric_exports += 1
        else:
            check.failures.append("metrics not accepted (see the exporter's log above)")
        return result


def missing_reason(name: str) -> str:
    """Why ``instrument()`` left a requested provider out."""
    entry = REGISTRY[name]
    if not tokentrace._installed(entry.package):
        return f"not installed: pip install 'tokentrace[{entry.extra}]'"
    return f"installed version not supported (needs {', '.join(entry.dependencies)})"


def run_demo(providers: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the demo and print to ``out`` (stdout); the exit status is in the module docstring.

    A provider whose demo needs a package that is not installed (LangChain's demo calls through
    ``langchain-openai``) is skipped with a note: that is the environment, not tokentrace misbehaving.
    """
    out = sys.stdout if out is None else out
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

    # Any spelling instrument() takes (``google-genai``); unknown names fail there, before any call.
    wanted = None if providers is None else [resolve_name(name) or name for name in providers]
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "tokentrace-demo")})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    readers: list[MetricReader] = [reader]
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    check = ExportCheck(endpoint) if endpoint else None
    if check is not None:
        refused = check.unreachable()
        if refused is not None:
            check.failures.append(f"nothing accepts connections there ({refused}); nothing was sent")
        else:
            from tokentrace.otlp import otlp_exporters

            span_exporter, metric_reader = otlp_exporters()
            tracer_provider.add_span_processor(BatchSpanProcessor(check.checked_span_exporter(span_exporter)))
            check.check_metric_reader(metric_reader)
            readers.append(metric_reader)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)

    failures: list[str] = []
    skipped: list[str] = []
    ran: list[str] = []
    with FakeProvider() as fake:
        instrumented = tokentrace.instrument(
            wanted, tracer_provider=tracer_provider, meter_provider=meter_provider
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
    not_run = [f"{name}: {missing_reason(name)}" for name in wanted or () if name not in instrumented]
    rows = build_rows(reader.get_metrics_data())
    names = ", ".join(ran) or "no SDK"
    out.write(f"tokentrace {tokentrace.__version__} demo: {names} against the fake provider\n\n")
    render(rows, out)
    out.write(f"\n{len(spans.get_finished_spans())} spans; table read back from the recorded metrics.\n")
    out.write(
        "cost USD: list prices from genai-prices (or TOKENTRACE_PRICES_FILE); -: not priced or cost off.\n"
    )
    exported = True
    if check is not None:
        tracer_provider.force_flush()
        meter_provider.force_flush()
        exported = check.report(out)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    for skip in skipped:
        out.write(f"skipped {skip}\n")
    for failure in failures:
        out.write(f"FAILED {failure}\n")
    for missing in not_run:
        out.write(f"NOT RUN {missing}\n")
    if not ran:
        if wanted is None:
            out.write("No supported SDK is installed: pip install 'tokentrace[demo]'\n")
        return 1
    return 1 if failures or not_run or not exported else 0
