"""Item 1, bad input: random and malformed payloads never break the caller or become wrong numbers.

Under ``TOKENTRACE_STRICT=1`` the guard re-raises, so calling the readers directly proves they never
raise; every count they produce is None or a non-negative int64, and only where the payload had a
readable count for it (no zero in place of a missing count). End to end, the real SDK receives
malformed usage from the fake provider: the caller's result is what it is without instrumentation,
and the exported attributes and metric points obey the same rules.
"""

from __future__ import annotations

import gc
import importlib
import inspect
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.reliability.cases import (
    EXTRACTORS,
    PROVIDERS,
    STREAMS,
    USAGE_ATTRIBUTES,
    Clients,
    ExtractorCase,
    ProviderCase,
    invocation,
)
from tests.reliability.payloads import (
    INT64_MAX,
    check_usage_values,
    is_count,
    leaves,
    readable,
)
from tests.telemetry import Telemetry
from tokentrace._core.usage import TokenUsage, as_count, count_at, modality_counts, parse_count
from tokentrace._providers import REGISTRY
from tokentrace.testing import FakeProvider

FAST = settings(max_examples=150, deadline=None)
E2E = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- regressions: bugs these tests found in src/ (fixed) ---------------------------------------------


@pytest.mark.parametrize(
    "text", ["\u00b2", "9" * 5000, "\u0662\u0663"], ids=["superscript-two", "5000-digits", "arabic-indic"]
)
def test_parse_count_odd_digit_strings(text: str) -> None:
    """str.isdigit() accepts digits int() refuses, and int() refuses over 4300 digits: no ValueError."""
    assert parse_count(text) is None


@pytest.mark.parametrize("kind", [[], {}], ids=["list", "object"])
def test_responses_event_with_unhashable_type(kind: Any) -> None:
    """An event type that is a list or object must not reach ``in frozenset`` (TypeError)."""
    case = next(case for case in STREAMS if case.id == "openai.ResponsesStreamAccumulator")
    accumulator = case.accumulator(False)
    assert accumulator.on_chunk(case.to_sdk({"type": kind})) is True


@pytest.mark.parametrize(
    "choices",
    [1, True, [{"index": [1], "delta": {"content": "a"}}], [{"index": "b", "delta": {"content": "a"}}]],
    ids=["int", "bool", "list-index", "str-index"],
)
def test_captured_stream_text_with_odd_choices(choices: Any) -> None:
    """Content capture read choices that are not a list, and indexes that are not ints (TypeError)."""
    case = next(case for case in STREAMS if case.id == "openai.CapturingChatStream")
    accumulator = case.accumulator(False)
    accumulator.on_chunk(case.to_sdk({"choices": [{"index": 0, "finish_reason": "stop"}]}))
    accumulator.on_chunk(case.to_sdk({"choices": choices}))
    accumulator.finish(invocation())


# --- the shared count readers every adapter builds on ------------------------------------------------


@FAST
@given(value=leaves(sentinels=(object(),)))
def test_count_readers_never_raise_and_never_invent(value: Any) -> None:
    assert as_count(value) == readable({"v": value}, ("v",))
    assert parse_count(value) == readable({"v": value}, ("v",), text_counts=True)
    assert count_at({"a": {"b": value}}, "a", "b") == readable({"v": value}, ("v",))
    pairs = modality_counts([("TEXT", value), (value, 3)])
    for name, count in pairs:
        assert isinstance(name, str) and is_count(count)


# --- every adapter's usage extractors ----------------------------------------------------------------


def _check_extractor(case: ExtractorCase, payload: Any, given_to_extractor: Any) -> None:
    usage = case.extract(given_to_extractor)
    check_usage_values(usage)
    case.check(usage, payload)


@pytest.mark.parametrize("case", EXTRACTORS)
def test_extractor_on_malformed_mappings(case: ExtractorCase) -> None:
    @FAST
    @given(payload=case.payloads())
    def run(payload: Any) -> None:
        _check_extractor(case, payload, payload)

    run()


