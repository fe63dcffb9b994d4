"""Item 5, lifecycle: patching comes and goes cleanly, streams end even when abandoned, others coexist.

- instrument/uninstrument 20 times: every wrapped target of every installed provider is exactly the
  original object again after each uninstrument (taken from each adapter's ``targets(settings)``);
- abandoned and half-read streams: the proxy, its invocation and its span are collected (the proxy
  is in no reference cycle: it ends its span as soon as the last reference goes), the span ends once;
- an SDK version missing a method, a module or a class: that target is skipped, the others apply;
- another instrumentation (a plain wrapt wrapper, and the real ``opentelemetry-instrumentation-openai-v2``
  where it is installed) wrapping the same methods first or last: both work, and uninstrumenting
  tokentrace leaves the other one in place.
"""

from __future__ import annotations

import contextvars
import gc
import importlib
import importlib.util
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import wrapt
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

import tokentrace
from tests.reliability.cases import PROVIDERS, ProviderCase, dump
from tests.reliability.conftest import EndCounter
from tests.telemetry import Telemetry
from tokentrace._core.config import Settings
from tokentrace._core.emitter import Emitter, current_invocation
from tokentrace._core.patching import WrapTarget, apply_patches, revert_patches
from tokentrace._core.wrapper import Switch
from tokentrace._providers import REGISTRY
from tokentrace._providers.openai import ChatCompletions
from tokentrace.testing import FakeProvider

_MISSING = object()


def installed_providers() -> list[Any]:
    """Every registry entry whose SDK and adapter are both importable here."""
    params = []
    for name, entry in REGISTRY.items():
        marks = []
        try:
            importlib.import_module(entry.package)
            importlib.import_module(entry.adapter_module)
        except ImportError as exc:
            marks.append(pytest.mark.skip(reason=f"{name}: {exc}"))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def resolved_targets(name: str) -> list[tuple[Any, str]]:
    """(owner, attribute) of every target of ``name``'s adapter that exists in the installed SDK."""
    found = []
    for target in REGISTRY[name].load().targets(Settings()):
        try:
            owner: Any = importlib.import_module(target.module)
            *path, attribute = target.name.split(".")
            for part in path:
                owner = getattr(owner, part)
        except (ImportError, AttributeError):
            continue
        if hasattr(owner, attribute):
            found.append((owner, attribute))
    return found


# --- instrument / uninstrument in a loop -----------------------------------------------------------


@pytest.mark.parametrize("name", installed_providers())
def test_instrument_uninstrument_loop_restores_exact_originals(name: str) -> None:
    targets = resolved_targets(name)
    assert targets, f"{name}: no target of the adapter exists in the installed SDK"
    originals = {(owner, attribute): vars(owner).get(attribute, _MISSING) for owner, attribute in targets}
    try:
        for _ in range(20):
            assert tokentrace.instrument([name]) == [name]
            for (owner, attribute), original in originals.items():
                current = vars(owner).get(attribute, _MISSING)
                assert isinstance(current, wrapt.FunctionWrapper), (owner, attribute)
                # Exactly one layer of ours, around the original: never a wrapper around a wrapper.
                assert current.__wrapped__ is getattr(original, "__func__", original) or (
                    original is _MISSING or current.__wrapped__ is original
                ), (owner, attribute)
            tokentrace.uninstrument()
            for (owner, attribute), original in originals.items():
                assert vars(owner).get(attribute, _MISSING) is original, (owner, attribute)
    finally:
        tokentrace.uninstrument()


@pytest.mark.parametrize("case", PROVIDERS)
def test_calls_while_looping_are_traced_once_and_only_while_instrumented(
    case: ProviderCase,
    fake: FakeProvider,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    telemetry: Telemetry,
) -> None:
    with case.client(fake.base_url(case.base), None) as client:
        try:
            for round_number in range(5):
                tokentrace.instrument(
                    [case.provider], tracer_provider=tracer_provider, meter_provider=meter_provider
                )
                case.create(client, "gpt-4o-mini", False)
                assert len(telemetry.spans()) == round_number + 1
                tokentrace.uninstrument()
                case.create(client, "gpt-4o-mini", False)
                assert len(telemetry.spans()) == round_number + 1
        finally:
            tokentrace.uninstrument()


# --- abandoned and half-read streams ---------------------------------------------------------------


