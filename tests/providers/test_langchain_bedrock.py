"""LangChain adapter through langchain-aws over botocore: LangChain alone, the Bedrock adapter alone, both."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from langchain_aws import ChatBedrock, ChatBedrockConverse

from tests.telemetry import Telemetry
from tokentrace.testing import FakeProvider

CONVERSE_MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
SETUPS = {"langchain": ("langchain",), "bedrock": ("bedrock",), "both": ("langchain", "bedrock")}
# The fake's reference usage: 21 uncached input tokens, 1024 read from the cache, 188 written.
USAGE_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.usage.input_tokens": 1233,
    "gen_ai.usage.output_tokens": 12,
    "gen_ai.usage.cache_read.input_tokens": 1024,
    "gen_ai.usage.cache_write.input_tokens": 188,
}


def runtime_client(fake: FakeProvider) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=fake.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def model_spans(telemetry: Telemetry) -> list[Any]:
    return [span for span in telemetry.spans() if span.name.startswith("chat ")]


def assert_counted_once(telemetry: Telemetry, model: str, calls: int, *, finish_reason: bool = True) -> None:
    spans = model_spans(telemetry)
    assert len(spans) == calls
    for span in spans:
        assert span.name == f"chat {model}"
        assert span.attributes["gen_ai.provider.name"] == "aws.bedrock"
        if finish_reason:
            assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
        for key, value in USAGE_ATTRIBUTES.items():
            assert span.attributes[key] == value, key
    assert telemetry.token_usage() == {"input": (1233 * calls, calls), "output": (12 * calls, calls)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_write.input_tokens") == 188 * calls


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("path", ["invoke", "stream", "batch"])
def test_converse_tokens_counted_once(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, setup: str, path: str
) -> None:
    instrument(*SETUPS[setup])
    chat = ChatBedrockConverse(model=CONVERSE_MODEL, client=runtime_client(fake), region_name="us-east-1")
    if path == "invoke":
        chat.invoke("Say hello.")
    elif path == "stream":
        for _ in chat.stream("Say hello."):
            pass
    else:
        chat.batch(["one", "two"])
    assert_counted_once(telemetry, CONVERSE_MODEL, 2 if path == "batch" else 1)
    if setup != "langchain":  # Converse has no response id; the Bedrock adapter keeps the request id
        assert all("gen_ai.response.id" in span.attributes for span in model_spans(telemetry))


@pytest.mark.parametrize("setup", list(SETUPS))
def test_legacy_chat_bedrock_tokens_counted_once(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, setup: str
) -> None:
    # ChatBedrock on InvokeModel: the seed's "Bedrock (Anthropic)" integration.
    instrument(*SETUPS[setup])
    chat = ChatBedrock(model_id="anthropic.claude-v2", client=runtime_client(fake), region_name="us-east-1")
    message = chat.invoke("What's the oldest known example of cuneiform")
    assert message.response_metadata["usage"]["prompt_tokens"] == 21
    # The Bedrock adapter alone leaves InvokeModel's body (and its stop_reason) to the application.
    assert_counted_once(telemetry, "anthropic.claude-v2", 1, finish_reason=setup != "bedrock")


async def test_converse_async(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    # langchain-aws has no native async: LangChain runs the sync calls in its executor.
    instrument("langchain", "bedrock")
    chat = ChatBedrockConverse(model=CONVERSE_MODEL, client=runtime_client(fake), region_name="us-east-1")
    await chat.ainvoke("Say hello.")
    async for _ in chat.astream("Say hello."):
        pass
    assert_counted_once(telemetry, CONVERSE_MODEL, 2)
