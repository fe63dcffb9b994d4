"""The dashboard's range totals on a real Prometheus, for a short app that exports once, at exit.

Prometheus treats a new series' first sample differently from VictoriaMetrics: ``increase()`` and
``rate()`` need two samples, so the tokens of a series' first export are lost unless Prometheus
stores the OTLP start time as a zero sample (``--enable-feature=created-timestamp-zero-ingestion``,
OTLP since 3.7, set in compose.yaml). The range totals (the Overview stats and *Top models*) are
written so they count a series born in the range from zero on any backend; this checks them on the
Prometheus this machine can run.

What runs here: Debian's Prometheus 2.42 (``scripts/obs-tools --prometheus``), which has no OTLP
receiver and no created-timestamp support, fed the way it can be: app -> the real Collector ->
VictoriaMetrics, federated by Prometheus (samples keep the SDK's timestamps). What cannot run
here: Prometheus 3.7's own OTLP receiver with the start-time zero samples, which the rate panels
rely on for a series' first export.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.export.conftest import (
    Collector,
    Process,
    VictoriaMetrics,
    http_get_json,
    instrumented,
    make_pipeline,
    otlp_exporters,
    start_federating_prometheus,
    tail,
)
from tests.export.test_dashboard import ROUND, panel_targets, substitute
from tests.export.workload import anthropic_client, anthropic_round, openai_client, openai_round
from tokentrace.testing import FakeProvider

SERVICE = f"short-app-{uuid.uuid4().hex[:8]}"
# (panel, refId) of the range totals, and what one round of the workload makes them.
TOTALS = {
    ("Input tokens", "A"): sum(t.input for t in ROUND.values()),
    ("Output tokens", "A"): sum(t.output for t in ROUND.values()),
    ("Cache-hit ratio", "A"): sum(t.cache_read for t in ROUND.values())
    / sum(t.input for t in ROUND.values()),
    ("Error rate", "A"): sum(t.errors for t in ROUND.values()) / sum(t.calls for t in ROUND.values()),
}


class Prometheus:
    def __init__(self, url: str, process: Process) -> None:
        self.url, self.process = url, process

    def query(self, expr: str) -> list[dict[str, object]]:
        answer = http_get_json(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert answer["status"] == "success", answer
        result: list[dict[str, object]] = answer["data"]["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        rows = self.query(expr)
        assert len(rows) <= 1, rows
        return float(rows[0]["value"][1]) if rows else None  # type: ignore[index]


@pytest.fixture(scope="module")
def prometheus(victoria_metrics: VictoriaMetrics, obs_workdir: Path) -> Iterator[Prometheus]:
    process, url = start_federating_prometheus(
        obs_workdir,
        "prometheus-short-app",
        victoria_metrics,
        SERVICE,
        require_env="TOKENTRACE_REQUIRE_SCREENSHOT",
    )
    try:
        yield Prometheus(url, process)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def short_app(
    collector: Collector,
    victoria_metrics: VictoriaMetrics,
    prometheus: Prometheus,
    fake_provider: FakeProvider,
) -> Prometheus:
    """One round of calls, then exit: the metrics are exported once, at shutdown."""
    pipeline = make_pipeline(*otlp_exporters("grpc", collector.grpc_endpoint), service_name=SERVICE)
    try:
        with instrumented(pipeline, fake_provider, "openai", "anthropic"):
            openai_round(fake_provider, openai_client(fake_provider))
            anthropic_round(fake_provider, anthropic_client(fake_provider))
    finally:
        pipeline.shutdown()  # the only export, as at an application's exit
    calls = f'gen_ai_client_operation_duration_seconds_count{{service_name="{SERVICE}"}}'
    victoria_metrics.wait_for_series(calls, count=len(ROUND) + 1)
    deadline = time.monotonic() + 30
    while len(prometheus.query(calls)) < len(ROUND) + 1:
        victoria_metrics.flush()
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus never federated the series:\n{tail(prometheus.process.log)}")
        time.sleep(0.5)
    samples = prometheus.query(f"count_over_time({calls}[10m])")
    assert {float(row["value"][1]) for row in samples} == {1.0}, samples  # type: ignore[index]
    return prometheus


@pytest.mark.parametrize(("title", "ref"), sorted(TOTALS))
def test_range_totals_count_a_single_export(short_app: Prometheus, title: str, ref: str) -> None:
    expr = next(expr for t, r, expr in panel_targets() if (t, r) == (title, ref))
    assert short_app.scalar(substitute(expr, SERVICE)) == pytest.approx(TOTALS[(title, ref)], rel=1e-9)


def test_top_models_count_a_single_export(short_app: Prometheus) -> None:
    expr = next(expr for t, r, expr in panel_targets() if (t, r) == ("Top models by tokens", "A"))
    got = {
        (row["metric"]["gen_ai_provider_name"], row["metric"]["gen_ai_request_model"]): float(row["value"][1])  # type: ignore[index]
        for row in short_app.query(substitute(expr, SERVICE))
    }
    assert got == {key: pytest.approx(t.input + t.output) for key, t in ROUND.items()}


def test_increase_alone_loses_a_single_export_on_this_prometheus(short_app: Prometheus) -> None:
    # Why the totals are not increase(): with one sample and no start-time zero, Prometheus has
    # nothing to subtract from, and the tokens of the whole run vanish.
    selector = f'gen_ai_client_inference_usage_input_tokens_total{{service_name="{SERVICE}"}}'
    assert short_app.scalar(f"sum(increase({selector}[10m]))") is None
    assert short_app.scalar(f"sum(last_over_time({selector}[10m]))") == TOTALS[("Input tokens", "A")]
