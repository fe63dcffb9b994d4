"""Export set up from the standard ``OTEL_*`` variables, for applications that call ``instrument()``.

Needs the ``otlp`` extra (``pip install 'tokentrace[otlp]'``). With ``opentelemetry-instrument`` the
distro does this already; this helper is for manual setups and the demo.

Two things it does that a plain SDK setup does not. It is fork-safe: every process (a gunicorn or
Celery prefork worker, a ``multiprocessing`` child) exports with exporters of its own and reports
only its own metrics (``ProcessLocalSpanExporter``, ``tokentrace._core.fork``). And it bounds the
exit: the last spans and points are flushed when the process ends, but a backend that refuses or
hangs holds the exit back ``TOKENTRACE_EXIT_TIMEOUT`` seconds at most (2 by default), where the SDK's
own exit handlers wait for each exporter's retries in turn (8 to 16 s measured with the defaults).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.util._importlib_metadata import entry_points

from tokentrace._core.config import ENV_EXIT_TIMEOUT, env_seconds
from tokentrace._core.fork import clear_in_children

__all__ = [
    "OtlpProviders",
    "ProcessLocalMetricExporter",
    "ProcessLocalSpanExporter",
    "clear_in_children",
    "configure_otlp",
    "exporter_names",
    "otlp_exporters",
]

logger = logging.getLogger("tokentrace")

DEFAULT_EXIT_TIMEOUT = 2.0
_EXPORTER_VARIABLES = {"traces": "OTEL_TRACES_EXPORTER", "metrics": "OTEL_METRICS_EXPORTER"}
_ENTRY_POINT_GROUPS = {"traces": "opentelemetry_traces_exporter", "metrics": "opentelemetry_metrics_exporter"}


_Exporter = TypeVar("_Exporter", SpanExporter, MetricExporter)


class _PerProcess(Generic[_Exporter]):
    """The exporter ``factory`` made for the current process: made again after a fork."""

    def __init__(self, factory: Callable[[], _Exporter]) -> None:
        self._factory: Callable[[], _Exporter] = factory
        self._pid = os.getpid()
        self.exporter: _Exporter = factory()
        # The parent's exporters are kept, never closed or collected in the child: closing a copy
        # of a connection could end it for the parent too.
        self._inherited: list[_Exporter] = []

    def current(self) -> _Exporter:
        if self._pid != os.getpid():
            self._inherited.append(self.exporter)
            self.exporter = self._factory()
            self._pid = os.getpid()
        return self.exporter

    def made_here(self) -> bool:
        """Whether this process has an exporter of its own yet (nothing to flush or shut down if not)."""
        return self._pid == os.getpid()


class ProcessLocalSpanExporter(SpanExporter):
    """A span exporter made anew in each process: ``factory()`` is called again after a fork.

    A forked child inherits its parent's exporter, with its gRPC channel or pooled HTTP connection:
    both processes then write to one socket (measured: the receiver answers HTTP 400 to the
    interleaved requests). Wrap the exporters of providers built before a fork in these.
    """

    def __init__(self, factory: Callable[[], SpanExporter]) -> None:
        self._local = _PerProcess(factory)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export with this process's exporter."""
        return self._local.current().export(spans)

    def shutdown(self) -> None:
        """Shut this process's exporter down."""
        if self._local.made_here():
            self._local.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush this process's exporter."""
        return self._local.exporter.force_flush(timeout_millis) if self._local.made_here() else True


class ProcessLocalMetricExporter(MetricExporter):
    """A metric exporter made anew in each process: ``factory()`` is called again after a fork."""

    def __init__(self, factory: Callable[[], MetricExporter]) -> None:
        self._local = _PerProcess(factory)
        # The reader takes temporality and aggregation from its exporter: those of the real one.
        super().__init__(
            preferred_temporality=self._local.exporter._preferred_temporality,
            preferred_aggregation=self._local.exporter._preferred_aggregation,
        )

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Export with this process's exporter."""
        return self._local.current().export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flush this process's exporter."""
        return self._local.exporter.force_flush(timeout_millis) if self._local.made_here() else True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut this process's exporter down."""
        if self._local.made_here():
            self._local.exporter.shutdown(timeout_millis=timeout_millis, **kwargs)


