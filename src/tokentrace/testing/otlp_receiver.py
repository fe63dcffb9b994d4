"""An in-process OTLP receiver for tests: what the real exporters (or a Collector) send, decoded.

::

    from tokentrace.testing.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as receiver:
        exporter = OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True)
        ...  # export
        receiver.wait_for(lambda r: len(r.spans()) == 1)
        span = receiver.spans()[0]

It listens on 127.0.0.1 with free ports: OTLP/gRPC (trace, metrics and logs services) and OTLP/HTTP
(``POST /v1/traces|metrics|logs`` with protobuf or JSON bodies, optionally gzip-compressed). Every
request is kept as the decoded ``Export*ServiceRequest`` protobuf, with the transport and headers it
came with. Needs the ``otlp`` extra: ``opentelemetry-proto`` always, ``grpcio`` for the gRPC side.

Protocol reference: https://opentelemetry.io/docs/specs/otlp/
"""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = [
    "DataPoint",
    "OtlpReceiver",
    "ReceivedExport",
    "ReceivedLog",
    "ReceivedMetric",
    "ReceivedSpan",
    "Signal",
    "Transport",
    "attributes_of",
    "value_of",
]

Signal = Literal["traces", "metrics", "logs"]
Transport = Literal["grpc", "http"]
ExportRequest = ExportTraceServiceRequest | ExportMetricsServiceRequest | ExportLogsServiceRequest
ExportResponse = ExportTraceServiceResponse | ExportMetricsServiceResponse | ExportLogsServiceResponse
DataPoint = NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint

# protobuf's runtime ships no type information (types-protobuf is not a dependency); the two pieces
# used here stay behind Any.
_json_format: Any = importlib.import_module("google.protobuf.json_format")
_DecodeError: type[Exception] = importlib.import_module("google.protobuf.message").DecodeError

_REQUEST_TYPES: dict[Signal, type[ExportRequest]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
_RESPONSE_TYPES: dict[Signal, type[ExportResponse]] = {
    "traces": ExportTraceServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
}
_HTTP_PATHS: dict[str, Signal] = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}

# OTLP/JSON writes these ids as hex, where protobuf's canonical JSON mapping expects base64
# (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding).
_HEX_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def value_of(value: AnyValue) -> Any:
    """The Python value of an OTLP ``AnyValue`` (lists become tuples, key-value lists dicts)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(value_of(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    return getattr(value, kind)


def attributes_of(pairs: Sequence[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a plain dict, for equality assertions."""
    return {pair.key: value_of(pair.value) for pair in pairs}


@dataclass(frozen=True, slots=True)
class ReceivedExport:
    """One export request as it arrived."""

    signal: Signal
    transport: Transport
    request: ExportRequest
    headers: Mapping[str, str]
    """Lower-cased HTTP headers or gRPC metadata."""
    encoding: str
    """``protobuf`` or ``json``; a gzip-compressed body says ``+gzip``."""


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """A span with the resource and instrumentation scope it was sent under."""

    span: Span
    resource: Resource
    scope: InstrumentationScope

    @property
    def attributes(self) -> dict[str, Any]:
        """The span's attributes as a dict."""
        return attributes_of(self.span.attributes)

    @property
    def resource_attributes(self) -> dict[str, Any]:
        """The resource's attributes as a dict."""
        return attributes_of(self.resource.attributes)


@dataclass(frozen=True, slots=True)
class ReceivedMetric:
    """A metric (one export's copy of it) with its resource and instrumentation scope."""

    metric: Metric
    resource: Resource
    scope: InstrumentationScope

    @property
    def data_points(self) -> list[DataPoint]:
        """The points of whichever data kind the metric carries."""
        kind = self.metric.WhichOneof("data")
        if kind is None:
            return []
        points: Sequence[DataPoint] = getattr(self.metric, kind).data_points
        return list(points)


@dataclass(frozen=True, slots=True)
class ReceivedLog:
    """A log record with its resource and instrumentation scope."""

    record: LogRecord
    resource: Resource
    scope: InstrumentationScope


class _Servicer:
    """The ``Export`` method grpc's generated handlers call, for one signal."""

    def __init__(self, receiver: OtlpReceiver, signal: Signal) -> None:
        self._receiver = receiver
        self._signal = signal

    def Export(self, request: ExportRequest, context: Any) -> ExportResponse:  # noqa: N802 (gRPC method name)
        """Store the request and answer at once: a slow Export makes the sender time out."""
        metadata = {str(key).lower(): str(value) for key, value in context.invocation_metadata()}
        self._receiver._store(ReceivedExport(self._signal, "grpc", request, metadata, "protobuf"))
        return _RESPONSE_TYPES[self._signal]()


