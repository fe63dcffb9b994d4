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


# The contrib openai-v2 instrumentation is in the test environment (for the coexistence tests); its
# entry point is named ``openai``. Auto-instrumented runs here check tokentrace alone.
OTHER_OPENAI_INSTRUMENTATIONS = "openai"


def auto_environment(**env: str) -> dict[str, str]:
    disabled = [OTHER_OPENAI_INSTRUMENTATIONS, env.pop("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")]
    environment = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        **env,
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(filter(None, disabled)),
    }
    environment.pop("TOKENTRACE_STRICT", None)
    return environment


def auto_run(*argv: str, **env: str) -> str:
    """The output of ``opentelemetry-instrument python ARGV...`` (exporters off unless ``env`` says)."""
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "opentelemetry-instrument"), sys.executable, *argv],
        env=auto_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def run_auto_instrumented(fake: FakeProvider, tmp_path: Path, **env: str) -> str:
    app = tmp_path / "app.py"
    app.write_text(APP)
    return auto_run(
        str(app),
        FAKE_URL=fake.base_url("openai"),
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="auto-test",
        **env,
    )


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


# --- API edges -------------------------------------------------------------------------------------


def test_a_string_is_one_provider_name(instrument: Any) -> None:
    assert tokentrace.instrument("openai") == ["openai"]
    assert isinstance(vars(chat_module.Completions)["create"], wrapt.FunctionWrapper)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("google-genai", "google_genai"),  # the pip extra
        ("google.genai", "google_genai"),  # the import name
        ("boto3", "bedrock"),
        ("botocore", "bedrock"),
        ("fireworks-ai", "fireworks"),  # the distribution
        ("langchain-core", "langchain"),
        ("OpenAI", "openai"),
    ],
)
def test_extra_distribution_and_import_names_are_accepted(spelling: str, name: str) -> None:
    try:
        assert tokentrace.instrument([spelling]) == [name]
        assert INSTRUMENTORS[name]().is_instrumented_by_opentelemetry
    finally:
        tokentrace.uninstrument()


def test_unknown_name_among_aliases_is_still_a_setup_error() -> None:
    with pytest.raises(ValueError, match=r"unknown provider\(s\) \['google-gen'\]"):
        tokentrace.instrument(["google-genai", "google-gen"])
    assert not INSTRUMENTORS["google_genai"]().is_instrumented_by_opentelemetry


def test_instrument_again_with_other_providers_sends_telemetry_to_the_new_ones(fake: FakeProvider) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    def pipeline() -> tuple[TracerProvider, MeterProvider, Telemetry]:
        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        return tracer_provider, MeterProvider(metric_readers=[reader]), Telemetry(spans, reader)

    first_tp, first_mp, first = pipeline()
    second_tp, second_mp, second = pipeline()
    # Whatever stands there now (an earlier test may leave another instrumentation's wrapper).
    before = vars(chat_module.Completions)["create"]
    try:
        tokentrace.instrument(["openai"], tracer_provider=first_tp, meter_provider=first_mp)
        wrapped = vars(chat_module.Completions)["create"]
        # The same providers again: idempotent, the wrapper in place is kept.
        tokentrace.instrument(["openai"], tracer_provider=first_tp, meter_provider=first_mp)
        assert vars(chat_module.Completions)["create"] is wrapped
        call(fake)
        tokentrace.instrument(["openai"], tracer_provider=second_tp, meter_provider=second_mp)
        call(fake)
        assert len(first.spans()) == 1 and len(second.spans()) == 1
        assert first.token_usage()["input"] == (1217, 1)
        assert second.token_usage()["input"] == (1217, 1)
        # Re-instrumenting replaced ours; it did not stack a second wrapper on it.
        assert vars(chat_module.Completions)["create"].__wrapped__ is before
    finally:
        tokentrace.uninstrument()
        first_mp.shutdown()
        second_mp.shutdown()


# --- patching at import time -----------------------------------------------------------------------

# The import names of every SDK tokentrace instruments; botocore is left out of the auto-instrumented
# check because the contrib botocore instrumentation in the test environment imports it itself.
SDK_MODULES = [entry.package for entry in REGISTRY.values()] + ["aiobotocore"]

