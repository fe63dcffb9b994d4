"""Export-path fixtures: SDK pipelines with the real OTLP exporters, the in-process receiver, and
the real backends (a Collector built by scripts/obs-tools, VictoriaMetrics, Prometheus, Chromium).

The backend tier skips, with the reason, when scripts/obs-tools has not provided the binaries;
``TOKENTRACE_REQUIRE_COLLECTOR=1`` (and ``TOKENTRACE_REQUIRE_SCREENSHOT=1`` for the Prometheus UI
screenshot) turns that skip into a failure, so CI proves the tier ran.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

import tokentrace
from tokentrace.testing import FakeProvider
from tokentrace.testing.otlp_receiver import OtlpReceiver

REPO = Path(__file__).resolve().parents[2]
COLLECTOR_CONFIG = REPO / "collector-config" / "otel-collector.yaml"
Protocol = Literal["grpc", "http"]


# --- SDK pipelines with the real OTLP exporters -----------------------------------------------------


@dataclass
class Pipeline:
    """A TracerProvider and MeterProvider exporting over OTLP, driven by explicit flushes."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    closed: bool = False

    def flush(self) -> None:
        # BatchSpanProcessor would wait 5 s and the metric reader an hour: push now.
        assert self.tracer_provider.force_flush(10_000)
        assert self.meter_provider.force_flush(10_000)

    def shutdown(self) -> None:
        if not self.closed:
            self.closed = True
            self.tracer_provider.shutdown()
            self.meter_provider.shutdown()


def otlp_exporters(
    protocol: Protocol,
    endpoint: str,
    *,
    temporality: AggregationTemporality | None = None,
    gzip: bool = False,
    headers: Mapping[str, str] | None = None,
) -> tuple[SpanExporter, MetricExporter]:
    """The SDK's own OTLP exporters for ``endpoint`` (``http://host:port``)."""
    preferred = None
    if temporality is not None:
        from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter

        # What OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta selects for these kinds.
        preferred = {Counter: temporality, ObservableCounter: temporality, Histogram: temporality}
    if protocol == "grpc":
        from grpc import Compression as GrpcCompression
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        grpc_compression = GrpcCompression.Gzip if gzip else None
        return (
            GrpcSpanExporter(
                endpoint=endpoint, insecure=True, timeout=5, headers=headers, compression=grpc_compression
            ),
            GrpcMetricExporter(
                endpoint=endpoint,
                insecure=True,
                timeout=5,
                headers=headers,
                compression=grpc_compression,
                preferred_temporality=preferred,
            ),
        )
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    http_compression = HttpCompression.Gzip if gzip else HttpCompression.NoCompression
    # Given as an argument, the HTTP exporters' endpoint is the full URL (the env form adds the path).
    return (
        HttpSpanExporter(
            endpoint=f"{endpoint}/v1/traces", timeout=5, headers=headers, compression=http_compression
        ),
        HttpMetricExporter(
            endpoint=f"{endpoint}/v1/metrics",
            timeout=5,
            headers=headers,
            compression=http_compression,
            preferred_temporality=preferred,
        ),
    )


def make_pipeline(
    span_exporter: SpanExporter, metric_exporter: MetricExporter, *, service_name: str
) -> Pipeline:
    resource = Resource.create({"service.name": service_name})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    return Pipeline(tracer_provider, meter_provider)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as started:
        yield started


# --- real backends ------------------------------------------------------------------------------------