class LiveSpans(SpanProcessor):
    """Weak references to every span started: a dead span means its invocation is gone too."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Any]] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.refs.append(weakref.ref(span))

    def alive(self) -> int:
        return sum(1 for ref in self.refs if ref() is not None)


@pytest.fixture
def live_spans(tracer_provider: TracerProvider) -> LiveSpans:
    spans = LiveSpans()
    tracer_provider.add_span_processor(spans)
    return spans


# Every way to abandon a stream for the first provider, one chunk read for the others (a full
# garbage collection is slow with every SDK imported).
ABANDON = [
    pytest.param(PROVIDERS[0], read, id=f"{PROVIDERS[0].id}-{label}")
    for read, label in ((0, "unread"), (1, "one-chunk"), (3, "half-read"))
] + [pytest.param(case, 1, id=f"{case.id}-one-chunk") for case in PROVIDERS[1:]]


@pytest.mark.parametrize(("case", "read"), ABANDON)
def test_abandoned_sync_stream_ends_and_is_collected(
    case: ProviderCase,
    read: int,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
) -> None:
    instrument(case.provider)
    with case.client(fake.base_url(case.base), None) as client:
        stream = case.create(client, "gpt-4o-mini", True)
        for _ in range(read):
            next(stream)
        proxy = weakref.ref(stream)
        span = weakref.ref(stream._self_invocation.span)
        # The invocation holds its context: once the context is gone, so is the invocation.
        context = weakref.ref(stream._self_invocation.context)
        assert telemetry.spans() == []
        gc.disable()
        try:
            del stream
            # No reference cycle holds the proxy: the span ends the moment the stream is dropped.
            assert proxy() is None
            assert len(telemetry.spans()) == 1
        finally:
            gc.enable()
        gc.collect()
        assert span() is None and context() is None
    assert current_invocation() is None
    (ended,) = telemetry.spans()
    assert ended.end_time is not None and span_ends.ends[ended.context.span_id] == 1
    assert "error.type" not in (ended.attributes or {})
    assert sum(point.count for point in telemetry.points("gen_ai.client.operation.duration")) == 1


@pytest.mark.parametrize(("case", "read"), ABANDON)
async def test_abandoned_async_stream_ends_and_is_collected(
    case: ProviderCase,
    read: int,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
) -> None:
    instrument(case.provider)
    async with case.async_client(fake.base_url(case.base), None) as client:
        stream = await case.acreate(client, "gpt-4o-mini", True)
        for _ in range(read):
            await stream.__anext__()
        proxy = weakref.ref(stream)
        span = weakref.ref(stream._self_invocation.span)
        context = weakref.ref(stream._self_invocation.context)
        del stream
        assert proxy() is None
        assert len(telemetry.spans()) == 1
    # The SDK's pending connection tasks were created while the call's context was current, and keep
    # that context (with the invocation in it) until the client closes them.
    gc.collect()
    assert span() is None and context() is None
    (ended,) = telemetry.spans()
    assert span_ends.ends[ended.context.span_id] == 1


@pytest.mark.parametrize("case", PROVIDERS)
def test_completed_calls_leave_nothing_behind(
    case: ProviderCase, fake: FakeProvider, instrument: Any, telemetry: Telemetry, live_spans: LiveSpans
) -> None:
    instrument(case.provider)
    with case.client(fake.base_url(case.base), None) as client:
        for stream in (False, True, False, True):
            result = case.create(client, "gpt-4o-mini", stream)
            if stream:
                list(result)
            del result
    gc.collect()
    assert len(live_spans.refs) == 4
    assert live_spans.alive() == 0
    assert len(telemetry.spans()) == 4


# --- SDK versions without a method -----------------------------------------------------------------


def test_missing_targets_are_skipped_and_the_others_applied(
    fake: FakeProvider, tracer_provider: TracerProvider, meter_provider: MeterProvider, telemetry: Telemetry
) -> None:
    import openai
    from openai.resources.chat.completions import completions as chat_module

    endpoint = ChatCompletions("openai.chat", Settings())
    module = "openai.resources.chat.completions.completions"
    original = vars(chat_module.Completions)["create"]
    targets = [
        WrapTarget(module, "Completions.create_in_a_future_version", endpoint),
        WrapTarget("openai.resources.no_such_module", "Completions.create", endpoint),
        WrapTarget(module, "NoSuchClass.create", endpoint),
        WrapTarget(module, "Completions.create", endpoint),
    ]
    switch = Switch()
    patches = apply_patches(targets, Emitter(tracer_provider, meter_provider, Settings()), switch)
    try:
        assert [(patch.owner, patch.attribute) for patch in patches] == [(chat_module.Completions, "create")]
        assert not hasattr(chat_module.Completions, "create_in_a_future_version")
        client = openai.OpenAI(base_url=fake.base_url("openai"), api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert len(telemetry.spans()) == 1
    finally:
        switch.active = False
        revert_patches(patches)
    assert vars(chat_module.Completions)["create"] is original


def test_sdk_version_without_a_wrapped_method(
    fake: FakeProvider,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    telemetry: Telemetry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An older SDK without ``parse``: instrumenting still works and puts everything else back."""
    import openai
    from openai.resources.chat.completions import completions as chat_module

    monkeypatch.delattr(chat_module.Completions, "parse")
    monkeypatch.delattr(chat_module.AsyncCompletions, "parse")
    original = vars(chat_module.Completions)["create"]
    try:
        tokentrace.instrument(["openai"], tracer_provider=tracer_provider, meter_provider=meter_provider)
        assert "parse" not in vars(chat_module.Completions)
        client = openai.OpenAI(base_url=fake.base_url("openai"), api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert len(telemetry.spans()) == 1
    finally:
        tokentrace.uninstrument()
    assert vars(chat_module.Completions)["create"] is original
    assert "parse" not in vars(chat_module.Completions)


# --- other instrumentations on the same methods ----------------------------------------------------


class OtherInstrumentation:
    """A third-party wrapt wrapper on every target of a provider, counting the calls it sees."""

    def __init__(self, targets: list[tuple[Any, str]]) -> None:
        self.calls = 0
        self.targets = targets
        self.originals = {
            (owner, attribute): vars(owner).get(attribute, _MISSING) for owner, attribute in targets
        }
        self.wrappers: dict[tuple[Any, str], Any] = {}

    def wrap(self) -> None:
        def counting(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            self.calls += 1
            return wrapped(*args, **kwargs)

        for owner, attribute in self.targets:
            wrapt.wrap_function_wrapper(owner, attribute, counting)
            self.wrappers[(owner, attribute)] = vars(owner)[attribute]

    def restore(self) -> None:
        for (owner, attribute), original in self.originals.items():
            if original is _MISSING:
                if attribute in vars(owner):
                    delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)


@pytest.fixture
def other_instrumentation() -> Iterator[Callable[[str], OtherInstrumentation]]:
    made: list[OtherInstrumentation] = []

    def make(name: str) -> OtherInstrumentation:
        # Methods only: anthropic's adapter also replaces the SDK's own span hook (a module function),
        # which by design does not call through.
        other = OtherInstrumentation(
            [(owner, attr) for owner, attr in resolved_targets(name) if isinstance(owner, type)]
        )
        made.append(other)
        return other

    yield make
    tokentrace.uninstrument()
    for other in made:
        other.restore()


@pytest.mark.parametrize("case", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_another_instrumentation_wrapping_first(
    case: ProviderCase,
    stream: bool,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    other_instrumentation: Callable[[str], OtherInstrumentation],
) -> None:
    other = other_instrumentation(case.provider)
    other.wrap()
    instrument(case.provider)
    with case.client(fake.base_url(case.base), None) as client:
        result = case.create(client, "gpt-4o-mini", stream)
        if stream:
            list(result)
        # One user call may pass several wrapped methods of an SDK (a helper calling create).
        per_call = other.calls
        assert per_call >= 1
        assert len(telemetry.spans()) == 1
        assert (telemetry.spans()[0].attributes or {})["gen_ai.usage.input_tokens"] == case.default_tokens[0]
        tokentrace.uninstrument()
        for key, wrapper in other.wrappers.items():
            assert vars(key[0])[key[1]] is wrapper, key
        result = case.create(client, "gpt-4o-mini", stream)
        if stream:
            list(result)
    assert other.calls == 2 * per_call
    assert len(telemetry.spans()) == 1


@pytest.mark.parametrize("case", PROVIDERS)
def test_another_instrumentation_wrapping_last(
    case: ProviderCase,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    other_instrumentation: Callable[[str], OtherInstrumentation],
) -> None:
    instrument(case.provider)
    other = other_instrumentation(case.provider)
    other.wrap()
    with case.client(fake.base_url(case.base), None) as client:
        case.create(client, "gpt-4o-mini", False)
        per_call = other.calls
        assert per_call >= 1 and len(telemetry.spans()) == 1
        tokentrace.uninstrument()
        # Ours stays inside the other's wrapper, switched off: the other keeps working, alone.
        for key, wrapper in other.wrappers.items():
            assert vars(key[0])[key[1]] is wrapper, key
        case.create(client, "gpt-4o-mini", False)
    assert other.calls == 2 * per_call and len(telemetry.spans()) == 1


# --- the real OpenTelemetry OpenAI instrumentation -------------------------------------------------


@pytest.mark.parametrize("module", ["aiobotocore", "opentelemetry.instrumentation.openai_v2"])
def test_the_coexistence_tests_dependencies_are_installed(module: str) -> None:
    # The aiobotocore and openai-v2 tests skip without them; the test environment must have them.
    assert importlib.util.find_spec(module) is not None, f"{module}: source scripts/_env.sh test"


@pytest.fixture
def openai_v2() -> Any:
    # In the test dependency group (pyproject.toml); opentelemetry-instrument runs in the tests
    # switch its entry point (``openai``) off, so it only instruments where a test asks it to.
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    return OpenAIInstrumentor()


@pytest.mark.parametrize(
    ("order", "stream"),
    [
        pytest.param("v2-first", False, id="plain-v2-first"),
        pytest.param("tokentrace-first", False, id="plain-tokentrace-first"),
        pytest.param("v2-first", True, id="stream-v2-first"),
        pytest.param("tokentrace-first", True, id="stream-tokentrace-first"),
    ],
)
def test_real_openai_v2_instrumentation_alongside(
    order: str,
    stream: bool,
    fake: FakeProvider,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    telemetry: Telemetry,
    openai_v2: Any,
) -> None:
    # v2 attaches its context when a stream starts and detaches when it ends, out of order with
    # tokentrace's attach/detach around the call: run in a context of its own so nothing leaks.
    contextvars.copy_context().run(
        _alongside_v2, order, stream, fake, tracer_provider, meter_provider, telemetry, openai_v2
    )


def _alongside_v2(
    order: str,
    stream: bool,
    fake: FakeProvider,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    telemetry: Telemetry,
    openai_v2: Any,
) -> None:
    import openai
    from openai.resources.chat.completions import completions as chat_module

    original = vars(chat_module.Completions)["create"]
    client = openai.OpenAI(base_url=fake.base_url("openai"), api_key="sk-test", max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=stream)
    expected = [chunk.model_dump() for chunk in plain] if stream else plain.model_dump()

    def ours() -> None:
        tokentrace.instrument(["openai"], tracer_provider=tracer_provider, meter_provider=meter_provider)

    def theirs() -> None:
        openai_v2.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    try:
        for setup in (theirs, ours) if order == "v2-first" else (ours, theirs):
            setup()
        result = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=stream)
        got = [chunk.model_dump() for chunk in result] if stream else result.model_dump()
        spans = telemetry.spans()
        scopes = sorted(span.instrumentation_scope.name for span in spans)
        assert len(spans) == 2 and "tokentrace" in scopes, scopes
        mine = next(span for span in spans if span.instrumentation_scope.name == "tokentrace")
        assert (mine.attributes or {})["gen_ai.usage.input_tokens"] == 1217
        if not stream:
            assert got == expected
        else:
            # tokentrace asks the stream for its usage and hides the extra chunk; v2 sees the chunks
            # tokentrace lets through when it wraps outside, the raw ones when it wraps inside.
            assert [chunk["choices"] for chunk in got if chunk["choices"]] == [
                chunk["choices"] for chunk in expected if chunk["choices"]
            ]
        tokentrace.uninstrument()
        spans_before = len(telemetry.spans())
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        new = telemetry.spans()[spans_before:]
        assert [span.instrumentation_scope.name for span in new] != ["tokentrace"]
        assert all(span.instrumentation_scope.name != "tokentrace" for span in new)
        assert len(new) == 1  # v2 still traces after tokentrace is gone
    finally:
        tokentrace.uninstrument()
        openai_v2.uninstrument()
        # v2's unwrap removes whatever layer is on top; put the true original back whatever happened.
        chat_module.Completions.create = original


class DualProtocolStream:
    """A stream proxy with both protocols, as some instrumentations return (one class for both)."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def __iter__(self) -> DualProtocolStream:
        return self

    def __next__(self) -> Any:
        return next(self.wrapped)

    def __aiter__(self) -> DualProtocolStream:
        return self

    async def __anext__(self) -> Any:
        return await self.wrapped.__anext__()

    def close(self) -> None:
        self.wrapped.close()


@pytest.mark.parametrize("case", PROVIDERS)
def test_dual_protocol_stream_from_another_instrumentation(
    case: ProviderCase, fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    """A sync call's stream that also speaks the async protocol (openai-v2's stream wrapper) got an
    AsyncStreamWrapper: sync reads bypassed tokentrace (leaked the usage chunk, span ended on GC)."""
    targets = resolved_targets(case.provider)
    originals = {(owner, attribute): vars(owner)[attribute] for owner, attribute in targets}

    def dual(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        return DualProtocolStream(result) if kwargs.get("stream") else result

    with case.client(fake.base_url(case.base), None) as client:
        try:
            for owner, attribute in targets:
                wrapt.wrap_function_wrapper(owner, attribute, dual)
            plain = [dump(chunk) for chunk in case.create(client, "gpt-4o-mini", True)]
            instrument(case.provider)
            result = case.create(client, "gpt-4o-mini", True)
            traced = [dump(chunk) for chunk in result]
            # Ended when the stream ended (not when the proxy is dropped), with the stream's usage.
            assert len(telemetry.spans()) == 1
            attributes = telemetry.spans()[0].attributes or {}
            assert attributes.get("gen_ai.usage.input_tokens") == case.default_tokens[0]
            assert traced == plain  # no chunk tokentrace caused reaches the caller
            del result
        finally:
            tokentrace.uninstrument()
            for (owner, attribute), original in originals.items():
                setattr(owner, attribute, original)