LAZY_APP = textwrap.dedent(
    """
    import os, sys
    import tokentrace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    SDKS = sys.argv[1].split(",")
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    names = tokentrace.instrument(tracer_provider=provider)
    imported_by_instrument = [name for name in SDKS if name in sys.modules]
    if os.environ.get("UNINSTRUMENT_FIRST"):
        tokentrace.uninstrument()
    import openai  # only now: the hook patches it

    client = openai.OpenAI(base_url=os.environ["FAKE_URL"], api_key="sk-test-key", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    from openai.resources.chat.completions import completions
    print(json.dumps({
        "names": names,
        "imported_by_instrument": imported_by_instrument,
        "imported_at_exit": [name for name in SDKS if name in sys.modules],
        "spans": [span.name for span in spans.get_finished_spans()],
        "create": type(vars(completions.Completions)["create"]).__name__,
    }))
    """
).replace("import os, sys", "import json, os, sys")


def run_lazy_app(fake: FakeProvider, tmp_path: Path, **env: str) -> dict[str, Any]:
    app = tmp_path / "lazy_app.py"
    app.write_text(LAZY_APP)
    environment = {**os.environ, "FAKE_URL": fake.base_url("openai"), **env}
    result = subprocess.run(
        [sys.executable, str(app), ",".join(SDK_MODULES)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


@pytest.mark.slow
def test_instrument_imports_no_sdk_and_patches_each_when_the_app_imports_it(
    fake: FakeProvider, tmp_path: Path
) -> None:
    report = run_lazy_app(fake, tmp_path)
    installed = {name for name, entry in REGISTRY.items() if tokentrace._installed(entry.package)}
    assert "openai" in installed and set(report["names"]) == installed
    assert report["imported_by_instrument"] == []
    # The app imported openai, which patched it (one span), and nothing else was pulled in.
    assert report["create"] == "FunctionWrapper"
    assert report["spans"] == ["chat gpt-4o-mini"]
    assert "anthropic" not in report["imported_at_exit"] and "google.genai" not in report["imported_at_exit"]


@pytest.mark.slow
def test_uninstrument_cancels_the_patches_waiting_for_an_import(fake: FakeProvider, tmp_path: Path) -> None:
    report = run_lazy_app(fake, tmp_path, UNINSTRUMENT_FIRST="1")
    assert report["create"] == "function"
    assert report["spans"] == []


@pytest.mark.slow
def test_opentelemetry_instrument_imports_no_sdk_the_app_does_not(tmp_path: Path) -> None:
    app = tmp_path / "noop.py"
    app.write_text("import sys\nprint(','.join(n for n in sys.argv[1].split(',') if n in sys.modules))\n")
    watched = [name for name in SDK_MODULES if name not in ("botocore", "aiobotocore")]
    assert auto_run(str(app), ",".join(watched)).strip() == ""
    # ... and tokentrace's instrumentors were loaded (they are waiting for the imports).
    loaded = auto_run(
        "-c",
        "from tokentrace.instrumentor import INSTRUMENTORS as I\n"
        "print(I['openai']().is_instrumented_by_opentelemetry)",
    )
    assert loaded.strip() == "True"


@pytest.mark.slow
def test_an_sdk_in_a_namespace_package_is_patched_when_its_modules_are_imported() -> None:
    # mistralai 3.x has no __init__: importing the namespace runs no code and fires no import hook,
    # so its targets wait for their own modules.
    pytest.importorskip("mistralai.client")  # the matrix runs this file with openai alone
    script = textwrap.dedent(
        """
        import sys, tokentrace
        assert tokentrace.instrument(["mistralai"]) == ["mistralai"]
        assert "mistralai.client" not in sys.modules
        from mistralai.client import Mistral
        from mistralai.client import chat
        print(type(vars(chat.Chat)["complete"]).__name__)
        tokentrace.uninstrument()
        print(type(vars(chat.Chat)["complete"]).__name__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["FunctionWrapper", "function"]