class OtlpReceiver:
    """OTLP/gRPC and OTLP/HTTP endpoints on 127.0.0.1 that keep every request they decode.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Reading methods return copies
    and are safe to call while exports arrive.
    """

    def __init__(self, *, grpc: bool = True, http: bool = True, host: str = "127.0.0.1") -> None:
        if not (grpc or http):
            raise ValueError("enable at least one of grpc and http")
        self._want_grpc = grpc
        self._want_http = http
        self._host = host
        # Reentrant because wait_for predicates call the reading methods, which take the lock again.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._exports: list[ReceivedExport] = []
        self._grpc_server: Any = None
        self._grpc_port: int | None = None
        self._http_server: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> OtlpReceiver:
        """Open the endpoints (idempotent)."""
        if self._want_grpc and self._grpc_server is None:
            self._start_grpc()
        if self._want_http and self._http_server is None:
            self._start_http()
        return self

    def stop(self) -> None:
        """Close the endpoints. Stop the SDK providers first, or their exporters retry until timeout."""
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None).wait()
            self._grpc_server = None
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            if self._http_thread is not None:
                self._http_thread.join()
            self._http_server = None
            self._http_thread = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _start_grpc(self) -> None:
        try:
            # grpcio ships no type information; it stays behind Any at this one boundary.
            grpc: Any = importlib.import_module("grpc")
            trace_grpc: Any = importlib.import_module(
                "opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc"
            )
            metrics_grpc: Any = importlib.import_module(
                "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc"
            )
            logs_grpc: Any = importlib.import_module(
                "opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc"
            )
        except ImportError as exc:
            raise RuntimeError(
                "the OTLP/gRPC receiver needs grpcio (pip install 'tokentrace[otlp]'); "
                "or use OtlpReceiver(grpc=False)"
            ) from exc
        server = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-receiver-grpc"))
        trace_grpc.add_TraceServiceServicer_to_server(_Servicer(self, "traces"), server)
        metrics_grpc.add_MetricsServiceServicer_to_server(_Servicer(self, "metrics"), server)
        logs_grpc.add_LogsServiceServicer_to_server(_Servicer(self, "logs"), server)
        port = int(server.add_insecure_port(f"{self._host}:0"))
        if port == 0:
            raise RuntimeError(f"could not bind an OTLP/gRPC port on {self._host}")
        server.start()
        self._grpc_server = server
        self._grpc_port = port

    def _start_http(self) -> None:
        server = ThreadingHTTPServer((self._host, 0), _make_http_handler(self))
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever,
            # The default 0.5 s poll would make every stop() take half a second.
            kwargs={"poll_interval": 0.05},
            name="otlp-receiver-http",
            daemon=True,
        )
        thread.start()
        self._http_server = server
        self._http_thread = thread

    # --- addresses -------------------------------------------------------------------------------

    @property
    def grpc_port(self) -> int:
        """The OTLP/gRPC port."""
        if self._grpc_port is None or self._grpc_server is None:
            raise RuntimeError("the OTLP/gRPC endpoint is not running")
        return self._grpc_port

    @property
    def http_port(self) -> int:
        """The OTLP/HTTP port."""
        if self._http_server is None:
            raise RuntimeError("the OTLP/HTTP endpoint is not running")
        return int(self._http_server.server_address[1])

    @property
    def grpc_endpoint(self) -> str:
        """``http://host:port`` for a gRPC exporter (the ``http`` scheme means insecure)."""
        return f"http://{self._host}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """``http://host:port``: the base URL; ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes it as is."""
        return f"http://{self._host}:{self.http_port}"

    def http_url(self, signal: Signal) -> str:
        """The full URL an HTTP exporter's ``endpoint=`` argument needs, e.g. ``…/v1/traces``."""
        return f"{self.http_endpoint}/v1/{signal}"

    # --- storing and waiting ---------------------------------------------------------------------

    def _store(self, export: ReceivedExport) -> None:
        with self._changed:
            self._exports.append(export)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[OtlpReceiver], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate(self)`` is true (re-checked on every export); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout=timeout)

    def clear(self) -> None:
        """Forget everything received so far."""
        with self._lock:
            self._exports.clear()

    # --- reading ---------------------------------------------------------------------------------

    def exports(self, signal: Signal | None = None) -> list[ReceivedExport]:
        """Every request received, oldest first, optionally of one signal only."""
        with self._lock:
            return [export for export in self._exports if signal is None or export.signal == signal]

    def spans(self, name: str | None = None) -> list[ReceivedSpan]:
        """Every span received (optionally only those called ``name``), in arrival order."""
        found: list[ReceivedSpan] = []
        for export in self.exports("traces"):
            assert isinstance(export.request, ExportTraceServiceRequest)
            for resource_spans in export.request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    found.extend(
                        ReceivedSpan(span, resource_spans.resource, scope_spans.scope)
                        for span in scope_spans.spans
                        if name is None or span.name == name
                    )
        return found

    def metrics(self, name: str | None = None) -> list[ReceivedMetric]:
        """Every metric received (one entry per export that carried it), in arrival order."""
        found: list[ReceivedMetric] = []
        for export in self.exports("metrics"):
            assert isinstance(export.request, ExportMetricsServiceRequest)
            for resource_metrics in export.request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    found.extend(
                        ReceivedMetric(metric, resource_metrics.resource, scope_metrics.scope)
                        for metric in scope_metrics.metrics
                        if name is None or metric.name == name
                    )
        return found

    def metric_names(self) -> set[str]:
        """The names of every metric received."""
        return {received.metric.name for received in self.metrics()}

    def data_points(self, name: str) -> list[DataPoint]:
        """Every data point of metric ``name``, over all exports.

        With cumulative temporality every export repeats the running totals: use
        :meth:`latest_data_points` for the current state.
        """
        return [point for received in self.metrics(name) for point in received.data_points]

    def latest_data_points(self, name: str) -> list[DataPoint]:
        """The points of metric ``name`` from the last export that carried it, per resource and scope."""
        latest: dict[tuple[bytes, str], ReceivedMetric] = {}
        for received in self.metrics(name):
            key = (received.resource.SerializeToString(deterministic=True), received.scope.name)
            latest[key] = received
        return [point for received in latest.values() for point in received.data_points]

    def logs(self) -> list[ReceivedLog]:
        """Every log record received, in arrival order."""
        found: list[ReceivedLog] = []
        for export in self.exports("logs"):
            assert isinstance(export.request, ExportLogsServiceRequest)
            for resource_logs in export.request.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    found.extend(
                        ReceivedLog(record, resource_logs.resource, scope_logs.scope)
                        for record in scope_logs.log_records
                    )
        return found

    def __iter__(self) -> Iterator[ReceivedExport]:
        return iter(self.exports())


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                base64.b64encode(bytes.fromhex(value)).decode()
                if key in _HEX_ID_KEYS and isinstance(value, str)
                else _hex_ids_to_base64(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _decode_http_body(
    signal: Signal, body: bytes, content_type: str, content_encoding: str
) -> tuple[ExportRequest, str]:
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise _BadRequest(400, f"bad gzip body: {exc}") from exc
    elif encoding == "deflate":
        try:
            body = zlib.decompress(body)
        except zlib.error as exc:
            raise _BadRequest(400, f"bad deflate body: {exc}") from exc
    elif encoding not in ("", "identity"):
        raise _BadRequest(415, f"unsupported Content-Encoding {encoding!r}")
    suffix = f"+{encoding}" if encoding not in ("", "identity") else ""
    request = _REQUEST_TYPES[signal]()
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        try:
            _json_format.ParseDict(_hex_ids_to_base64(json.loads(body)), request)
        except (ValueError, _json_format.ParseError) as exc:
            raise _BadRequest(400, f"bad OTLP/JSON body: {exc}") from exc
        return request, "json" + suffix
    if media_type == "application/x-protobuf":
        try:
            request.ParseFromString(body)
        except _DecodeError as exc:
            raise _BadRequest(400, f"bad OTLP protobuf body: {exc}") from exc
        return request, "protobuf" + suffix
    raise _BadRequest(415, f"unsupported Content-Type {content_type!r}")


def _make_http_handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # pytest output is no place for an access log

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            signal = _HTTP_PATHS.get(self.path.split("?", 1)[0])
            if signal is None:
                self._reply(404, b"unknown OTLP path", "text/plain")
                return
            content_type = self.headers.get("Content-Type") or ""
            try:
                request, encoding = _decode_http_body(
                    signal, body, content_type, self.headers.get("Content-Encoding") or ""
                )
            except _BadRequest as exc:
                self._reply(exc.status, str(exc).encode(), "text/plain")
                return
            headers = {key.lower(): value for key, value in self.headers.items()}
            receiver._store(ReceivedExport(signal, "http", request, headers, encoding))
            response = _RESPONSE_TYPES[signal]()
            # Answer in the encoding the client used, as the OTLP/HTTP spec asks.
            if encoding.startswith("json"):
                self._reply(200, _json_format.MessageToJson(response).encode(), "application/json")
            else:
                self._reply(200, response.SerializeToString(), "application/x-protobuf")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return _Handler