@pytest.mark.parametrize("case", [case for case in EXTRACTORS if case.to_sdk is not None])
def test_extractor_on_sdk_objects_built_from_malformed_json(case: ExtractorCase) -> None:
    assert case.to_sdk is not None
    to_sdk = case.to_sdk

    @FAST
    @given(payload=case.payloads(json_only=True))
    def run(payload: Any) -> None:
        # The SDK coerces some values while building (False -> 0 for an int field): what it hands
        # the application is what was sent.
        built = to_sdk(payload)
        _check_extractor(case, built, built)

    run()


@pytest.mark.parametrize("case", EXTRACTORS)
@pytest.mark.parametrize("missing", [None, {}, [], "", 0, -1, True])
def test_extractor_on_absent_usage_records_nothing(case: ExtractorCase, missing: Any) -> None:
    usage = case.extract(missing)
    assert usage is None or usage.is_empty


# --- every adapter's stream accumulators -------------------------------------------------------------


STREAM_PARAMS = [pytest.param(case, False, id=case.id) for case in STREAMS] + [
    # The usage chunk tokentrace asked for itself (and hides): only where an adapter injects the request.
    pytest.param(case, True, id=f"{case.id}-injected")
    for case in STREAMS
    if case.can_hide
]


@pytest.mark.parametrize(("case", "hide"), STREAM_PARAMS)
def test_stream_accumulator_on_malformed_chunks(case: Any, hide: bool) -> None:

    @FAST
    @given(chunks=st.lists(case.chunk_json, max_size=6))
    def run(chunks: list[Any]) -> None:
        accumulator = case.accumulator(hide)
        built = [case.to_sdk(chunk) for chunk in chunks]
        for chunk, sdk_chunk in zip(chunks, built, strict=True):
            visible = accumulator.on_chunk(sdk_chunk)
            assert visible in (True, False)
            if visible is False:
                # Only a chunk tokentrace itself caused may be hidden from the caller.
                assert hide and case.hideable(chunk), chunk
        target = invocation()
        accumulator.finish(target)
        check_usage_values(target.usage)
        assert target.response_id is None or isinstance(target.response_id, str)
        assert target.response_model is None or isinstance(target.response_model, str)
        reasons = target.finish_reasons
        assert reasons is None or (isinstance(reasons, list) and all(isinstance(r, str) for r in reasons))
        usages = [case.usage_of(chunk) for chunk in built]
        # A count may only come from some chunk that carried it.
        for name, paths in case.usage.sources.items():
            got = None if target.usage is None else getattr(target.usage, name)
            if got is not None:
                assert any(readable(u, path) is not None for u in usages for path in paths), (name, got)
        if case.merge == "last":
            carried = [u for u in usages if u is not None]
            if carried:
                case.usage.check(target.usage, carried[-1])
            else:
                assert target.usage is None

    run()


# --- end to end: malformed usage JSON from the fake provider into the real SDK ----------------------


@pytest.mark.parametrize("case", [case for case in PROVIDERS if case.fuzz_usage_end_to_end])
def test_malformed_usage_end_to_end(
    case: ProviderCase,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_exporter: InMemorySpanExporter,
) -> None:
    instrument(case.provider)
    recorded = {"input": 0, "output": 0}
    clients = Clients(case, fake.base_url(case.base))

    @E2E
    @given(payload=case.usage.payloads(json_only=True), stream=st.booleans(), is_async=st.booleans())
    def run(payload: Any, stream: bool, is_async: bool) -> None:
        span_exporter.clear()
        with suppress_instrumentation():
            fake.enqueue(case.route, {"usage": payload})
            plain = clients.outcome(stream=stream, is_async=is_async)
        assert telemetry.spans() == []
        fake.enqueue(case.route, {"usage": payload})
        traced = clients.outcome(stream=stream, is_async=is_async)
        assert traced == plain
        if isinstance(traced, tuple):
            gc.collect()  # the SDK raised while the caller read the stream: it was abandoned
        (span,) = telemetry.spans()
        attributes = dict(span.attributes or {})
        for key, value in attributes.items():
            if key.startswith("gen_ai.usage."):
                assert is_count(value), (key, value)
        if not (isinstance(plain, tuple) and plain[0] == "raised"):
            sent = payload if case.usage.to_sdk is None else case.usage.to_sdk(payload)
            case.usage.check_attributes(
                attributes, sent, bools_may_count=stream and case.stream_events_validated
            )
        for kind in recorded:
            if USAGE_ATTRIBUTES[kind] in attributes:
                recorded[kind] += 1

    try:
        run()
    finally:
        clients.close()
    usage_points = telemetry.points("gen_ai.client.token.usage")
    for point in usage_points:
        assert point.min >= 0 and point.max <= INT64_MAX
    counts = telemetry.token_usage()
    # One token point per call that reported that count, none for the others.
    assert {kind: counts.get(kind, (0, 0))[1] for kind in recorded} == recorded