def _protocol(signal: str) -> str:
    return (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()


def exporter_names(signal: str) -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER`` name (``otlp`` when unset).

    A comma-separated list, as the SDK's own configurator reads it; ``none`` means no exporter.
    ``otlp`` is ``otlp_proto_grpc`` or ``otlp_proto_http`` by ``OTEL_EXPORTER_OTLP_PROTOCOL``.
    """
    value = os.environ.get(_EXPORTER_VARIABLES[signal], "").strip().lower() or "otlp"
    names = [name.strip() for name in value.split(",") if name.strip()]
    if "none" in names:
        return []
    otlp = _otlp_exporter_name(signal)
    return list(dict.fromkeys(otlp if name == "otlp" else name for name in names))


def _otlp_exporter_name(signal: str) -> str:
    return "otlp_proto_grpc" if _protocol(signal) == "grpc" else "otlp_proto_http"


def _exporter_class(signal: str, name: str) -> type[Any]:
    group = _ENTRY_POINT_GROUPS[signal]
    for entry_point in entry_points(group=group, name=name):
        exporter: type[Any] = entry_point.load()
        return exporter
    raise ValueError(f"{_EXPORTER_VARIABLES[signal]}: no exporter named {name!r} (entry points {group})")


def span_exporters() -> list[SpanExporter]:
    """One process-local span exporter per name in ``OTEL_TRACES_EXPORTER``."""
    exporters: list[SpanExporter] = []
    for name in exporter_names("traces"):
        exporter_class = _exporter_class("traces", name)
        exporters.append(ProcessLocalSpanExporter(exporter_class))
    return exporters


def metric_readers() -> list[MetricReader]:
    """One periodic reader per name in ``OTEL_METRICS_EXPORTER`` (a pull exporter is its own reader)."""
    readers: list[MetricReader] = []
    for name in exporter_names("metrics"):
        exporter_class = _exporter_class("metrics", name)
        if issubclass(exporter_class, MetricReader):
            readers.append(exporter_class())
        else:
            readers.append(PeriodicExportingMetricReader(ProcessLocalMetricExporter(exporter_class)))
    return readers


def otlp_exporters() -> tuple[SpanExporter, MetricReader]:
    """A process-local OTLP span exporter and a periodic metric reader, by ``OTEL_EXPORTER_OTLP_*``.

    The protocol is ``grpc`` unless ``OTEL_EXPORTER_OTLP_PROTOCOL`` says ``http/protobuf``.
    """
    span_class = _exporter_class("traces", _otlp_exporter_name("traces"))
    metric_class = _exporter_class("metrics", _otlp_exporter_name("metrics"))
    return (
        ProcessLocalSpanExporter(span_class),
        PeriodicExportingMetricReader(ProcessLocalMetricExporter(metric_class)),
    )


@dataclass
class OtlpProviders:
    """The providers ``configure_otlp`` built (already installed globally unless asked not to)."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exit_timeout: float = DEFAULT_EXIT_TIMEOUT
    _shut_down_in: set[int] = field(default_factory=set, init=False, repr=False)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop both providers, waiting ``timeout`` seconds at most (``exit_timeout``).

        Returns whether both finished in time. Spans and points that could not be sent by then
        are dropped: the backend refused or did not answer. Once per process; later calls return True.
        """
        if os.getpid() in self._shut_down_in:
            return True
        self._shut_down_in.add(os.getpid())
        budget = self.exit_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        # Both at once, each in a daemon thread: the exit waits for the slower one, not their sum,
        # and a thread still blocked in an exporter at the deadline does not hold the exit back.
        threads = [
            threading.Thread(target=_quietly, args=(self.tracer_provider.shutdown,), daemon=True),
            threading.Thread(
                target=_quietly,
                args=(lambda: self.meter_provider.shutdown(timeout_millis=budget * 1000),),
                daemon=True,
            ),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        finished = not any(thread.is_alive() for thread in threads)
        if not finished:
            logger.warning("tokentrace: telemetry not flushed within %.1f s at exit; dropped", budget)
        return finished


def _quietly(shutdown: Callable[[], object]) -> None:
    try:
        shutdown()
    except Exception:  # an exporter's failure at exit is already logged by the SDK
        logger.debug("tokentrace: provider shutdown failed", exc_info=True)


def _register_exit(providers: OtlpProviders) -> None:
    # atexit: the main process, and gunicorn workers (which end with sys.exit and inherit it).
    # multiprocessing's children end with os._exit after running its finalizers instead, and
    # those hold for the process that registered them: registered again in each child it starts.
    atexit.register(providers.shutdown)
    from multiprocessing import util

    util.Finalize(providers, providers.shutdown, exitpriority=0)
    util.register_after_fork(providers, _finalize_in_child)


def _finalize_in_child(providers: OtlpProviders) -> None:
    from multiprocessing import util

    util.Finalize(providers, providers.shutdown, exitpriority=0)


def configure_otlp(
    *,
    service_name: str | None = None,
    set_global: bool = True,
    extra_metric_readers: list[MetricReader] | None = None,
) -> OtlpProviders:
    """Build a TracerProvider and MeterProvider exporting by the standard ``OTEL_*`` variables.

    Exporters come from ``OTEL_TRACES_EXPORTER`` and ``OTEL_METRICS_EXPORTER`` (``otlp`` by default;
    ``console``, ``none`` or a comma-separated list, as with ``opentelemetry-instrument``). Endpoint,
    headers, protocol (``grpc`` or ``http/protobuf``), temporality and export interval come from the
    variables the exporters and the SDK read. ``service_name`` fills ``service.name`` when
    ``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES`` do not. Safe to call before forking workers;
    at exit it waits ``TOKENTRACE_EXIT_TIMEOUT`` seconds at most (2 by default).
    """
    attributes = (
        {"service.name": service_name} if service_name and not os.environ.get("OTEL_SERVICE_NAME") else {}
    )
    resource = Resource.create(attributes)
    # The providers' own exit handlers would wait for every retry of every exporter in turn: the
    # bounded shutdown below replaces them.
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    for exporter in span_exporters():
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[*metric_readers(), *(extra_metric_readers or [])],
        shutdown_on_exit=False,
    )
    # Every instrument of this provider starts from zero in a forked child, tokentrace's or not.
    clear_in_children(meter_provider)
    providers = OtlpProviders(
        tracer_provider, meter_provider, env_seconds(ENV_EXIT_TIMEOUT, DEFAULT_EXIT_TIMEOUT)
    )
    _register_exit(providers)
    if set_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
    return providers
