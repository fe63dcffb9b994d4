"""Bedrock adapter: real boto3 clients over HTTP to the fake provider, exact telemetry assertions."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.client
import botocore.exceptions
import botocore.session
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

import tokentrace
from tests.telemetry import Telemetry
from tokentrace._core.stream import SyncStreamWrapper
from tokentrace._core.usage import TokenUsage
from tokentrace._providers.bedrock import (
    extract_converse_usage,
    extract_header_usage,
    extract_invocation_metrics_usage,
    extract_invoke_body_usage,
    extract_invoke_finish_reasons,
    invoke_operation_name,
    invoke_request_attributes,
)
from tokentrace.testing import FakeProvider, Reply
from tokentrace.testing.bedrock import CLAUDE_MESSAGE_ID, CLAUDE_MODEL, REQUEST_ID

# CountTokens came to bedrock-runtime in botocore 1.40; its tests skip with older releases.
_OPERATIONS = botocore.session.get_session().get_service_model("bedrock-runtime").operation_names
needs_count_tokens = pytest.mark.skipif(
    "CountTokens" not in _OPERATIONS,
    reason=f"botocore {botocore.__version__} has no bedrock-runtime CountTokens",
)

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
MESSAGES: list[Any] = [{"role": "user", "content": [{"text": "Say hello."}]}]
CLAUDE_BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": []})
SEED_BODY = json.dumps({"prompt": "\n\nHuman: What's the oldest known example of cuneiform\n\nAssistant:"})
# The reference example: 21 fresh input tokens, 1024 read from the cache, 188 written to it.
CACHED_USAGE = {
    "gen_ai.usage.input_tokens": 1233,
    "gen_ai.usage.output_tokens": 12,
    "gen_ai.usage.cache_read.input_tokens": 1024,
    "gen_ai.usage.cache_write.input_tokens": 188,
}
USAGE_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
)


def client(fake: FakeProvider, **config: Any) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=fake.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        # ``{"max_attempts": 1}`` still retries once in botocore's default (legacy) retry mode.
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


def assert_attributes(span: Any, expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        assert key in span.attributes, key
        actual = span.attributes[key]
        assert actual == value, (key, actual, value)
        assert type(actual) is type(value), (key, type(actual), type(value))


def common(fake: FakeProvider, operation: str = "chat", model: str = CLAUDE) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": model,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }


def stable(result: dict[str, Any]) -> dict[str, Any]:
    """A botocore result without what differs between two identical calls (the Date header)."""
    copy = json.loads(json.dumps(result, default=repr))
    copy["ResponseMetadata"]["HTTPHeaders"].pop("date", None)
    return copy


def plain_duration_point(telemetry: Telemetry) -> Any:
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.count == 1
    return point


# --- pure normalizers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(
            {
                "inputTokens": 21,
                "outputTokens": 12,
                "totalTokens": 1245,
                "cacheReadInputTokens": 1024,
                "cacheWriteInputTokens": 188,
            },
            TokenUsage(input=1233, output=12, cache_read=1024, cache_write=188),
            id="reference-cache-read-and-write",
        ),
        pytest.param(
            {"inputTokens": 19, "outputTokens": 371, "totalTokens": 390},
            TokenUsage(input=19, output=371),
            id="seed-chatbedrock-claude-v2",
        ),
        pytest.param(
            {"inputTokens": 5, "outputTokens": 2, "cacheReadInputTokens": 0},
            TokenUsage(input=5, output=2, cache_read=0),
            id="zero-cache-read-kept",
        ),
        pytest.param(
            {"outputTokens": 2, "cacheReadInputTokens": 100},
            TokenUsage(output=2, cache_read=100),
            id="no-input-count-stays-unknown",
        ),
        pytest.param({"inputTokens": "5", "outputTokens": -1}, TokenUsage(), id="malformed"),
        pytest.param(None, None, id="none"),
        pytest.param([1, 2], None, id="not-a-mapping"),
    ],
)
def test_extract_converse_usage(usage: Any, expected: TokenUsage | None) -> None:
    assert extract_converse_usage(usage) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            {
                "x-amzn-bedrock-input-token-count": "21",
                "x-amzn-bedrock-output-token-count": "12",
                "x-amzn-bedrock-cache-read-input-token-count": "1024",
                "x-amzn-bedrock-cache-write-input-token-count": "188",
            },
            TokenUsage(input=1233, output=12, cache_read=1024, cache_write=188),
            id="with-cache",
        ),
        pytest.param(
            {"x-amzn-bedrock-input-token-count": "19", "x-amzn-bedrock-output-token-count": "371"},
            TokenUsage(input=19, output=371),
            id="seed-chatbedrock-claude-v2",
        ),
        pytest.param(
            {"x-amzn-bedrock-input-token-count": "8", "x-amzn-bedrock-output-token-count": "0"},
            TokenUsage(input=8, output=0),
            id="embeddings",
        ),
        pytest.param({"x-amzn-bedrock-cache-read-input-token-count": "5"}, None, id="cache-only"),
        pytest.param({"x-amzn-bedrock-input-token-count": "n/a"}, None, id="not-a-number"),
        pytest.param({"content-type": "application/json"}, None, id="absent"),
        pytest.param(None, None, id="none"),
    ],
)
def test_extract_header_usage(headers: Any, expected: TokenUsage | None) -> None:
    assert extract_header_usage(headers) == expected


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        pytest.param(
            {
                "inputTokenCount": 21,
                "outputTokenCount": 12,
                "invocationLatency": 812,
                "firstByteLatency": 356,
                "cacheReadInputTokenCount": 1024,
                "cacheWriteInputTokenCount": 188,
            },
            TokenUsage(input=1233, output=12, cache_read=1024, cache_write=188),
            id="with-cache",
        ),
        pytest.param(
            {"inputTokenCount": 19, "outputTokenCount": 371, "invocationLatency": 2000},
            TokenUsage(input=19, output=371),
            id="seed-chatbedrock-claude-v2",
        ),
        pytest.param({"invocationLatency": 2000}, None, id="no-counts"),
        pytest.param("x", None, id="not-a-mapping"),
    ],
)
def test_extract_invocation_metrics_usage(metrics: Any, expected: TokenUsage | None) -> None:
    assert extract_invocation_metrics_usage(metrics) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {
                "id": "msg_1",
                "stop_reason": "end_turn",
                "usage": {
                    "input_tokens": 21,
                    "cache_creation_input_tokens": 188,
                    "cache_read_input_tokens": 1024,
                    "output_tokens": 12,
                },
            },
            TokenUsage(input=1233, output=12, cache_read=1024, cache_write=188),
            id="claude-messages-cache",
        ),
        pytest.param(
            {"type": "message", "usage": {"input_tokens": 19, "output_tokens": 371}},
            TokenUsage(input=19, output=371),
            id="claude-messages-seed",
        ),
        pytest.param(
            {"type": "message_start", "message": {"usage": {"input_tokens": 19, "output_tokens": 1}}},
            TokenUsage(input=19, output=1),
            id="claude-stream-message-start",
        ),
        pytest.param(
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 371}},
            TokenUsage(output=371),
            id="claude-stream-message-delta",
        ),
        pytest.param(
            {"completion": " Hi", "stop_reason": "stop_sequence", "stop": "\n\nHuman:"},
            None,
            id="claude-v2-text-no-counts",
        ),
        pytest.param(
            {
                "stopReason": "end_turn",
                "usage": {
                    "inputTokens": 21,
                    "outputTokens": 12,
                    "totalTokens": 1245,
                    "cacheReadInputTokenCount": 1024,
                    "cacheWriteInputTokenCount": 188,
                },
            },
            TokenUsage(input=1233, output=12, cache_read=1024, cache_write=188),
            id="nova-cache",
        ),
        pytest.param(
            {"metadata": {"usage": {"inputTokens": 19, "outputTokens": 371}}},
            TokenUsage(input=19, output=371),
            id="nova-stream-metadata",
        ),
        pytest.param(
            {
                "choices": [{"finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": 19,
                    "completion_tokens": 371,
                    "total_tokens": 390,
                    "prompt_tokens_details": {"cached_tokens": 3},
                },
            },
            TokenUsage(input=19, output=371, cache_read=3),
            id="openai-style-seed",
        ),
        pytest.param(
            {"inputTextTokenCount": 19, "results": [{"tokenCount": 371, "completionReason": "FINISH"}]},
            TokenUsage(input=19, output=371),
            id="titan-text",
        ),
        pytest.param(
            {"outputText": "Hi", "totalOutputTextTokenCount": 7, "completionReason": None},
            TokenUsage(output=7),
            id="titan-stream-chunk",
        ),
        pytest.param(
            {"embedding": [0.1, 0.2], "inputTextTokenCount": 8}, TokenUsage(input=8), id="titan-embed"
        ),
        pytest.param(
            {
                "generation": "Hi",
                "prompt_token_count": 19,
                "generation_token_count": 371,
                "stop_reason": "stop",
            },
            TokenUsage(input=19, output=371),
            id="llama",
        ),
        pytest.param({"outputs": [{"text": "Hi", "stop_reason": "stop"}]}, None, id="mistral-no-counts"),
        pytest.param(
            {"response_id": "r", "text": "Hi", "finish_reason": "COMPLETE"}, None, id="cohere-no-counts"
        ),
        pytest.param(
            {"text": "Hi", "meta": {"billed_units": {"input_tokens": 19, "output_tokens": 371}}},
            TokenUsage(input=19, output=371),
            id="cohere-billed-units",
        ),
        pytest.param({"usage": {"input_tokens": "19"}}, None, id="malformed"),
        pytest.param([{"usage": {}}], None, id="not-a-mapping"),
        pytest.param(None, None, id="none"),
    ],
)
def test_extract_invoke_body_usage(body: Any, expected: TokenUsage | None) -> None:
    assert extract_invoke_body_usage(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"stop_reason": "end_turn"}, ["end_turn"], id="claude-llama"),
        pytest.param({"stopReason": "max_tokens"}, ["max_tokens"], id="nova"),
        pytest.param({"finish_reason": "COMPLETE"}, ["COMPLETE"], id="cohere-r"),
        pytest.param(
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}}, ["tool_use"], id="claude-delta"
        ),
        pytest.param({"messageStop": {"stopReason": "end_turn"}}, ["end_turn"], id="nova-stream"),
        pytest.param(
            {"results": [{"completionReason": "FINISH"}, {"completionReason": "LENGTH"}]},
            ["FINISH", "LENGTH"],
            id="titan",
        ),
        pytest.param({"outputs": [{"stop_reason": "length"}, {}]}, ["length", "error"], id="mistral"),
        pytest.param({"choices": [{"finish_reason": "stop"}]}, ["stop"], id="openai-style"),
        pytest.param({"generations": [{"finish_reason": "MAX_TOKENS"}]}, ["MAX_TOKENS"], id="cohere"),
        pytest.param({"stop_reason": None, "outputText": "x"}, None, id="not-yet"),
        pytest.param("end_turn", None, id="not-a-mapping"),
    ],
)
def test_extract_invoke_finish_reasons(body: Any, expected: list[str] | None) -> None:
    assert extract_invoke_finish_reasons(body) == expected


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        (CLAUDE, CLAUDE_BODY, "chat"),
        ("anthropic.claude-v2", SEED_BODY, "text_completion"),
        ("amazon.titan-text-express-v1", '{"inputText": "Hi"}', "text_completion"),
        ("amazon.titan-embed-text-v2:0", '{"inputText": "Hi"}', "embeddings"),
        ("cohere.embed-english-v3", b'{"texts": ["Hi"]}', "embeddings"),
        ("cohere.command-r-v1:0", b'{"message": "Hi"}', "chat"),
        ("meta.llama3-8b-instruct-v1:0", b'{"prompt": "say \\"messages\\""}', "text_completion"),
        ("amazon.nova-lite-v1:0", bytearray(b'{"messages": []}'), "chat"),
        ("some.model", None, "chat"),
    ],
)
def test_invoke_operation_name(model: str, body: Any, expected: str) -> None:
    assert invoke_operation_name(model, body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop_sequences": ["\n"]},
            {
                "gen_ai.request.max_tokens": 64,
                "gen_ai.request.temperature": 0.5,
                "gen_ai.request.top_p": 0.9,
                "gen_ai.request.top_k": 40,
                "gen_ai.request.stop_sequences": ("\n",),
            },
        ),
        ({"max_tokens_to_sample": 300}, {"gen_ai.request.max_tokens": 300}),
        (
            {"max_gen_len": 512, "temperature": 1},
            {"gen_ai.request.max_tokens": 512, "gen_ai.request.temperature": 1.0},
        ),
        (
            {
                "inputText": "Hi",
                "textGenerationConfig": {"maxTokenCount": 20, "topP": 0.5, "stopSequences": ["|"]},
            },
            {
                "gen_ai.request.max_tokens": 20,
                "gen_ai.request.top_p": 0.5,
                "gen_ai.request.stop_sequences": ("|",),
            },
        ),
        (
            {"inferenceConfig": {"max_new_tokens": 10, "topK": 5}},
            {"gen_ai.request.max_tokens": 10, "gen_ai.request.top_k": 5},
        ),
        ({"p": 0.75, "k": 3}, {"gen_ai.request.top_p": 0.75, "gen_ai.request.top_k": 3}),
        ({"max_tokens": "64", "temperature": None}, {}),
        (None, {}),
    ],
)
def test_invoke_request_attributes(body: Any, expected: dict[str, Any]) -> None:
    assert invoke_request_attributes(body) == expected


# --- Converse --------------------------------------------------------------------------------------


def test_converse_span_and_metrics(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("bedrock")
    response = client(fake).converse(
        modelId=CLAUDE,
        messages=MESSAGES,
        inferenceConfig={"maxTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n"]},
        additionalModelRequestFields={"top_k": 40},
        guardrailConfig={"guardrailIdentifier": "gr-1234", "guardrailVersion": "1"},
    )
    assert response["usage"]["inputTokens"] == 21

    span = telemetry.only_span()
    assert span.name == f"chat {CLAUDE}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert_attributes(
        span,
        {
            **common(fake),
            "gen_ai.request.max_tokens": 64,
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.top_k": 40,
            "gen_ai.request.stop_sequences": ("\n",),
            "aws.bedrock.guardrail.id": "gr-1234",
            "gen_ai.response.id": REQUEST_ID,
            "aws.request_id": REQUEST_ID,
            "gen_ai.response.finish_reasons": ("end_turn",),
            **CACHED_USAGE,
        },
    )
    for absent in ("gen_ai.request.stream", "gen_ai.response.model", "gen_ai.usage.reasoning.output_tokens"):
        assert absent not in span.attributes

    assert telemetry.token_usage() == {"input": (1233, 1), "output": (12, 1)}
    assert dict(plain_duration_point(telemetry).attributes) == common(fake)
    assert telemetry.counter_total("gen_ai.client.inference.usage.input_tokens") == 1233
    assert telemetry.counter_total("gen_ai.client.inference.usage.output_tokens") == 12
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1024
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_write.input_tokens") == 188
    assert telemetry.points("gen_ai.client.operation.time_to_first_chunk") == []


def test_converse_seed_usage(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("bedrock")
    fake.enqueue("bedrock.converse", {"usage": {"inputTokens": 19, "outputTokens": 371, "totalTokens": 390}})
    client(fake).converse(modelId="anthropic.claude-v2", messages=MESSAGES)
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 19
    assert span.attributes["gen_ai.usage.output_tokens"] == 371
    assert "gen_ai.usage.cache_read.input_tokens" not in span.attributes
    assert telemetry.token_usage() == {"input": (19, 1), "output": (371, 1)}
    assert telemetry.points("gen_ai.client.inference.usage.cache_read.input_tokens") == []


def test_converse_without_usage_records_no_tokens(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("bedrock")
    fake.enqueue("bedrock.converse", {"usage": None, "stop_reason": "guardrail_intervened"})
    client(fake).converse(modelId=CLAUDE, messages=MESSAGES)
    span = telemetry.only_span()
    assert not set(USAGE_KEYS) & set(span.attributes)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("guardrail_intervened",)
    assert telemetry.token_usage() == {}
    plain_duration_point(telemetry)


def test_converse_result_identical_to_uninstrumented(fake: FakeProvider, instrument: Any) -> None:
    bedrock = client(fake)
    plain = bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
    instrument("bedrock")
    traced = bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
    assert type(traced) is dict
    assert stable(traced) == stable(plain)


def test_client_created_before_instrument_is_traced(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    early = client(fake)
    instrument("bedrock")
    early.converse(modelId=CLAUDE, messages=MESSAGES)
    assert telemetry.only_span().attributes["gen_ai.usage.input_tokens"] == 1233


# --- ConverseStream --------------------------------------------------------------------------------


def test_converse_stream_span_and_metrics(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("bedrock")
    response = client(fake).converse_stream(
        modelId=CLAUDE, messages=MESSAGES, inferenceConfig={"maxTokens": 64}
    )
    assert isinstance(response["stream"], SyncStreamWrapper)
    assert telemetry.spans() == []
    events = list(response["stream"])
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 12

    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert_attributes(
        span,
        {
            **common(fake),
            "gen_ai.request.stream": True,
            "gen_ai.request.max_tokens": 64,
            "gen_ai.response.id": REQUEST_ID,
            "aws.request_id": REQUEST_ID,
            "gen_ai.response.finish_reasons": ("end_turn",),
            **CACHED_USAGE,
        },
    )
    assert isinstance(span.attributes["gen_ai.response.time_to_first_chunk"], float)
    assert telemetry.token_usage() == {"input": (1233, 1), "output": (12, 1)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_write.input_tokens") == 188
    (first_chunk,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert first_chunk.count == 1
    (per_chunk,) = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    assert per_chunk.count == len(events) - 1


def test_converse_stream_events_identical_to_uninstrumented(fake: FakeProvider, instrument: Any) -> None:
    bedrock = client(fake)
    plain = bedrock.converse_stream(modelId=CLAUDE, messages=MESSAGES)
    plain_events = list(plain["stream"])
    instrument("bedrock")
    traced = bedrock.converse_stream(modelId=CLAUDE, messages=MESSAGES)
    assert sorted(traced) == sorted(plain) == ["ResponseMetadata", "stream"]
    assert list(traced["stream"]) == plain_events
    del traced["stream"], plain["stream"]
    assert stable(traced) == stable(plain)


def test_converse_stream_closed_early_ends_span(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("bedrock")
    stream = client(fake).converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    next(iter(stream))
    stream.close()
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert not set(USAGE_KEYS) & set(span.attributes)
    assert telemetry.token_usage() == {}


def test_converse_stream_abandoned_ends_span(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("bedrock")
    response = client(fake).converse_stream(modelId=CLAUDE, messages=MESSAGES)
    next(iter(response["stream"]))
    del response
    gc.collect()
    assert telemetry.only_span().attributes["aws.request_id"] == REQUEST_ID


def test_converse_stream_cut_midway(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("bedrock")
    fake.enqueue("bedrock.converse_stream", {"cut_after": 3})
    stream = client(fake).converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    received = []
    with pytest.raises(Exception) as raised:  # noqa: B017 - whatever urllib3 raises, unchanged
        for event in stream:
            received.append(event)
    assert len(received) == 3
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert not set(USAGE_KEYS) & set(span.attributes)  # ConverseStream's usage only comes last
    assert telemetry.token_usage() == {}


def test_converse_stream_exception_event(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("bedrock")
    fake.enqueue("bedrock.converse_stream", {"stream_error": "throttlingException"})
    stream = client(fake).converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    with pytest.raises(botocore.exceptions.EventStreamError) as raised:
        list(stream)
    assert raised.value.response["Error"]["Code"] == "throttlingException"
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    # A mid-stream error gets the provider's error code, as a failed call does.
    assert span.attributes["error.type"] == "throttlingException"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert telemetry.token_usage() == {}


# --- InvokeModel -----------------------------------------------------------------------------------


def test_invoke_model_usage_from_headers(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("bedrock")
    response = client(fake).invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)
    # The headers had the counts: the one-shot body is the SDK's own, unread.
    assert type(response["body"]) is StreamingBody
    assert not isinstance(response["body"]._raw_stream, __import__("io").BytesIO)
    assert json.loads(response["body"].read())["id"] == CLAUDE_MESSAGE_ID

    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            **common(fake),
            "gen_ai.request.max_tokens": 64,
            "gen_ai.response.id": REQUEST_ID,
            "aws.request_id": REQUEST_ID,
            **CACHED_USAGE,
        },
    )
    assert "gen_ai.response.finish_reasons" not in span.attributes
    assert telemetry.token_usage() == {"input": (1233, 1), "output": (12, 1)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1024


def test_invoke_model_seed_chatbedrock_claude_v2(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    # LangChain's ChatBedrock(model_id="anthropic.claude-v2") calls InvokeModel with a text prompt;
    # its response_metadata usage {'prompt_tokens': 19, 'completion_tokens': 371} comes from these headers.
    instrument("bedrock")
    body = json.dumps(
        {
            "prompt": "\n\nHuman: What's the oldest known example of cuneiform\n\nAssistant:",
            "max_tokens_to_sample": 1024,
        }
    )
    client(fake).invoke_model(modelId="anthropic.claude-v2", body=body)["body"].read()
    span = telemetry.only_span()
    assert span.name == "text_completion anthropic.claude-v2"
    assert_attributes(
        span,
        {
            **common(fake, "text_completion", "anthropic.claude-v2"),
            "gen_ai.request.max_tokens": 1024,
            "gen_ai.usage.input_tokens": 19,
            "gen_ai.usage.output_tokens": 371,
        },
    )
    assert telemetry.token_usage() == {"input": (19, 1), "output": (371, 1)}


FAMILIES = [
    pytest.param(
        CLAUDE,
        CLAUDE_BODY,
        {
            **CACHED_USAGE,
            "gen_ai.response.id": CLAUDE_MESSAGE_ID,
            "gen_ai.response.model": CLAUDE_MODEL,
            "gen_ai.response.finish_reasons": ("end_turn",),
        },
        id="claude",
    ),
    pytest.param(
        "amazon.nova-pro-v1:0",
        '{"messages": [], "inferenceConfig": {"max_new_tokens": 64}}',
        {**CACHED_USAGE, "gen_ai.response.finish_reasons": ("end_turn",), "gen_ai.request.max_tokens": 64},
        id="nova",
    ),
    pytest.param(
        "amazon.titan-text-express-v1",
        '{"inputText": "Hi", "textGenerationConfig": {"maxTokenCount": 64}}',
        {
            "gen_ai.operation.name": "text_completion",
            "gen_ai.usage.input_tokens": 21,
            "gen_ai.usage.output_tokens": 12,
            "gen_ai.response.finish_reasons": ("FINISH",),
        },
        id="titan-text",
    ),
    pytest.param(
        "amazon.titan-embed-text-v2:0",
        '{"inputText": "Hi"}',
        {"gen_ai.operation.name": "embeddings", "gen_ai.usage.input_tokens": 8},
        id="titan-embed",
    ),
    pytest.param(
        "meta.llama3-70b-instruct-v1:0",
        '{"prompt": "Hi", "max_gen_len": 64}',
        {
            "gen_ai.operation.name": "text_completion",
            "gen_ai.usage.input_tokens": 21,
            "gen_ai.usage.output_tokens": 12,
            "gen_ai.response.finish_reasons": ("stop",),
        },
        id="llama",
    ),
    pytest.param(
        "mistral.mistral-large-2402-v1:0",
        '{"prompt": "<s>[INST] Hi [/INST]"}',
        {"gen_ai.operation.name": "text_completion", "gen_ai.response.finish_reasons": ("stop",)},
        id="mistral",
    ),
    pytest.param(
        "cohere.command-r-v1:0",
        '{"message": "Hi"}',
        {
            "gen_ai.response.id": "c4b2e6f0-3a1d-4c5e-8f9a-0b1c2d3e4f5a",
            "gen_ai.response.finish_reasons": ("COMPLETE",),
        },
        id="cohere",
    ),
]


@pytest.mark.parametrize(("model", "request_body", "expected"), FAMILIES)
def test_invoke_model_usage_from_body_without_headers(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: str,
    request_body: str,
    expected: dict[str, Any],
) -> None:
    bedrock = client(fake)
    fake.enqueue("bedrock.invoke", {"token_headers": None})
    plain = bedrock.invoke_model(modelId=model, body=request_body)
    plain_bytes = plain["body"].read()
    instrument("bedrock")
    fake.enqueue("bedrock.invoke", {"token_headers": None})
    traced = bedrock.invoke_model(modelId=model, body=request_body)
    # The body was read for its counts; the caller reads the very same bytes from a StreamingBody.
    assert type(traced["body"]) is StreamingBody
    assert traced["body"].read() == plain_bytes
    assert traced["body"].read() == b""
    del traced["body"], plain["body"]
    assert stable(traced) == stable(plain)

    span = telemetry.only_span()
    assert_attributes(
        span, {**common(fake, expected.get("gen_ai.operation.name", "chat"), model), **expected}
    )
    for key in USAGE_KEYS:
        if key not in expected:
            assert key not in span.attributes, key
    input_tokens = expected.get("gen_ai.usage.input_tokens")
    output_tokens = expected.get("gen_ai.usage.output_tokens")
    wanted = {}
    if input_tokens is not None:
        wanted["input"] = (input_tokens, 1)
    if output_tokens is not None:
        wanted["output"] = (output_tokens, 1)
    assert telemetry.token_usage() == wanted


def test_invoke_model_embeddings_headers_keep_input_only(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("bedrock")
    client(fake).invoke_model(modelId="amazon.titan-embed-text-v2:0", body='{"inputText": "Hi"}')
    span = telemetry.only_span()
    assert span.name == "embeddings amazon.titan-embed-text-v2:0"
    assert span.attributes["gen_ai.usage.input_tokens"] == 8
    assert "gen_ai.usage.output_tokens" not in span.attributes  # the "0" output header is not kept
    assert telemetry.token_usage() == {"input": (8, 1)}


def test_invoke_model_body_chunked_reads_identical(fake: FakeProvider, instrument: Any) -> None:
    bedrock = client(fake)
    fake.enqueue("bedrock.invoke", {"token_headers": None})
    plain = list(bedrock.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)["body"].iter_chunks(chunk_size=7))
    instrument("bedrock")
    fake.enqueue("bedrock.invoke", {"token_headers": None})
    traced = list(bedrock.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)["body"].iter_chunks(chunk_size=7))
    assert traced == plain


def test_invoke_model_non_json_body_untouched(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("bedrock")
    fake.enqueue("bedrock.invoke", {"token_headers": None, "body": b"\x89PNG not json"})
    assert (
        client(fake).invoke_model(modelId="stability.sd3", body=b"{}")["body"].read() == b"\x89PNG not json"
    )
    assert not set(USAGE_KEYS) & set(telemetry.only_span().attributes)


def test_invoke_model_body_read_failure_reaches_caller_unchanged(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    broken = Reply(chunks=[b'{"usage": ', b"{}}"], cut_after=1)
    bedrock = client(fake)
    fake.enqueue("bedrock.invoke", broken)
    with pytest.raises(Exception) as plain:  # noqa: B017 - compared below
        bedrock.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)["body"].read()
    instrument("bedrock")
    fake.enqueue("bedrock.invoke", broken)
    response = bedrock.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)
    with pytest.raises(type(plain.value)):
        response["body"].read()
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET  # the call itself returned
    assert not set(USAGE_KEYS) & set(span.attributes)


# --- InvokeModelWithResponseStream -----------------------------------------------------------------


def test_invoke_model_stream_span_and_metrics(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("bedrock")
    response = client(fake).invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)
    assert isinstance(response["body"], SyncStreamWrapper)
    chunks = list(response["body"])
    assert b"invocationMetrics" in chunks[-1]["chunk"]["bytes"]

    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            **common(fake),
            "gen_ai.request.stream": True,
            "gen_ai.request.max_tokens": 64,
            "gen_ai.response.id": CLAUDE_MESSAGE_ID,
            "gen_ai.response.model": CLAUDE_MODEL,
            "aws.request_id": REQUEST_ID,
            "gen_ai.response.finish_reasons": ("end_turn",),
            **CACHED_USAGE,
        },
    )
    assert telemetry.token_usage() == {"input": (1233, 1), "output": (12, 1)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1024
    (per_chunk,) = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    assert per_chunk.count == len(chunks) - 1


def test_invoke_model_stream_chunks_identical_to_uninstrumented(fake: FakeProvider, instrument: Any) -> None:
    bedrock = client(fake)
    plain = list(bedrock.invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)["body"])
    instrument("bedrock")
    traced = list(bedrock.invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)["body"])
    assert traced == plain


def test_invoke_model_stream_seed_metrics(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("bedrock")
    fake.enqueue(
        "bedrock.invoke_stream",
        {
            "events": [
                {"completion": " The", "stop_reason": None},
                {"completion": ".", "stop_reason": "stop_sequence"},
            ],
            "metrics": {
                "inputTokenCount": 19,
                "outputTokenCount": 371,
                "invocationLatency": 2000,
                "firstByteLatency": 300,
            },
        },
    )
    list(
        client(fake).invoke_model_with_response_stream(modelId="anthropic.claude-v2", body=SEED_BODY)["body"]
    )
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 19
    assert span.attributes["gen_ai.usage.output_tokens"] == 371
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop_sequence",)
    assert span.attributes["gen_ai.response.id"] == REQUEST_ID
    assert telemetry.token_usage() == {"input": (19, 1), "output": (371, 1)}


@pytest.mark.parametrize(
    ("model", "events", "usage", "reasons"),
    [
        pytest.param(
            "amazon.titan-text-express-v1",
            [
                {
                    "outputText": "Hi",
                    "index": 0,
                    "totalOutputTextTokenCount": 3,
                    "completionReason": None,
                    "inputTextTokenCount": 21,
                },
                {
                    "outputText": "!",
                    "index": 0,
                    "totalOutputTextTokenCount": 12,
                    "completionReason": "FINISH",
                },
            ],
            (21, 12),
            ("FINISH",),
            id="titan",
        ),
        pytest.param(
            "meta.llama3-8b-instruct-v1:0",
            [
                {
                    "generation": "Hi",
                    "prompt_token_count": 21,
                    "generation_token_count": 1,
                    "stop_reason": None,
                },
                {
                    "generation": "!",
                    "prompt_token_count": None,
                    "generation_token_count": 12,
                    "stop_reason": "stop",
                },
            ],
            (21, 12),
            ("stop",),
            id="llama",
        ),
        pytest.param(
            "amazon.nova-lite-v1:0",
            [
                {"messageStart": {"role": "assistant"}},
                {"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}},
                {"messageStop": {"stopReason": "end_turn"}},
                {"metadata": {"usage": {"inputTokens": 21, "outputTokens": 12}}},
            ],
            (21, 12),
            ("end_turn",),
            id="nova",
        ),
        pytest.param(
            "mistral.mistral-7b-instruct-v0:2",
            [
                {"outputs": [{"text": "Hi", "stop_reason": None}]},
                {"outputs": [{"text": "!", "stop_reason": "stop"}]},
            ],
            None,
            ("stop",),
            id="mistral-no-counts",
        ),
    ],
)
def test_invoke_model_stream_model_counts_without_metrics(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: str,
    events: list[dict[str, Any]],
    usage: tuple[int, int] | None,
    reasons: tuple[str, ...],
) -> None:
    instrument("bedrock")
    fake.enqueue("bedrock.invoke_stream", {"events": events, "metrics": None})
    list(client(fake).invoke_model_with_response_stream(modelId=model, body=b'{"prompt": "Hi"}')["body"])
    span = telemetry.only_span()
    assert span.attributes["gen_ai.response.finish_reasons"] == reasons
    if usage is None:
        assert not set(USAGE_KEYS) & set(span.attributes)
        assert telemetry.token_usage() == {}
    else:
        assert (
            span.attributes["gen_ai.usage.input_tokens"],
            span.attributes["gen_ai.usage.output_tokens"],
        ) == usage
        assert telemetry.token_usage() == {"input": (usage[0], 1), "output": (usage[1], 1)}


def test_invoke_model_stream_cut_keeps_partial_usage(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("bedrock")
    fake.enqueue("bedrock.invoke_stream", {"cut_after": 3})
    body = client(fake).invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)["body"]
    with pytest.raises(Exception) as raised:  # noqa: B017 - whatever urllib3 raises, unchanged
        list(body)
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    # message_start had arrived: Claude's input counts, and its running output count.
    assert_attributes(
        span,
        {
            "gen_ai.usage.input_tokens": 1233,
            "gen_ai.usage.output_tokens": 1,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.cache_write.input_tokens": 188,
            "gen_ai.response.id": CLAUDE_MESSAGE_ID,
        },
    )
    assert telemetry.token_usage() == {"input": (1233, 1), "output": (1, 1)}


# --- CountTokens -----------------------------------------------------------------------------------


@needs_count_tokens
def test_count_tokens_records_no_usage_metrics(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("bedrock")
    fake.enqueue("bedrock.count_tokens", {"input_tokens": 42})
    response = client(fake).count_tokens(modelId=CLAUDE, input={"converse": {"messages": MESSAGES}})
    assert response["inputTokens"] == 42
    span = telemetry.only_span()
    assert span.name == f"count_tokens {CLAUDE}"
    assert_attributes(span, {**common(fake, "count_tokens"), "gen_ai.usage.input_tokens": 42})
    assert telemetry.token_usage() == {}
    assert telemetry.points("gen_ai.client.inference.usage.input_tokens") == []
    assert dict(plain_duration_point(telemetry).attributes) == common(fake, "count_tokens")


# --- errors ----------------------------------------------------------------------------------------

OPERATIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "converse": ("bedrock.converse", lambda c: c.converse(modelId=CLAUDE, messages=MESSAGES)),
    "converse_stream": (
        "bedrock.converse_stream",
        lambda c: c.converse_stream(modelId=CLAUDE, messages=MESSAGES),
    ),
    "invoke_model": ("bedrock.invoke", lambda c: c.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)),
    "invoke_model_with_response_stream": (
        "bedrock.invoke_stream",
        lambda c: c.invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY),
    ),
    "count_tokens": (
        "bedrock.count_tokens",
        lambda c: c.count_tokens(modelId=CLAUDE, input={"converse": {"messages": MESSAGES}}),
    ),
}


@pytest.mark.parametrize(
    "method",
    [pytest.param(name, marks=[needs_count_tokens] if name == "count_tokens" else []) for name in OPERATIONS],
)
@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "ThrottlingException"), (400, "ValidationException"), (500, "InternalServerException")],
)
def test_sdk_error(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, method: str, status: int, code: str
) -> None:
    route, call = OPERATIONS[method]
    bedrock = client(fake)
    fake.enqueue(route, {"error": status})
    with pytest.raises(botocore.exceptions.ClientError) as plain:
        call(bedrock)
    instrument("bedrock")
    fake.enqueue(route, {"error": status})
    with pytest.raises(botocore.exceptions.ClientError) as traced:
        call(bedrock)
    assert type(traced.value) is type(plain.value) is getattr(bedrock.exceptions, code)
    assert str(traced.value) == str(plain.value)

    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == code
    assert not set(USAGE_KEYS) & set(span.attributes)
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == code
    assert telemetry.token_usage() == {}
    assert telemetry.points("gen_ai.client.inference.usage.input_tokens") == []


def test_connection_error_is_named_by_class(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("bedrock")
    unreachable = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        unreachable.converse(modelId=CLAUDE, messages=MESSAGES)
    assert_attributes(telemetry.only_span(), {"error.type": "EndpointConnectionError", "server.port": 9})


# --- what is not traced ----------------------------------------------------------------------------


def control_plane(fake: FakeProvider) -> Any:
    """A ``bedrock`` (not ``bedrock-runtime``) client: the fake answers its calls with a 404."""
    return boto3.client(
        "bedrock",
        region_name="us-east-1",
        endpoint_url=fake.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_other_aws_calls_pass_through(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as plain:
        control_plane(fake).list_foundation_models()
    instrument("bedrock")
    with pytest.raises(botocore.exceptions.ClientError) as traced:
        control_plane(fake).list_foundation_models()
    assert str(traced.value) == str(plain.value)
    # A Bedrock Runtime operation tokentrace does not report passes through too.
    with pytest.raises(botocore.exceptions.ClientError):
        client(fake).apply_guardrail(
            guardrailIdentifier="gr-1",
            guardrailVersion="1",
            source="INPUT",
            content=[{"text": {"text": "Hi"}}],
        )
    assert telemetry.spans() == []
    assert telemetry.points("gen_ai.client.operation.duration") == []


def test_uninstrument_restores_make_api_call(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    original = vars(botocore.client.BaseClient)["_make_api_call"]
    instrument("bedrock")
    assert vars(botocore.client.BaseClient)["_make_api_call"] is not original
    tokentrace.uninstrument()
    assert vars(botocore.client.BaseClient)["_make_api_call"] is original
    client(fake).converse(modelId=CLAUDE, messages=MESSAGES)
    assert telemetry.spans() == []


# --- coexistence with opentelemetry-instrumentation-botocore ---------------------------------------


@pytest.fixture
def botocore_instrumentor(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Iterator[Callable[[], None]]:
    """``BotocoreInstrumentor`` (with its Bedrock extension) on the test's providers, undone after.

    Both wrap ``BaseClient._make_api_call``, and botocore's ``unwrap`` removes whichever wrapper is
    outermost, so the two are undone in the reverse order of instrumentation.
    """
    module = pytest.importorskip("opentelemetry.instrumentation.botocore")
    instrumentor = module.BotocoreInstrumentor()
    tokentrace_inside = []

    def _instrument() -> None:
        tokentrace_inside.append(tokentrace.BedrockInstrumentor().is_instrumented_by_opentelemetry)
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    yield _instrument
    if tokentrace_inside and not tokentrace_inside[0]:
        tokentrace.uninstrument()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def gen_ai_spans(telemetry: Telemetry) -> list[Any]:
    return [span for span in telemetry.spans() if "gen_ai.operation.name" in span.attributes]


def run_every_operation(fake: FakeProvider) -> None:
    bedrock = client(fake)
    bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
    list(bedrock.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
    bedrock.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)["body"].read()
    list(bedrock.invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)["body"])


def test_botocore_instrumentation_alone_reports_bedrock(
    fake: FakeProvider, botocore_instrumentor: Callable[[], None], telemetry: Telemetry
) -> None:
    # The baseline the coexistence tests rely on: on its own it emits GenAI spans and token points.
    botocore_instrumentor()
    client(fake).converse(modelId=CLAUDE, messages=MESSAGES)
    (span,) = gen_ai_spans(telemetry)
    assert span.instrumentation_scope.name == "opentelemetry.instrumentation.botocore.bedrock-runtime"
    assert telemetry.token_usage() == {"input": (21, 1), "output": (12, 1)}


@pytest.mark.parametrize("tokentrace_first", [True, False], ids=["tokentrace-first", "botocore-first"])
def test_coexistence_one_inference_span_and_one_set_of_points(
    fake: FakeProvider,
    instrument: Any,
    botocore_instrumentor: Callable[[], None],
    telemetry: Telemetry,
    tokentrace_first: bool,
) -> None:
    if tokentrace_first:
        instrument("bedrock")
        botocore_instrumentor()
    else:
        botocore_instrumentor()
        instrument("bedrock")
    run_every_operation(fake)

    inference = gen_ai_spans(telemetry)
    assert len(inference) == 4
    assert {span.instrumentation_scope.name for span in inference} == {"tokentrace"}
    for span in inference:
        assert_attributes(span, CACHED_USAGE)
    # botocore's own span of each call stays, as the plain AWS RPC span it makes for any service.
    rpc = [span for span in telemetry.spans() if span.attributes.get("rpc.system") == "aws-api"]
    assert sorted(span.attributes["rpc.method"] for span in rpc) == [
        "Converse",
        "ConverseStream",
        "InvokeModel",
        "InvokeModelWithResponseStream",
    ]
    assert all("gen_ai.usage.input_tokens" not in span.attributes for span in rpc)
    # One span of each pair is the parent of the other: the same trace, nested either way.
    assert len({span.context.trace_id for span in telemetry.spans()}) == 4
    assert telemetry.token_usage() == {"input": (4 * 1233, 4), "output": (4 * 12, 4)}
    assert sum(point.count for point in telemetry.points("gen_ai.client.operation.duration")) == 4


def test_coexistence_keeps_botocore_spans_for_other_services(
    fake: FakeProvider, instrument: Any, botocore_instrumentor: Callable[[], None], telemetry: Telemetry
) -> None:
    botocore_instrumentor()
    instrument("bedrock")
    with pytest.raises(botocore.exceptions.ClientError):
        control_plane(fake).list_foundation_models()
    (span,) = telemetry.spans()
    assert span.name == "Bedrock.ListFoundationModels"
    assert span.attributes["rpc.service"] == "Bedrock"
    assert span.status.status_code is StatusCode.ERROR


def test_coexistence_botocore_reports_again_after_tokentrace_leaves(
    fake: FakeProvider, instrument: Any, botocore_instrumentor: Callable[[], None], telemetry: Telemetry
) -> None:
    botocore_instrumentor()
    instrument("bedrock")
    client(fake).converse(modelId=CLAUDE, messages=MESSAGES)
    tokentrace.uninstrument()
    client(fake).converse(modelId=CLAUDE, messages=MESSAGES)
    scopes = [span.instrumentation_scope.name for span in gen_ai_spans(telemetry)]
    assert scopes == ["tokentrace", "opentelemetry.instrumentation.botocore.bedrock-runtime"]
    assert telemetry.token_usage() == {"input": (1233 + 21, 2), "output": (12 + 12, 2)}


# --- aiobotocore (async) ---------------------------------------------------------------------------


@pytest.fixture
def aio_session() -> Any:
    return pytest.importorskip("aiobotocore.session").get_session()


def aio_client(session: Any, fake: FakeProvider) -> Any:
    return session.create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=fake.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=pytest.importorskip("aiobotocore.config").AioConfig(retries={"total_max_attempts": 1}),
    )


async def test_async_converse(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, aio_session: Any
) -> None:
    async with aio_client(aio_session, fake) as bedrock:
        plain = await bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
        instrument("bedrock")
        traced = await bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
    assert stable(traced) == stable(plain)
    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            **common(fake),
            "gen_ai.response.id": REQUEST_ID,
            "gen_ai.response.finish_reasons": ("end_turn",),
            **CACHED_USAGE,
        },
    )
    assert telemetry.token_usage() == {"input": (1233, 1), "output": (12, 1)}


async def test_async_converse_stream(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, aio_session: Any
) -> None:
    async with aio_client(aio_session, fake) as bedrock:
        plain = [
            event
            async for event in (await bedrock.converse_stream(modelId=CLAUDE, messages=MESSAGES))["stream"]
        ]
        instrument("bedrock")
        response = await bedrock.converse_stream(modelId=CLAUDE, messages=MESSAGES)
        traced = [event async for event in response["stream"]]
    assert traced == plain
    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            **common(fake),
            "gen_ai.request.stream": True,
            "gen_ai.response.finish_reasons": ("end_turn",),
            **CACHED_USAGE,
        },
    )
    assert telemetry.token_usage() == {"input": (1233, 1), "output": (12, 1)}


async def test_async_invoke_model_headers_only(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, aio_session: Any
) -> None:
    async with aio_client(aio_session, fake) as bedrock:
        fake.enqueue("bedrock.invoke", {"token_headers": None})
        plain = await (await bedrock.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY))["body"].read()
        instrument("bedrock")
        response = await bedrock.invoke_model(modelId="anthropic.claude-v2", body=SEED_BODY)
        assert b"completion" in await response["body"].read()
        fake.enqueue("bedrock.invoke", {"token_headers": None})
        # Without count headers the async body (read with ``await``) is left alone: no usage.
        response = await bedrock.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)
        assert await response["body"].read() == plain
    seed, headerless = telemetry.spans()
    assert_attributes(seed, {"gen_ai.usage.input_tokens": 19, "gen_ai.usage.output_tokens": 371})
    assert not set(USAGE_KEYS) & set(headerless.attributes)
    assert telemetry.token_usage() == {"input": (19, 1), "output": (371, 1)}


async def test_async_invoke_model_stream(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, aio_session: Any
) -> None:
    async with aio_client(aio_session, fake) as bedrock:
        response = await bedrock.invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)
        plain = [chunk async for chunk in response["body"]]
        instrument("bedrock")
        response = await bedrock.invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)
        traced = [chunk async for chunk in response["body"]]
    assert traced == plain
    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            **common(fake),
            "gen_ai.request.stream": True,
            "gen_ai.response.id": CLAUDE_MESSAGE_ID,
            "gen_ai.response.finish_reasons": ("end_turn",),
            **CACHED_USAGE,
        },
    )


async def test_async_sdk_error(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, aio_session: Any
) -> None:
    instrument("bedrock")
    async with aio_client(aio_session, fake) as bedrock:
        fake.enqueue("bedrock.converse", {"error": 429})
        with pytest.raises(bedrock.exceptions.ThrottlingException):
            await bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ThrottlingException"
    assert telemetry.token_usage() == {}


async def test_async_coexistence_with_aiobotocore_instrumentation(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    aio_session: Any,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
) -> None:
    module = pytest.importorskip("opentelemetry.instrumentation.botocore")
    aio_instrumentor = module.AiobotocoreInstrumentor()
    aio_instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        instrument("bedrock")
        async with aio_client(aio_session, fake) as bedrock:
            await bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
    finally:
        tokentrace.uninstrument()  # the outer wrapper first: botocore's unwrap removes the outermost
        aio_instrumentor.uninstrument()
    (inference,) = gen_ai_spans(telemetry)
    assert inference.instrumentation_scope.name == "tokentrace"
    assert len(telemetry.spans()) == 2
    assert telemetry.token_usage() == {"input": (1233, 1), "output": (12, 1)}