# --- every extract_* of every adapter, discovered: nothing an adapter reads may make it raise --------

# Every key any adapter reads usage from, so random payloads reach deep into each reader.
ANY_USAGE_KEYS = sorted(
    {
        *["prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens"],
        *["cache_read_input_tokens", "cache_creation_input_tokens", "cache_write_input_tokens"],
        *["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens", "thinking_tokens", "reasoning_tokens"],
        *["cached_tokens", "cache_write_tokens", "audio_tokens", "text_tokens", "image_tokens"],
        *["prompt_token_count", "candidates_token_count", "thoughts_token_count", "total_token_count"],
        *["cached_content_token_count", "tool_use_prompt_token_count", "token_count", "modality"],
        *["inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens", "totalTokens"],
        *["inputTokenCount", "outputTokenCount", "cacheReadInputTokenCount", "cacheWriteInputTokenCount"],
        *["inputTextTokenCount", "totalOutputTextTokenCount", "tokenCount", "generation_token_count"],
        *["x-amzn-bedrock-input-token-count", "x-amzn-bedrock-output-token-count"],
        *["x-amzn-bedrock-cache-read-input-token-count", "x-amzn-bedrock-cache-write-input-token-count"],
        *["cache_read", "cache_creation", "reasoning", "audio", "iterations", "type", "billed_units"],
    }
)
_NESTING_KEYS = sorted(
    {
        *["usage", "usage_metadata", "token_usage", "prompt_tokens_details", "completion_tokens_details"],
        *["input_tokens_details", "output_tokens_details", "cache_creation", "input_token_details"],
        *["output_token_details", "candidates_tokens_details", "cache_tokens_details", "metadata"],
        *["invocationMetrics", "amazon-bedrock-invocationMetrics", "response_metadata", "message"],
        *["tool_use_prompt_tokens_details", "compaction", "meta", "tokens_info", "llm_output"],
    }
)


def _any_payloads() -> st.SearchStrategy[Any]:
    leaf = leaves(sentinels=(object(),))
    counts = st.dictionaries(st.sampled_from(ANY_USAGE_KEYS), leaf, max_size=6)
    return st.recursive(
        st.one_of(counts, leaf),
        lambda inner: st.one_of(
            st.dictionaries(st.sampled_from(_NESTING_KEYS + ANY_USAGE_KEYS), inner, max_size=4),
            st.lists(inner, max_size=3),
        ),
        max_leaves=20,
    )


def _discovered_extractors() -> list[Any]:
    params = []
    for name, entry in sorted(REGISTRY.items()):
        try:
            module = importlib.import_module(entry.adapter_module)
        except ImportError:
            continue
        for attribute, function in sorted(vars(module).items()):
            if attribute.startswith("extract_") and inspect.isfunction(function):
                params.append(pytest.param(function, id=f"{name}.{attribute}"))
    return params


def _check_any_result(result: Any) -> None:
    if isinstance(result, TokenUsage):
        check_usage_values(result)
    elif isinstance(result, bool) or result is None or isinstance(result, str):
        return
    elif isinstance(result, int):
        assert is_count(result), result
    elif isinstance(result, (tuple, list)):
        for item in result:
            _check_any_result(item)
    elif isinstance(result, dict):
        for value in result.values():
            _check_any_result(value)


@pytest.mark.parametrize("extract", _discovered_extractors())
def test_every_discovered_extractor_on_arbitrary_payloads(extract: Any) -> None:
    arity = sum(
        1
        for parameter in inspect.signature(extract).parameters.values()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )

    @settings(max_examples=80, deadline=None)
    @given(payloads=st.lists(_any_payloads(), min_size=arity, max_size=arity))
    def run(payloads: list[Any]) -> None:
        _check_any_result(extract(*payloads))

    run()
