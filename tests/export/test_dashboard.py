"""The Grafana dashboard "LLM token usage" and the compose stack around it.

Static checks always run. Then every PromQL expression of every panel (and every variable query) is
run against VictoriaMetrics, fed through the real Collector by a known workload (real OpenAI SDK
calls, instrumented, against the fake provider), and must return exactly the expected series and
values. That tier skips with the reason when scripts/obs-tools has not built the binaries.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from tests.export.conftest import (
    COLLECTOR_CONFIG,
    REPO,
    Collector,
    VictoriaMetrics,
    instrumented,
    make_pipeline,
    otlp_exporters,
)
from tests.export.workload import (
    ANTHROPIC_ROUND,
    CHAT_MODEL,
    OPENAI_ERROR_TYPE,
    OPENAI_ROUND,
    STREAM_CHUNK_DELAY,
    Totals,
    anthropic_client,
    anthropic_round,
    openai_client,
    openai_round,
)
from tokentrace._core import semconv
from tokentrace._core.cost import reset_pricers
from tokentrace.testing import FakeProvider

STACK = REPO / "collector-config"
DASHBOARD = STACK / "grafana" / "dashboards" / "llm-token-usage.json"
SERVICE_PREFIX = "dashboard-workload"
ROUNDS = 2
# What one round adds, per (provider, request model): OpenAI without cache writes, Anthropic with.
ROUND = {**OPENAI_ROUND, **ANTHROPIC_ROUND}
WINDOW = "10m"  # stands in for $__rate_interval and $__range: covers the whole workload
# The workload's prices (USD per million tokens), from a price file the scene hands tokentrace.
PRICES = {
    "openai": {
        "gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6},
        "o4-mini": {"input": 1.1, "cached_input": 0.275, "output": 4.4},
    },
    "anthropic": {"claude-haiku-4-5": {"input": 1, "cached_input": 0.1, "cache_write": 1.25, "output": 5}},
}

Labels = frozenset[tuple[str, str]]
Series = dict[Labels, float]


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def panel_targets() -> list[tuple[str, str, str]]:
    """(panel title, refId, expr) of every query in the dashboard."""
    found = []
    for panel in load_dashboard()["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["refId"], target["expr"]))
    return found


def prometheus_metric_names() -> set[str]:
    """Every series name tokentrace's metrics get in Prometheus naming, derived from semconv."""
    names = set()
    for name in (
        semconv.GEN_AI_CLIENT_TOKEN_USAGE,
        semconv.GEN_AI_CLIENT_OPERATION_DURATION,
        semconv.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
        semconv.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
    ):
        seconds = name != semconv.GEN_AI_CLIENT_TOKEN_USAGE
        base = name.replace(".", "_") + ("_seconds" if seconds else "")
        names |= {base + "_bucket", base + "_sum", base + "_count"}
    # The cost unit is an annotation ({USD}), which Prometheus naming leaves out.
    base = semconv.GEN_AI_CLIENT_OPERATION_COST.replace(".", "_")
    names |= {base + "_bucket", base + "_sum", base + "_count"}
    for name in (
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS,
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS,
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS,
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS,
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS,
    ):
        names.add(name.replace(".", "_") + "_total")
    return names


METRIC_NAME = re.compile(r"\bgen_ai_[a-z_]+\b")
FILTER = 'service_name=~"$service", gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"'


# --- static checks (always) -----------------------------------------------------------------------------


