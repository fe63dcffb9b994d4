"""The ``tokentrace`` command: the demo (the main job) and the fake provider server."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tokentrace.__main__ import CLIENT_SETUP, main
from tokentrace._core.cost import reset_pricers
from tokentrace._demo.runner import run_demo
from tokentrace._providers import REGISTRY, ProviderEntry
from tokentrace.testing.otlp_receiver import OtlpReceiver


def test_demo_prints_the_token_table_from_the_telemetry() -> None:
    out = io.StringIO()
    assert run_demo(["openai"], out) == 0
    text = out.getvalue()
    rows = {tuple(line.split()[:2] + line.split()[2:3]): line.split() for line in text.splitlines()}
    chat = next(cells for cells in rows.values() if cells[:3] == ["openai", "chat", "gpt-4o-mini"])
    # calls, errors, input, output, cached, reasoning: three chat calls of 1217 input (1152 cached), 9 output.
    assert chat[3:9] == ["3", "0", "3651", "27", "3456", "0"]
    responses = next(cells for cells in rows.values() if cells[:3] == ["openai", "chat", "o4-mini"])
    assert responses[3:9] == ["1", "0", "14", "151", "0", "128"]
    assert re.search(r"^5 spans; table read back from the recorded metrics\.$", text, re.MULTILINE)


def _table(text: str) -> list[list[str]]:
    """The demo table's rows without the timing column, and its closing line."""
    lines = text.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("provider "))
    rows = []
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        cells = line.split()
        rows.append(cells[:-2] + cells[-1:])  # avg ms (next to last) varies from run to run
    closing = next(line for line in lines[header:] if line.endswith("read back from the recorded metrics."))
    return [*rows, [closing]]


# google-genai's async client subclasses aiohttp's ClientSession, which aiohttp warns about (not ours to fix).
@pytest.mark.filterwarnings("ignore:Inheritance class Aiohttp:DeprecationWarning")
def test_readme_sample_output_is_what_the_whole_demo_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENTRACE_COST", "true")  # the sample shows genai-prices' list prices
    reset_pricers()
    # The README shows the demo extra's environment, which has no aiobotocore (the test group adds it
    # for the async Bedrock tests; with it the demo's async Bedrock call is a Converse, not InvokeModel).
    monkeypatch.setitem(sys.modules, "aiobotocore", None)
    out = io.StringIO()
    assert run_demo(None, out) == 0, out.getvalue()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    sample = readme[readme.index("```\nprovider ") + 4 :]
    sample = sample[: sample.index("```")]
    assert _table(out.getvalue()) == _table(sample)
    assert "FAILED" not in out.getvalue() and "skipped" not in out.getvalue()


def test_demo_skips_a_provider_whose_optional_package_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_openai", None)  # import now raises ModuleNotFoundError
    out = io.StringIO()
    assert run_demo(["openai", "langchain"], out) == 0, out.getvalue()
    assert "skipped langchain: needs langchain_openai (pip install 'tokentrace[demo]')" in out.getvalue()
    assert "FAILED" not in out.getvalue()


def test_demo_fails_when_the_calls_record_no_telemetry() -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    out = io.StringIO()
    with suppress_instrumentation():  # the SDK calls go through, tokentrace records nothing
        assert run_demo(["openai"], out) == 1
    assert "FAILED openai: the calls went through but tokentrace recorded no span" in out.getvalue()


def test_demo_cost_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai": {"gpt-4o-mini": {"input": 1, "cached_input": 0.5, "output": 2}}}))
    monkeypatch.setenv("TOKENTRACE_COST", "true")
    monkeypatch.setenv("TOKENTRACE_PRICES_FILE", str(prices))
    monkeypatch.setattr("tokentrace._core.cost._Library", _no_library)  # only the file prices here
    reset_pricers()
    out = io.StringIO()
    try:
        assert run_demo(["openai"], out) == 0
    finally:
        reset_pricers()
    lines = out.getvalue().splitlines()
    header = lines[2].split()
    assert header[-2:] == ["cost", "USD"]
    cells = {tuple(line.split()[:3]): line.split() for line in lines[4:] if line.startswith("openai")}
    # Three chat calls: 65 uncached input at $1, 1152 cached at $0.50, 9 output at $2 per million.
    assert cells[("openai", "chat", "gpt-4o-mini")][-1] == f"{3 * (65 * 1 + 1152 * 0.5 + 9 * 2) / 1e6:.8f}"
    assert cells[("openai", "chat", "o4-mini")][-1] == "-"  # not in the file: not priced


def _no_library() -> None:
    raise ImportError("genai-prices left out of this test")