def obs_cache() -> Path:
    configured = os.environ.get("TOKENTRACE_OBS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "tokentrace-obs"


def skip_or_fail(reason: str, require_env: str) -> None:
    if os.environ.get(require_env) == "1":
        pytest.fail(f"{reason} [{require_env}=1 requires this tier]", pytrace=False)
    pytest.skip(reason)


def obs_binary(name: str, require_env: str = "TOKENTRACE_REQUIRE_COLLECTOR") -> Path:
    """A binary scripts/obs-tools put in the cache, or a skip that says why it is not there."""
    cache = obs_cache()
    path = cache / "bin" / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    reason = f"{name} not available: run scripts/obs-tools (looked in {cache / 'bin'})"
    error = cache / "status" / f"{name}.error"
    if error.is_file():
        reason += f"; its last attempt failed: {error.read_text().strip()}"
    skip_or_fail(reason, require_env)
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}:\n{tail(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout} s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Process:
    """A backend process with its log file; stopped with SIGTERM, then SIGKILL."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def start_process(name: str, argv: list[str], workdir: Path, env: Mapping[str, str] | None = None) -> Process:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env={**os.environ, **(env or {})},
        )
    return Process(name, popen, log)


def http_get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class VictoriaMetrics:
    """A VictoriaMetrics process taking OTLP metrics with Prometheus naming, queried with PromQL."""

    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def otlp_metrics_url(self) -> str:
        return f"{self.url}/opentelemetry/v1/metrics"

    def flush(self) -> None:
        # New series are searchable only after the in-memory parts are flushed (about 10-20 s
        # otherwise); this endpoint does it at once.
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10) as response:
            response.read()

    def api(self, path: str, **params: str | list[str]) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            body = http_get_json(f"{self.url}{path}?{query}")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{path} {params}: HTTP {exc.code}: {exc.read().decode()}") from exc
        assert body["status"] == "success", body
        return body["data"]

    @staticmethod
    def _time(at: float | None) -> str:
        # Without an explicit time VictoriaMetrics evaluates at the current second rounded down,
        # which is before a sample written a moment ago: evaluate just after now instead.
        return f"{time.time() + 1 if at is None else at:.3f}"

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: ``[{"metric": {...}, "value": [ts, "v"]}, ...]``."""
        data = self.api("/api/v1/query", query=expr, time=self._time(at))
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def raw_samples(self, selector: str, window: str = "1h", at: float | None = None) -> list[dict[str, Any]]:
        """The stored samples of the selected series: ``[{"metric": {...}, "values": [[ts, "v"], ...]}]``."""
        data = self.api("/api/v1/query", query=f"{selector}[{window}]", time=self._time(at))
        assert data["resultType"] == "matrix", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def metric_names(self, match: str) -> list[str]:
        names: list[str] = self.api("/api/v1/label/__name__/values", **{"match[]": [match]})
        return names

    def label_values(self, label: str, match: str) -> list[str]:
        values: list[str] = self.api(f"/api/v1/label/{label}/values", **{"match[]": [match]})
        return values

    def wait_for_series(self, selector: str, count: int = 1, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            found = self.api("/api/v1/series", **{"match[]": [selector]})
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, f"{selector}: {len(found)} series, wanted {count}"
                return
            time.sleep(0.2)

    def wait_for_names(self, match: str, names: set[str], timeout: float = 15.0) -> None:
        """Wait until every metric name in ``names`` has a series matching ``match``.

        Counting series is not enough: a histogram's bucket series alone can reach a count while a
        counter exported in a later batch has not been ingested yet.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            missing = names - set(self.metric_names(match))
            if not missing or time.monotonic() > deadline:
                assert not missing, f"{match}: no series yet for {sorted(missing)}"
                return
            time.sleep(0.2)


@dataclass
class Collector:
    """The shipped collector-config/otel-collector.yaml, run by the real otelcol-deb binary."""

    grpc_endpoint: str
    http_endpoint: str
    process: Process
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def obs_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("obs")


@pytest.fixture(scope="session")
def victoria_metrics(obs_workdir: Path) -> Iterator[VictoriaMetrics]:
    binary = obs_binary("victoria-metrics")
    port = free_port()
    process = start_process(
        "victoria-metrics",
        [
            str(binary),
            f"-storageDataPath={obs_workdir / 'vmdata'}",
            f"-httpListenAddr=127.0.0.1:{port}",
            # Prometheus-style names (dots to underscores, _total, unit suffixes), as Prometheus's
            # own OTLP receiver writes them, so the dashboard's PromQL is the same for both.
            "-opentelemetry.usePrometheusNaming",
            # Answer with what was just written rather than hold the last 30 s back.
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
        ],
        obs_workdir,
    )
    try:
        wait_for_port(port, process.popen, process.log)
        vm = VictoriaMetrics(port, process)
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{vm.url}/health", timeout=2) as response:
                    if response.read().strip() == b"OK":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"VictoriaMetrics not healthy:\n{tail(process.log)}")
            time.sleep(0.1)
        yield vm
    finally:
        process.stop()


@pytest.fixture(scope="session")
def trace_sink() -> Iterator[OtlpReceiver]:
    """Where the Collector sends traces (in place of Jaeger): the in-process OTLP/gRPC receiver."""
    with OtlpReceiver(http=False) as started:
        yield started


@pytest.fixture(scope="session")
def collector(
    obs_workdir: Path, victoria_metrics: VictoriaMetrics, trace_sink: OtlpReceiver
) -> Iterator[Collector]:
    binary = obs_binary("otelcol-deb")
    grpc_port, http_port, self_port = free_port(), free_port(), free_port()
    env = {
        "OTELCOL_OTLP_GRPC_LISTEN": f"127.0.0.1:{grpc_port}",
        "OTELCOL_OTLP_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "OTELCOL_TRACES_ENDPOINT": f"127.0.0.1:{trace_sink.grpc_port}",
        "OTELCOL_METRICS_ENDPOINT": victoria_metrics.otlp_metrics_url,
        "OTELCOL_BATCH_TIMEOUT": "100ms",
        "OTELCOL_SELF_METRICS_HOST": "127.0.0.1",
        "OTELCOL_SELF_METRICS_PORT": str(self_port),
    }
    process = start_process(
        "otelcol-deb", [str(binary), f"--config={COLLECTOR_CONFIG}"], obs_workdir, env=env
    )
    try:
        wait_for_port(grpc_port, process.popen, process.log)
        wait_for_port(http_port, process.popen, process.log)
        yield Collector(f"http://127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}", process, env)
    finally:
        process.stop()
        # The Collector's log is the first thing to read when a chain test fails.
        if process.popen.returncode not in (0, -15):
            print(f"otelcol-deb exited with {process.popen.returncode}:\n{tail(process.log)}")


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        skip_or_fail(
            "chromium not installed: run scripts/obs-tools --prometheus --chromium",
            "TOKENTRACE_REQUIRE_SCREENSHOT",
        )
        raise AssertionError("unreachable")
    return found


def start_federating_prometheus(
    workdir: Path, name: str, vm: VictoriaMetrics, service: str, *extra_args: str, require_env: str
) -> tuple[Process, str]:
    """Debian's Prometheus 2.42 (no OTLP receiver) federating one service's series from VictoriaMetrics.

    Federated samples keep the SDK's timestamps; the scrape runs every second.
    """
    binary = obs_binary("prometheus", require_env)
    port = free_port()
    config = workdir / f"{name}.yml"
    config.write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: victoria-metrics
    honor_labels: true
    metrics_path: /federate
    params: {{"match[]": ['{{service_name="{service}"}}']}}
    static_configs: [{{targets: ["127.0.0.1:{vm.port}"]}}]
"""
    )
    process = start_process(
        name,
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / (name + '-data')}",
            f"--web.listen-address=127.0.0.1:{port}",
            *extra_args,
        ],
        workdir,
    )
    try:
        wait_for_port(port, process.popen, process.log)
    except BaseException:
        process.stop()
        raise
    return process, f"http://127.0.0.1:{port}"


@contextmanager
def instrumented(pipeline: Pipeline, fake: FakeProvider, *providers: str) -> Iterator[None]:
    """tokentrace on ``providers``, exporting through ``pipeline``; the fake's scripts reset around it."""
    tokentrace.instrument(
        list(providers), tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider
    )
    try:
        fake.reset()
        yield
    finally:
        tokentrace.uninstrument()
        fake.reset()
