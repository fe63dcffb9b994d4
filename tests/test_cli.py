"""The ``tokentrace`` command: the demo (the main job) and the fake provider server."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tokentrace._core.cost import reset_pricers
from tokentrace._demo.runner import run_demo


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
        body = b'{"model": "gpt-4o-mini", "messages": []}'
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b'"prompt_tokens": 1217' in response.read()
    finally:
        process.terminate()
        process.wait(timeout=10)
