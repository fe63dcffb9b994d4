"""Public API and lifecycle: instrument/uninstrument, entry points, auto-instrumentation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import openai
import pytest
import wrapt
from openai.resources.chat import completions as chat_module

import tokentrace
from tests.telemetry import Telemetry
from tokentrace._providers import REGISTRY, ProviderEntry
from tokentrace.instrumentor import INSTRUMENTORS
from tokentrace.testing import FakeProvider

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def call(fake: FakeProvider) -> Any:
    client = openai.OpenAI(base_url=fake.base_url("openai"), api_key="sk-test-key", max_retries=0)
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_instrument_names_what_it_instrumented_and_is_idempotent(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    original = vars(chat_module.Completions)["create"]
    assert instrument("openai") == ["openai"]
    wrapped = vars(chat_module.Completions)["create"]
    assert wrapped is not original and isinstance(wrapped, wrapt.FunctionWrapper)
    assert instrument("openai") == ["openai"]
    assert vars(chat_module.Completions)["create"] is wrapped
    call(fake)
    assert len(telemetry.spans()) == 1


def test_uninstrument_restores_the_exact_originals_every_time(
    fake: FakeProvider, telemetry: Telemetry
) -> None:
    classes = [chat_module.Completions, chat_module.AsyncCompletions]
    originals = {
        (cls, name): vars(cls)[name] for cls in classes for name in ("create", "parse") if name in vars(cls)
    }
    for _ in range(3):
        tokentrace.instrument(["openai"])
        assert all(vars(cls)[name] is not original for (cls, name), original in originals.items())
        tokentrace.uninstrument()
        assert all(vars(cls)[name] is original for (cls, name), original in originals.items())
    tokentrace.uninstrument()
    call(fake)
    assert telemetry.spans() == []


def test_unknown_provider_is_a_setup_error() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        tokentrace.instrument(["not-a-provider"])


def test_sdk_not_installed_is_skipped_silently(monkeypatch: pytest.MonkeyPatch, recwarn: Any) -> None:
    entry = REGISTRY["together"]
    monkeypatch.setitem(
        REGISTRY,
        "together",
        ProviderEntry("together", "no_such_sdk_pkg", entry.dependencies, entry.adapter_module),
    )
    assert tokentrace.instrument(["together"]) == []
    assert len(recwarn) == 0


def test_sdk_outside_supported_versions_is_skipped_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = REGISTRY["openai"]
    monkeypatch.setitem(
        REGISTRY, "openai", ProviderEntry("openai", "openai", ("openai < 1.0",), entry.adapter_module)
    )
    monkeypatch.setattr(tokentrace, "_warned_versions", set())
    with pytest.warns(RuntimeWarning, match="not instrumenting openai"):
        assert tokentrace.instrument(["openai"]) == []
    assert tokentrace.instrument(["openai"]) == []  # no second warning (filterwarnings=error would fail)
    assert not INSTRUMENTORS["openai"]().is_instrumented_by_opentelemetry


def test_wrapper_captured_before_uninstrument_passes_through(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    client = openai.OpenAI(base_url=fake.base_url("openai"), api_key="sk-test-key", max_retries=0)
    raw_create = client.chat.completions.with_raw_response.create
    tokentrace.uninstrument()
    raw_create(model="gpt-4o-mini", messages=MESSAGES)
    assert telemetry.spans() == []


def test_another_instrumentation_wrapping_on_top_survives_uninstrument(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    calls: list[str] = []

    def other(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        calls.append("other")
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(chat_module, "Completions.create", other)
    try:
        call(fake)
        tokentrace.uninstrument()
        response = call(fake)
        assert response.usage is not None
        assert calls == ["other", "other"]
        assert len(telemetry.spans()) == 1  # only the call made while instrumented
    finally:
        outer = vars(chat_module.Completions)["create"]
        chat_module.Completions.create = outer.__wrapped__.__wrapped__


def test_extractor_bug_leaves_the_result_unchanged(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tokentrace._providers._openai_compatible as adapter

    expected = call(fake).model_dump()
    monkeypatch.delenv("TOKENTRACE_STRICT")

    def broken(usage: Any) -> Any:
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(adapter, "extract_chat_usage", broken)
    instrument("openai")
    assert call(fake).model_dump() == expected
    span = telemetry.only_span()
    assert span.end_time is not None
    assert "gen_ai.usage.input_tokens" not in span.attributes


def test_entry_points_are_registered_under_tokentrace_names() -> None:
    found = {
        ep.name: ep
        for ep in entry_points(group="opentelemetry_instrumentor")
        if ep.name.startswith("tokentrace")
    }
    assert set(found) == {f"tokentrace_{name}" for name in INSTRUMENTORS}
    for name, cls in INSTRUMENTORS.items():
        assert found[f"tokentrace_{name}"].load() is cls
        assert list(cls().instrumentation_dependencies()) == list(REGISTRY[name].dependencies)


APP = textwrap.dedent(
    """
    import os
    import openai

    client = openai.OpenAI(base_url=os.environ["FAKE_URL"], api_key="sk-test-key", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    """
)


def run_auto_instrumented(fake: FakeProvider, tmp_path: Path, **env: str) -> str:
    app = tmp_path / "app.py"
    app.write_text(APP)
    environment = {
        **os.environ,
        "FAKE_URL": fake.base_url("openai"),
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "auto-test",
        **env,
    }
    environment.pop("TOKENTRACE_STRICT", None)
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "opentelemetry-instrument"), sys.executable, str(app)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def spans_in(console_output: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while (start := console_output.find("{", index)) != -1:
        document, index = decoder.raw_decode(console_output, start)
        spans.append(document)
    return spans


@pytest.mark.slow
def test_opentelemetry_instrument_picks_up_tokentrace(fake: FakeProvider, tmp_path: Path) -> None:
    spans = [
        span for span in spans_in(run_auto_instrumented(fake, tmp_path)) if span["name"] == "chat gpt-4o-mini"
    ]
    assert len(spans) == 1
    attributes = spans[0]["attributes"]
    assert attributes["gen_ai.usage.input_tokens"] == 1217
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1152
    assert spans[0]["resource"]["attributes"]["service.name"] == "auto-test"


@pytest.mark.slow
def test_disabled_instrumentations_variable_switches_tokentrace_off(
    fake: FakeProvider, tmp_path: Path
) -> None:
    output = run_auto_instrumented(fake, tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="tokentrace_openai")
    assert [span for span in spans_in(output) if span["name"].startswith("chat")] == []