@pytest.mark.slow
def test_fake_provider_command_serves_until_interrupted(tmp_path: Path) -> None:
    port = 18000 + (int(time.time() * 1000) % 2000)
    process = subprocess.Popen(
        [sys.executable, "-m", "tokentrace", "fake-provider", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert f"http://127.0.0.1:{port}" in process.stdout.readline()
        # Then one line per SDK: how to point its client here, with its own base URL.
        setups = dict(process.stdout.readline().split(maxsplit=1) for _ in CLIENT_SETUP)
        assert set(setups) == {name for name, _ in CLIENT_SETUP} == set(REGISTRY) - {"langchain"}
        assert f"base_url='http://127.0.0.1:{port}/v1'" in setups["openai"]
        assert f"server_url='http://127.0.0.1:{port}/mistral'" in setups["mistralai"]
        assert f"endpoint_url='http://127.0.0.1:{port}'" in setups["bedrock"]
        body = b'{"model": "gpt-4o-mini", "messages": []}'
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b'"prompt_tokens": 1217' in response.read()
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_fake_provider_on_a_busy_port_says_so_without_a_traceback() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "tokentrace", "fake-provider", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


# --- the demo's arguments and what it says -----------------------------------------------------------


# google-genai's async client subclasses aiohttp's session, which aiohttp deprecates (errors here).
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
def test_demo_takes_the_extras_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--providers", "google-genai"]) == 0
    out = capsys.readouterr().out
    assert "demo: google_genai against the fake provider" in out
    assert re.search(r"^gcp\.gemini +generate_content ", out, re.MULTILINE)


def test_demo_rejects_an_unknown_provider_with_the_accepted_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--providers", "openai,gemini-pro"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown provider 'gemini-pro'; choose from openai, anthropic, google-genai, bedrock" in err


def test_demo_help_lists_the_provider_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "openai, anthropic, google-genai, bedrock, mistralai, groq, together, fireworks, langchain" in out


def test_demo_of_an_sdk_not_installed_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = REGISTRY["anthropic"]
    monkeypatch.setitem(
        REGISTRY,
        "anthropic",
        ProviderEntry("anthropic", "no_such_sdk_pkg", entry.dependencies, entry.adapter_module),
    )
    out = io.StringIO()
    assert run_demo(["anthropic"], out) == 1
    text = out.getvalue()
    assert "demo: no SDK against the fake provider" in text
    assert "NOT RUN anthropic: not installed: pip install 'tokentrace[anthropic]'" in text
    assert "0 spans" in text


def test_each_providers_extra_is_declared_in_pyproject() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert {entry.extra for entry in REGISTRY.values()} <= set(extras)


# --- the demo and the OTLP backend ------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def otlp_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


@pytest.mark.slow
def test_demo_against_a_dead_endpoint_says_nothing_was_exported_at_once(
    otlp_env: pytest.MonkeyPatch, closed_port: int
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    otlp_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    out = io.StringIO()
    started = time.monotonic()
    assert run_demo(["openai"], out) == 1
    elapsed = time.monotonic() - started
    text = out.getvalue()
    assert f"NOT exported to {endpoint}: nothing accepts connections there" in text
    assert "Exported over OTLP" not in text
    assert "5 spans; table read back" in text  # the table itself is still shown
    assert elapsed < 8, elapsed  # no exporter retry loop (it took 35 s)


class NotOtlp(BaseHTTPRequestHandler):
    """Something listening that is no OTLP receiver: every POST gets 404, every path is recorded."""

    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.paths.append(self.path)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.slow
def test_demo_against_a_backend_that_rejects_the_export_says_so(otlp_env: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotOtlp)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    NotOtlp.paths = []
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        otlp_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        otlp_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        out = io.StringIO()
        assert run_demo(["openai"], out) == 1
    finally:
        server.shutdown()
        server.server_close()
    text = out.getvalue()
    assert f"NOT exported to {endpoint}: 5 spans not accepted" in text
    assert "Exported over OTLP" not in text
    # After the rejected span batch the metrics are not sent into the same wall.
    assert NotOtlp.paths == ["/v1/traces"], NotOtlp.paths


@pytest.mark.slow
def test_demo_against_a_live_receiver_reports_what_it_accepted(otlp_env: pytest.MonkeyPatch) -> None:
    with OtlpReceiver() as receiver:
        endpoint = receiver.grpc_endpoint
        otlp_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        out = io.StringIO()
        assert run_demo(["openai"], out) == 0
        assert len(receiver.spans()) == 5
        assert "gen_ai.client.token.usage" in receiver.metric_names()
    assert f"Exported over OTLP to {endpoint}: 5 spans and 1 metric export(s)" in out.getvalue()
