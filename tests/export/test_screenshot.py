"""A real UI showing tokentrace's metrics: Prometheus's classic graph page, in headless Chromium.

Grafana does not run on the project's machines; Prometheus 2.42 (Debian) does, and its classic UI is
the closest stand-in. The chain is the real one: SDK calls -> tokentrace -> OTLP -> the shipped
Collector config -> VictoriaMetrics -> Prometheus (federation scrape) -> the graph page.

Needs ``scripts/obs-tools --prometheus --chromium``; skips with the reason otherwise
(``TOKENTRACE_REQUIRE_SCREENSHOT=1`` makes that a failure). ``TOKENTRACE_UPDATE_SCREENSHOTS=1``
writes the picture to docs/prometheus-token-usage.png, the one the README shows.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import tokentrace
from tests.export.conftest import (
    REPO,
    Collector,
    VictoriaMetrics,
    chromium_binary,
    http_get_json,
    make_pipeline,
    obs_cache,
    otlp_exporters,
    start_federating_prometheus,
    tail,
)
from tests.export.workload import (
    CHAT_MODEL,
    CHAT_USAGE,
    MESSAGES,
    REASONING_MODEL,
    RESPONSES_USAGE,
    openai_client,
)
from tokentrace.testing import FakeProvider

SERVICE = "prometheus-screenshot"
DOCS_PICTURE = REPO / "docs" / "prometheus-token-usage.png"
EXPRESSION = (
    "sum by (gen_ai_request_model, gen_ai_token_type) "
    f'(rate(gen_ai_client_token_usage_sum{{service_name="{SERVICE}"}}[5s]))'
)
SECONDS_OF_TRAFFIC = 20
WINDOW = (1400, 900)


def test_docs_picture_is_committed() -> None:
    """The README shows this file; it must exist and be a real PNG of the window size."""
    assert png_size(DOCS_PICTURE.read_bytes()) == WINDOW


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def prometheus(victoria_metrics: VictoriaMetrics, obs_workdir: Path) -> Iterator[str]:
    assets = obs_cache() / "prometheus" / "usr" / "share" / "prometheus" / "web"
    # Prometheus 2.42 has no OTLP receiver: it federates what the Collector pushed into VictoriaMetrics.
    process, url = start_federating_prometheus(
        obs_workdir,
        "prometheus",
        victoria_metrics,
        SERVICE,
        f"--web.local-assets={assets}/",
        require_env="TOKENTRACE_REQUIRE_SCREENSHOT",
    )
    try:
        yield url
    finally:
        process.stop()


def make_traffic(collector: Collector, victoria_metrics: VictoriaMetrics, fake: FakeProvider) -> None:
    """Twenty seconds of varying traffic, exported every second, as a running app would."""
    pipeline = make_pipeline(*otlp_exporters("grpc", collector.grpc_endpoint), service_name=SERVICE)
    tokentrace.instrument(
        ["openai"], tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider
    )
    try:
        client = openai_client(fake)
        for second in range(SECONDS_OF_TRAFFIC):
            started = time.monotonic()
            for _ in range(1 + second % 4):
                fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
                client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
            if second % 3 == 0:
                fake.enqueue("openai.responses", {"usage": RESPONSES_USAGE})
                client.responses.create(model=REASONING_MODEL, input="Capital of France?")
            pipeline.flush()
            victoria_metrics.flush()  # federation sees new series at once
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    finally:
        tokentrace.uninstrument()
        pipeline.shutdown()


def chromium(browser: str, url: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = workdir / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            # Lets the page's scripts fetch and draw the graph before the capture.
            "--virtual-time-budget=8000",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_prometheus_graphs_token_usage(
    collector: Collector,
    victoria_metrics: VictoriaMetrics,
    prometheus: str,
    fake: FakeProvider,
    obs_workdir: Path,
) -> None:
    browser = chromium_binary()
    make_traffic(collector, victoria_metrics, fake)

    # The query API first: the series the page will draw are in Prometheus.
    query = urllib.parse.urlencode({"query": EXPRESSION})
    deadline = time.monotonic() + 20
    while True:
        result = http_get_json(f"{prometheus}/api/v1/query?{query}")["data"]["result"]
        series = {
            (row["metric"]["gen_ai_request_model"], row["metric"]["gen_ai_token_type"]) for row in result
        }
        if len(series) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert series == {
        (CHAT_MODEL, "input"),
        (CHAT_MODEL, "output"),
        (REASONING_MODEL, "input"),
        (REASONING_MODEL, "output"),
    }, tail(obs_workdir / "prometheus.log")

    page = f"{prometheus}/graph?" + urllib.parse.urlencode(
        {"g0.expr": EXPRESSION, "g0.tab": "0", "g0.range_input": "30s", "g0.stacked": "0"}
    )
    dom = chromium(browser, page, obs_workdir, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The classic UI drew the graph (Rickshaw's SVG) and its legend names every series.
    assert "<svg" in dom.stdout
    for model in (CHAT_MODEL, REASONING_MODEL):
        assert model in dom.stdout

    picture = obs_workdir / "prometheus-token-usage.png"
    shot = chromium(browser, page, obs_workdir, f"--screenshot={picture}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = picture.read_bytes()
    assert png_size(data) == WINDOW
    # A blank or error page compresses to a few kB; a drawn graph with its legend does not.
    assert len(data) > 40_000, len(data)
    if os.environ.get("TOKENTRACE_UPDATE_SCREENSHOTS") == "1":
        DOCS_PICTURE.parent.mkdir(exist_ok=True)
        shutil.copyfile(picture, DOCS_PICTURE)