def test_dashboard_shape() -> None:
    dashboard = load_dashboard()
    assert dashboard["title"] == "LLM token usage"
    assert dashboard["uid"] == "tokentrace-llm-token-usage"
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert list(variables) == ["datasource", "service", "provider", "model"]
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("service", "provider", "model"):
        assert variables[name]["multi"] and variables[name]["includeAll"]
        assert variables[name]["allValue"] == ".*"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = [panel["title"] for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len(titles) == len(set(titles))


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in load_dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells


@pytest.mark.parametrize(("title", "ref", "expr"), panel_targets(), ids=lambda value: str(value)[:40])
def test_every_query_filters_and_names_real_metrics(title: str, ref: str, expr: str) -> None:
    # Every series selector carries the three variables, so the dashboard's filters apply everywhere.
    selectors = re.findall(r"\b(gen_ai_[a-z_]+)\{([^}]*)\}", expr)
    assert selectors, expr
    for name, matchers in selectors:
        assert matchers.startswith(FILTER), f"{title}/{ref}: {name}{{{matchers}}}"
    assert set(METRIC_NAME.findall(expr)) <= prometheus_metric_names() | {
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "gen_ai_token_type",
    }


def test_panel_targets_use_the_datasource_variable() -> None:
    for panel in load_dashboard()["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_compose_stack_is_consistent() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((STACK / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"otel-collector", "jaeger", "prometheus", "grafana"}
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (STACK / source).exists(), volume
    collector = services["otel-collector"]
    assert "./otel-collector.yaml:/etc/otelcol/otel-collector.yaml:ro" in collector["volumes"]
    # The image runs the Collector version the tests run the configuration with.
    main_go = (REPO / "scripts" / "otelcol-deb" / "main.go").read_text()
    version = re.search(r'const version = "([0-9.]+)-deb"', main_go)
    assert version is not None
    assert collector["image"] == f"otel/opentelemetry-collector:{version.group(1)}"
    assert collector["environment"]["OTELCOL_METRICS_ENDPOINT"].endswith("/api/v1/otlp/v1/metrics")
    assert "--web.enable-otlp-receiver" in services["prometheus"]["command"]
    # A series' first export counts in rate(): its start time is stored as a zero sample (3.7+).
    assert "--enable-feature=created-timestamp-zero-ingestion" in services["prometheus"]["command"]
    version = services["prometheus"]["image"].rpartition(":v")[2]
    assert tuple(int(part) for part in version.split(".")[:2]) >= (3, 7), version
    prometheus = yaml.safe_load((STACK / "prometheus.yml").read_text())
    assert "service.name" in prometheus["otlp"]["promote_resource_attributes"]

    datasources = yaml.safe_load(
        (STACK / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )["datasources"]
    assert {(source["uid"], source["type"]) for source in datasources} == {
        ("prometheus", "prometheus"),
        ("jaeger", "jaeger"),
    }
    providers = yaml.safe_load(
        (STACK / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml").read_text()
    )["providers"]
    grafana_mounts = dict(volume.split(":")[:2] for volume in services["grafana"]["volumes"])
    assert grafana_mounts["./grafana/dashboards"] == providers[0]["options"]["path"]


def test_collector_config_defaults_point_at_the_compose_services() -> None:
    config = COLLECTOR_CONFIG.read_text()
    assert "${env:OTELCOL_TRACES_ENDPOINT:-jaeger:4317}" in config
    assert "${env:OTELCOL_METRICS_ENDPOINT:-http://prometheus:9090/api/v1/otlp/v1/metrics}" in config


# --- PromQL against VictoriaMetrics (real Collector tier) ---------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """The workload as VictoriaMetrics stored it."""

    vm: VictoriaMetrics
    service: str  # service.name of this workload's series (unique per run of the fixture)
    at: float  # query time: just after the last sample
    interval: float  # seconds between the two exports (what rate() divides by)
    per_round: Mapping[tuple[str, str], Totals]
    raw_buckets: Mapping[str, list[dict[str, Any]]]  # metric -> raw bucket samples of the window

    def rate(self, value: float) -> float:
        return value / self.interval


def round_cost(provider: str, model: str, totals: Totals) -> float:
    """What one round costs at PRICES: uncached input, cache reads, cache writes and output at their rates."""
    price = {key: Decimal(str(value)) for key, value in PRICES[provider][model].items()}
    cache_write = totals.cache_write or 0
    uncached = totals.input - totals.cache_read - cache_write
    cost = (
        uncached * price["input"]
        + totals.cache_read * price["cached_input"]
        + cache_write * price.get("cache_write", price["input"])
        + totals.output * price["output"]
    ) / 1_000_000
    return float(cost)


@pytest.fixture(scope="module")
def scene(
    collector: Collector,
    victoria_metrics: VictoriaMetrics,
    fake_provider: FakeProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scene]:
    service = f"{SERVICE_PREFIX}-{uuid.uuid4().hex[:8]}"
    pipeline = make_pipeline(*otlp_exporters("grpc", collector.grpc_endpoint), service_name=service)
    prices = tmp_path_factory.mktemp("prices") / "prices.json"
    prices.write_text(json.dumps(PRICES))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TOKENTRACE_COST", "true")
        env.setenv("TOKENTRACE_PRICES_FILE", str(prices))
        reset_pricers()
        with instrumented(pipeline, fake_provider, "openai", "anthropic"):
            client = openai_client(fake_provider)
            claude = anthropic_client(fake_provider)
            for index in range(ROUNDS):
                if index:
                    time.sleep(1.0)  # two exports a second apart: rate() has an interval to divide by
                openai_round(fake_provider, client)
                anthropic_round(fake_provider, claude)
                pipeline.flush()
    try:
        calls = f'gen_ai_client_operation_duration_seconds_count{{service_name="{service}"}}'
        vm = victoria_metrics
        vm.wait_for_series(calls, count=len(ROUND) + 1)  # + the failed calls' series
        deadline = time.monotonic() + 15
        while True:
            vm.flush()
            samples = vm.raw_samples(calls, WINDOW)
            if all(len(series["values"]) == ROUNDS for series in samples) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # Whole milliseconds, as VictoriaMetrics stores them: float seconds near 1.8e9 would lose
        # the last digits rate() is compared on.
        stamps = {tuple(round(float(ts) * 1000) for ts, _ in series["values"]) for series in samples}
        # One collection stamps every point alike, and the Collector keeps the SDK's timestamps.
        assert len(stamps) == 1, stamps
        (first, last) = next(iter(stamps))
        at = last / 1000 + 0.5
        raw_buckets = {
            metric: vm.raw_samples(f'{metric}{{service_name="{service}"}}', WINDOW, at=at)
            for metric in (
                "gen_ai_client_operation_duration_seconds_bucket",
                "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
                "gen_ai_client_operation_time_per_output_chunk_seconds_bucket",
            )
        }
        yield Scene(vm, service, at, (last - first) / 1000, ROUND, raw_buckets)
    finally:
        pipeline.shutdown()


def substitute(expr: str, service: str) -> str:
    """Grafana's variables as the dashboard would send them with this service selected."""
    return (
        expr.replace("$__rate_interval", WINDOW)
        .replace("$__range", WINDOW)
        .replace("$service", service)  # no regex metacharacters in it: no escaping needed
        .replace("$provider", ".*")
        .replace("$model", ".*")
    )


def labels(**pairs: str) -> Labels:
    return frozenset(pairs.items())


def by_model(scene: Scene, value: Callable[[Totals], float | None]) -> Series:
    found: Series = {}
    for (provider, model), totals in scene.per_round.items():
        result = value(totals)
        if result is not None:
            found[labels(gen_ai_provider_name=provider, gen_ai_request_model=model)] = result
    return found


def total(scene: Scene, value: Callable[[Totals], float]) -> float:
    return sum(value(totals) for totals in scene.per_round.values())


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile over cumulative (upper bound, count) pairs, +Inf last."""
    buckets = sorted(buckets)
    observations = buckets[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    index = next(i for i, (_, count) in enumerate(buckets[:-1] + [(math.inf, math.inf)]) if count >= rank)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    start, below = (0.0, 0.0) if index == 0 else buckets[index - 1]
    end, count = buckets[index]
    return start + (end - start) * (rank - below) / (count - below)


def quantiles_from_values(q: float, values: Sequence[int]) -> float:
    bounds = [float(bound) for bound in semconv.TOKEN_USAGE_BUCKETS] + [math.inf]
    return bucket_quantile(q, [(bound, float(sum(1 for v in values if v <= bound))) for bound in bounds])


def quantiles_from_raw(
    scene: Scene, metric: str, q: float, where: Callable[[dict[str, str]], bool]
) -> Series:
    """The quantile per provider and model from the buckets' increase between the two exports."""
    grouped: dict[Labels, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for series in scene.raw_buckets[metric]:
        metric_labels = series["metric"]
        if not where(metric_labels):
            continue
        values = [float(value) for _, value in series["values"]]
        assert len(values) == ROUNDS, series
        key = labels(
            gen_ai_provider_name=metric_labels["gen_ai_provider_name"],
            gen_ai_request_model=metric_labels["gen_ai_request_model"],
        )
        grouped[key][float(metric_labels["le"])] += values[-1] - values[0]
    return {key: bucket_quantile(q, list(buckets.items())) for key, buckets in grouped.items()}


def successful(metric_labels: dict[str, str]) -> bool:
    return "error_type" not in metric_labels


def anything(metric_labels: dict[str, str]) -> bool:
    return True


def increments_per_model(
    scene: Scene, metric: str, where: Callable[[dict[str, str]], bool]
) -> dict[Labels, float]:
    """Observations between the two exports (the +Inf bucket's increase), per provider and model."""
    found: dict[Labels, float] = defaultdict(float)
    for series in scene.raw_buckets[metric]:
        metric_labels = series["metric"]
        if where(metric_labels) and metric_labels["le"] == "+Inf":
            values = [float(value) for _, value in series["values"]]
            key = labels(
                gen_ai_provider_name=metric_labels["gen_ai_provider_name"],
                gen_ai_request_model=metric_labels["gen_ai_request_model"],
            )
            found[key] += values[-1] - values[0]
    return dict(found)


DURATION = "gen_ai_client_operation_duration_seconds_bucket"
TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds_bucket"
PER_CHUNK = "gen_ai_client_operation_time_per_output_chunk_seconds_bucket"

# (panel title, refId) -> the series and values the query must return for the workload.
EXPECTED: dict[tuple[str, str], Callable[[Scene], Series]] = {
    ("Input tokens", "A"): lambda s: {labels(): ROUNDS * total(s, lambda t: t.input)},
    ("Output tokens", "A"): lambda s: {labels(): ROUNDS * total(s, lambda t: t.output)},
    ("Cache-hit ratio", "A"): lambda s: {
        labels(): total(s, lambda t: t.cache_read) / total(s, lambda t: t.input)
    },
    ("Error rate", "A"): lambda s: {labels(): total(s, lambda t: t.errors) / total(s, lambda t: t.calls)},
    ("Tokens per second by provider, model and type", "A"): lambda s: by_model(s, lambda t: s.rate(t.input)),
    ("Tokens per second by provider, model and type", "B"): lambda s: by_model(s, lambda t: s.rate(t.output)),
    ("Tokens per second by provider, model and type", "C"): lambda s: by_model(
        s, lambda t: s.rate(t.cache_read)
    ),
    ("Tokens per second by provider, model and type", "D"): lambda s: by_model(
        s, lambda t: None if t.cache_write is None else s.rate(t.cache_write)
    ),
    ("Tokens per second by provider, model and type", "E"): lambda s: by_model(
        s, lambda t: None if t.reasoning is None else s.rate(t.reasoning)
    ),
    ("Cache-hit ratio by model", "A"): lambda s: by_model(s, lambda t: t.cache_read / t.input),
    ("Calls per second", "A"): lambda s: by_model(s, lambda t: s.rate(t.calls)),
    ("Error rate by model", "A"): lambda s: by_model(s, lambda t: t.errors / t.calls),
    ("Errors per second by type", "A"): lambda s: {
        labels(gen_ai_provider_name=provider, error_type=OPENAI_ERROR_TYPE): s.rate(
            sum(t.errors for (p, _), t in s.per_round.items() if p == provider)
        )
        for provider in {p for (p, _), t in s.per_round.items() if t.errors}
    },
    ("Operation duration (successful calls)", "A"): lambda s: quantiles_from_raw(
        s, DURATION, 0.5, successful
    ),
    ("Operation duration (successful calls)", "B"): lambda s: quantiles_from_raw(
        s, DURATION, 0.95, successful
    ),
    ("Operation duration (successful calls)", "C"): lambda s: quantiles_from_raw(
        s, DURATION, 0.99, successful
    ),
    ("Time to first chunk (streams)", "A"): lambda s: quantiles_from_raw(s, TTFC, 0.5, anything),
    ("Time to first chunk (streams)", "B"): lambda s: quantiles_from_raw(s, TTFC, 0.95, anything),
    ("Time per output chunk (streams)", "A"): lambda s: quantiles_from_raw(s, PER_CHUNK, 0.5, anything),
    ("Time per output chunk (streams)", "B"): lambda s: quantiles_from_raw(s, PER_CHUNK, 0.95, anything),
    ("Top models by tokens", "A"): lambda s: by_model(s, lambda t: ROUNDS * (t.input + t.output)),
    ("Tokens per call by type", "A"): lambda s: {
        labels(gen_ai_token_type=kind): quantiles_from_values(0.5, calls)
        for kind, calls in per_call(s).items()
    },
    ("Tokens per call by type", "B"): lambda s: {
        labels(gen_ai_token_type=kind): quantiles_from_values(0.95, calls)
        for kind, calls in per_call(s).items()
    },
    ("Total cost", "A"): lambda s: {
        labels(): ROUNDS * sum(round_cost(p, m, t) for (p, m), t in s.per_round.items())
    },
    ("Cost by model", "A"): lambda s: cost_by_model(s, lambda cost: ROUNDS * cost),
    ("Cost per hour by model", "A"): lambda s: cost_by_model(s, lambda cost: 3600 * s.rate(cost)),
}


def cost_by_model(scene: Scene, value: Callable[[float], float]) -> Series:
    return {
        labels(gen_ai_provider_name=provider, gen_ai_request_model=model): value(
            round_cost(provider, model, totals)
        )
        for (provider, model), totals in scene.per_round.items()
    }


def per_call(scene: Scene) -> dict[str, list[int]]:
    calls = [call for totals in scene.per_round.values() for call in totals.per_call]
    return {"input": [call[0] for call in calls], "output": [call[1] for call in calls]}


def test_every_panel_query_has_an_expectation() -> None:
    assert {(title, ref) for title, ref, _ in panel_targets()} == set(EXPECTED)


def test_histogram_increments_match_the_workload(scene: Scene) -> None:
    """The raw buckets the latency expectations are computed from hold exactly the workload's calls."""
    assert increments_per_model(scene, DURATION, successful) == by_model(scene, lambda t: t.calls - t.errors)
    assert increments_per_model(scene, TTFC, anything) == by_model(scene, lambda t: t.streams or None)
    # The slow stream (chunks STREAM_CHUNK_DELAY apart) is the slowest third of the chat calls: the
    # p99 lands in its bucket, well above the fast calls' first bucket.
    chat = labels(gen_ai_provider_name="openai", gen_ai_request_model=CHAT_MODEL)
    assert quantiles_from_raw(scene, DURATION, 0.99, successful)[chat] > 8 * STREAM_CHUNK_DELAY
    assert quantiles_from_raw(scene, PER_CHUNK, 0.5, anything)[chat] > STREAM_CHUNK_DELAY / 2


@pytest.mark.parametrize(("title", "ref", "expr"), panel_targets(), ids=lambda value: str(value)[:40])
def test_panel_query_returns_expected_series(scene: Scene, title: str, ref: str, expr: str) -> None:
    result = scene.vm.query(substitute(expr, scene.service), at=scene.at)
    got: Series = {
        frozenset((key, value) for key, value in row["metric"].items() if key != "__name__"): float(
            row["value"][1]
        )
        for row in result
    }
    expected = EXPECTED[(title, ref)](scene)
    assert set(got) == set(expected), f"{title}/{ref}: {substitute(expr, scene.service)}"
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), f"{title}/{ref} {dict(key)}"


def test_variable_queries(scene: Scene) -> None:
    variables = {variable["name"]: variable for variable in load_dashboard()["templating"]["list"]}
    answers = {}
    for name in ("service", "provider", "model"):
        query = variables[name]["query"]["query"]
        parsed = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
        assert parsed is not None, query
        answers[name] = scene.vm.label_values(parsed.group(2), substitute(parsed.group(1), scene.service))
    assert scene.service in answers["service"]
    assert answers["provider"] == sorted({provider for provider, _ in ROUND})
    assert answers["model"] == sorted({model for _, model in ROUND})
