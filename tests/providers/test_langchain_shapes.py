"""LangChain adapter: every integration's usage and metadata shape, through fake chat models and the readers.

The seed is LangChain's "Response metadata" page: each provider's ``response_metadata`` there is
reproduced exactly. Integrations that cannot be installed offline next to the current SDKs
(langchain-groq, langchain-google-genai, langchain-google-vertexai) are covered by chat models that
return their recorded shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from tests.telemetry import Telemetry
from tokentrace._core.usage import TokenUsage
from tokentrace._providers.langchain import (
    extract_finish_reason,
    extract_metadata_usage,
    extract_response_id,
    extract_response_model,
    extract_usage_metadata,
    is_cache_replay,
    provider_name,
)

# --- the seed's response_metadata, verbatim ----------------------------------------------------------

SEED_OPENAI = {
    "token_usage": {"completion_tokens": 164, "prompt_tokens": 17, "total_tokens": 181},
    "model_name": "gpt-4-turbo",
    "system_fingerprint": "fp_76f018034d",
    "finish_reason": "stop",
    "logprobs": None,
}
SEED_ANTHROPIC = {
    "id": "msg_01CzQyD7BX8nkhDNfT1QqvEp",
    "model": "claude-3-sonnet-20240229",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 17, "output_tokens": 296},
}
SEED_VERTEXAI = {
    "is_blocked": False,
    "safety_ratings": [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability_label": "NEGLIGIBLE", "blocked": False},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability_label": "NEGLIGIBLE", "blocked": False},
        {"category": "HARM_CATEGORY_HARASSMENT", "probability_label": "NEGLIGIBLE", "blocked": False},
        {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability_label": "NEGLIGIBLE", "blocked": False},
    ],
    "citation_metadata": None,
    "usage_metadata": {"prompt_token_count": 10, "candidates_token_count": 30, "total_token_count": 40},
}
SEED_BEDROCK = {
    "model_id": "anthropic.claude-v2",
    "usage": {"prompt_tokens": 19, "completion_tokens": 371, "total_tokens": 390},
}
SEED_MISTRAL = {
    "token_usage": {"prompt_tokens": 19, "total_tokens": 141, "completion_tokens": 122},
    "model": "mistral-small",
    "finish_reason": "stop",
}
SEED_GROQ = {
    "token_usage": {
        "completion_time": 0.243,
        "completion_tokens": 132,
        "prompt_time": 0.022,
        "prompt_tokens": 22,
        "queue_time": None,
        "total_time": 0.265,
        "total_tokens": 154,
    },
    "model_name": "mixtral-8x7b-32768",
    "system_fingerprint": "fp_7b44c65f25",
    "finish_reason": "stop",
    "logprobs": None,
}
SEED_TOGETHER = {
    "token_usage": {"completion_tokens": 208, "prompt_tokens": 20, "total_tokens": 228},
    "model_name": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "system_fingerprint": None,
    "finish_reason": "eos",
    "logprobs": None,
}
SEED_FIREWORKS = {
    "token_usage": {"prompt_tokens": 19, "total_tokens": 219, "completion_tokens": 200},
    "model_name": "accounts/fireworks/models/mixtral-8x7b-instruct",
    "system_fingerprint": "",
    "finish_reason": "length",
    "logprobs": None,
}

# (name, ls_provider, response_metadata, provider, usage, response model, finish reason, response id)
SEED_CASES = [
    ("openai", "openai", SEED_OPENAI, "openai", TokenUsage(17, 164), "gpt-4-turbo", "stop", None),
    (
        "anthropic",
        "anthropic",
        SEED_ANTHROPIC,
        "anthropic",
        TokenUsage(17, 296),
        "claude-3-sonnet-20240229",
        "end_turn",
        "msg_01CzQyD7BX8nkhDNfT1QqvEp",
    ),
    ("vertexai", "google_vertexai", SEED_VERTEXAI, "gcp.vertex_ai", TokenUsage(10, 30), None, None, None),
    (
        "bedrock",
        "amazon_bedrock",
        SEED_BEDROCK,
        "aws.bedrock",
        TokenUsage(19, 371),
        "anthropic.claude-v2",
        None,
        None,
    ),
    ("mistral", "mistral", SEED_MISTRAL, "mistral_ai", TokenUsage(19, 122), "mistral-small", "stop", None),
    ("groq", "groq", SEED_GROQ, "groq", TokenUsage(22, 132), "mixtral-8x7b-32768", "stop", None),
    (
        "together",
        "together",
        SEED_TOGETHER,
        "together",
        TokenUsage(20, 208),
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "eos",
        None,
    ),
    (
        "fireworks",
        "fireworks",
        SEED_FIREWORKS,
        "fireworks",
        TokenUsage(19, 200),
        "accounts/fireworks/models/mixtral-8x7b-instruct",
        "length",
        None,
    ),
]


@pytest.mark.parametrize(
    ("metadata", "usage"), [pytest.param(case[2], case[4], id=case[0]) for case in SEED_CASES]
)
def test_seed_response_metadata_usage(metadata: dict[str, Any], usage: TokenUsage) -> None:
    assert extract_metadata_usage(metadata) == usage


@pytest.mark.parametrize(
    ("metadata", "model", "reason", "response_id"),
    [pytest.param(case[2], case[5], case[6], case[7], id=case[0]) for case in SEED_CASES],
)
def test_seed_response_facts(
    metadata: dict[str, Any], model: str | None, reason: str | None, response_id: str | None
) -> None:
    assert extract_response_model(metadata) == model
    assert extract_finish_reason(metadata) == reason
    assert extract_response_id(None, metadata) == response_id


# --- usage_metadata, as each integration fills it ------------------------------------------------


@pytest.mark.parametrize(
    ("usage_metadata", "expected"),
    [
        pytest.param(
            {"input_tokens": 350, "output_tokens": 240, "total_tokens": 590},
            TokenUsage(350, 240),
            id="plain",
        ),
        pytest.param(
            # langchain_core's own UsageMetadata example
            {
                "input_tokens": 350,
                "output_tokens": 240,
                "total_tokens": 590,
                "input_token_details": {"audio": 10, "cache_creation": 200, "cache_read": 100},
                "output_token_details": {"audio": 10, "reasoning": 200},
            },
            TokenUsage(
                350,
                240,
                cache_read=100,
                cache_write=200,
                reasoning=200,
                input_modalities=(("audio", 10),),
                output_modalities=(("audio", 10),),
            ),
            id="core-example",
        ),
        pytest.param(
            # langchain-anthropic invoke with a TTL breakdown (verified): cache_creation moved to 5m/1h
            {
                "input_tokens": 1224,
                "output_tokens": 9,
                "total_tokens": 1233,
                "input_token_details": {
                    "cache_read": 1024,
                    "cache_creation": 0,
                    "ephemeral_5m_input_tokens": 188,
                    "ephemeral_1h_input_tokens": 0,
                },
            },
            TokenUsage(1224, 9, cache_read=1024, cache_write=188),
            id="anthropic-ephemeral",
        ),
        pytest.param(
            # both TTLs used at once
            {
                "input_tokens": 1400,
                "output_tokens": 9,
                "total_tokens": 1409,
                "input_token_details": {
                    "cache_read": 0,
                    "cache_creation": 0,
                    "ephemeral_5m_input_tokens": 300,
                    "ephemeral_1h_input_tokens": 100,
                },
            },
            TokenUsage(1400, 9, cache_read=0, cache_write=400),
            id="anthropic-5m-and-1h",
        ),
        pytest.param(
            # the stream path kept cache_creation next to the breakdown: the same tokens, not twice
            {
                "input_tokens": 1224,
                "output_tokens": 9,
                "total_tokens": 1233,
                "input_token_details": {
                    "cache_read": 1024,
                    "cache_creation": 188,
                    "ephemeral_5m_input_tokens": 188,
                    "ephemeral_1h_input_tokens": 0,
                },
            },
            TokenUsage(1224, 9, cache_read=1024, cache_write=188),
            id="anthropic-stream",
        ),
        pytest.param(
            # langchain-openai, priority tier: details renamed, the tier's own share added
            {
                "input_tokens": 100,
                "output_tokens": 50,
                "total_tokens": 150,
                "input_token_details": {
                    "priority_cache_read": 40,
                    "priority_cache_creation": 8,
                    "priority": 60,
                },
                "output_token_details": {"priority_reasoning": 20, "priority": 30},
            },
            TokenUsage(100, 50, cache_read=40, cache_write=8, reasoning=20),
            id="openai-priority",
        ),
        pytest.param(
            {
                "input_tokens": 100,
                "output_tokens": 50,
                "total_tokens": 150,
                "input_token_details": {"audio": 0, "flex_cache_read": 64, "flex": 36},
                "output_token_details": {"audio": 0, "flex_reasoning": 32, "flex": 18},
            },
            TokenUsage(
                100,
                50,
                cache_read=64,
                reasoning=32,
                input_modalities=(("audio", 0),),
                output_modalities=(("audio", 0),),
            ),
            id="openai-flex",
        ),
        pytest.param(
            # langchain-google-genai: output already includes thoughts, reasoning = thoughts
            {
                "input_tokens": 12,
                "output_tokens": 130,
                "total_tokens": 142,
                "input_token_details": {"cache_read": 0},
                "output_token_details": {"reasoning": 98},
            },
            TokenUsage(12, 130, cache_read=0, reasoning=98),
            id="google-genai",
        ),
        pytest.param(
            # langchain-aws Converse with cacheDetails: the same 5m/1h move as Anthropic
            {
                "input_tokens": 2060,
                "output_tokens": 40,
                "total_tokens": 2100,
                "input_token_details": {
                    "cache_read": 1000,
                    "cache_creation": 0,
                    "ephemeral_5m_input_tokens": 0,
                    "ephemeral_1h_input_tokens": 1050,
                },
            },
            TokenUsage(2060, 40, cache_read=1000, cache_write=1050),
            id="bedrock-converse",
        ),
        pytest.param(
            {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}, TokenUsage(0, 0), id="zeros"
        ),
        pytest.param(None, None, id="none"),
        pytest.param({}, None, id="empty"),
        pytest.param("12 tokens", None, id="not-a-mapping"),
        pytest.param(
            {"input_tokens": -1, "output_tokens": "7", "input_token_details": {"cache_read": True}},
            None,
            id="unusable-counts",
        ),
        pytest.param(
            {"input_tokens": 5, "output_tokens": 2, "input_token_details": None, "output_token_details": []},
            TokenUsage(5, 2),
            id="odd-details",
        ),
    ],
)
def test_extract_usage_metadata(usage_metadata: Any, expected: TokenUsage | None) -> None:
    assert extract_usage_metadata(usage_metadata) == expected


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        pytest.param(
            # langchain-openai today (verified)
            {
                "token_usage": {
                    "completion_tokens": 9,
                    "prompt_tokens": 1217,
                    "total_tokens": 1226,
                    "completion_tokens_details": {"audio_tokens": 0, "reasoning_tokens": 0},
                    "prompt_tokens_details": {
                        "audio_tokens": 0,
                        "cached_tokens": 1152,
                        "cache_write_tokens": None,
                    },
                },
                "model_provider": "openai",
                "model_name": "gpt-4o-mini-2024-07-18",
            },
            TokenUsage(
                1217,
                9,
                cache_read=1152,
                reasoning=0,
                input_modalities=(("audio", 0),),
                output_modalities=(("audio", 0),),
            ),
            id="openai-details",
        ),
        pytest.param(
            # langchain-anthropic today (verified): input excludes the cache on the wire
            {
                "id": "msg_01",
                "model": "claude-haiku-4-5",
                "stop_reason": "end_turn",
                "usage": {
                    "input_tokens": 12,
                    "output_tokens": 9,
                    "cache_creation_input_tokens": 188,
                    "cache_read_input_tokens": 1024,
                    "cache_creation": {"ephemeral_5m_input_tokens": 188, "ephemeral_1h_input_tokens": 0},
                    "server_tool_use": None,
                    "service_tier": "standard",
                },
            },
            TokenUsage(1224, 9, cache_read=1024, cache_write=188),
            id="anthropic-cache",
        ),
        pytest.param(
            {
                "usage": {
                    "input_tokens": 12,
                    "output_tokens": 9,
                    "cache_creation": {"ephemeral_1h_input_tokens": 50},
                }
            },
            TokenUsage(62, 9, cache_write=50),
            id="anthropic-breakdown-only",
        ),
        pytest.param(
            {
                "usage": {
                    "inputTokens": 60,
                    "outputTokens": 40,
                    "cacheReadInputTokens": 1000,
                    "cacheWriteInputTokens": 1000,
                }
            },
            TokenUsage(2060, 40, cache_read=1000, cache_write=1000),
            id="bedrock-converse-camel",
        ),
        pytest.param(
            # langchain-google-vertexai, newer notebook
            {
                "is_blocked": False,
                "usage_metadata": {
                    "prompt_token_count": 10,
                    "candidates_token_count": 55,
                    "total_token_count": 65,
                    "prompt_tokens_details": [{"modality": 1, "token_count": 10}],
                    "cached_content_token_count": 0,
                },
                "finish_reason": "STOP",
                "avg_logprobs": -0.25,
                "model_name": "gemini-2.0-flash-001",
            },
            TokenUsage(10, 55, cache_read=0),
            id="vertexai-newer",
        ),
        pytest.param(
            {
                "usage_metadata": {
                    "prompt_token_count": 10,
                    "candidates_token_count": 30,
                    "thoughts_token_count": 100,
                    "tool_use_prompt_token_count": 5,
                    "cached_content_token_count": 4,
                    "total_token_count": 145,
                }
            },
            TokenUsage(15, 130, cache_read=4, reasoning=100),
            id="vertexai-thoughts",
        ),
        pytest.param(
            {
                "token_usage": {
                    "prompt_tokens": 22,
                    "completion_tokens": 132,
                    "prompt_tokens_details": {"cached_tokens": 20},
                }
            },
            TokenUsage(22, 132, cache_read=20),
            id="groq-cached",
        ),
        pytest.param(
            {"token_usage": {"prompt_tokens": 19}}, TokenUsage(19, None), id="fireworks-no-completion"
        ),
        pytest.param(
            # langchain-aws ChatBedrock on Claude today: prompt_tokens excludes the cache counts
            {
                "usage": {
                    "prompt_tokens": 21,
                    "completion_tokens": 12,
                    "cache_read_input_tokens": 1024,
                    "cache_write_input_tokens": 188,
                    "total_tokens": 1245,
                },
                "stop_reason": "end_turn",
                "model_id": "anthropic.claude-v2",
            },
            TokenUsage(1233, 12, cache_read=1024, cache_write=188),
            id="bedrock-legacy-cache",
        ),
        pytest.param(
            # Google GenAI keeps usage only in usage_metadata of the message
            {
                "prompt_feedback": {"block_reason": 0},
                "finish_reason": "STOP",
                "model_name": "gemini-2.5-flash",
            },
            None,
            id="google-genai-none",
        ),
        pytest.param(
            {
                "ResponseMetadata": {"RequestId": "r-1"},
                "stopReason": "end_turn",
                "metrics": {"latencyMs": [11044]},
            },
            None,
            id="bedrock-converse-none",
        ),
        pytest.param({"token_usage": None, "usage": None}, None, id="nones"),
        pytest.param({"usage": "lots"}, None, id="odd-usage"),
        pytest.param(None, None, id="none"),
        pytest.param(["token_usage"], None, id="not-a-mapping"),
    ],
)
def test_extract_metadata_usage(metadata: Any, expected: TokenUsage | None) -> None:
    assert extract_metadata_usage(metadata) == expected


@pytest.mark.parametrize(
    ("metadata", "generation_info", "reason"),
    [
        ({"finish_reason": "stop"}, None, "stop"),
        ({"stop_reason": "max_tokens"}, None, "max_tokens"),
        ({"stopReason": "end_turn"}, None, "end_turn"),
        ({"finish_reason": "STOP"}, None, "STOP"),
        ({}, {"finish_reason": "length"}, "length"),
        ({"finish_reason": None}, None, None),
        (None, None, None),
    ],
)
def test_extract_finish_reason(metadata: Any, generation_info: Any, reason: str | None) -> None:
    assert extract_finish_reason(metadata, generation_info) == reason


def test_extract_response_id() -> None:
    assert extract_response_id(AIMessage("x", id="chatcmpl-1"), {}) == "chatcmpl-1"
    assert extract_response_id(AIMessage("x", id="lc_run--0193"), {}) is None
    assert extract_response_id(AIMessage("x", id="chatcmpl-1"), {"id": "msg_1"}) == "msg_1"
    assert extract_response_id(None, None) is None


@pytest.mark.parametrize(
    ("ls_provider", "host", "provider"),
    [
        ("openai", "api.openai.com", "openai"),
        ("openai", None, "openai"),
        ("openai", "api.together.xyz", "together"),  # the seed's ChatOpenAI on Together
        ("openai", "127.0.0.1", "openai"),
        ("azure", "my.openai.azure.com", "azure.ai.openai"),
        ("azure_openai", None, "azure.ai.openai"),
        ("azure_ai", None, "azure.ai.inference"),
        ("anthropic", None, "anthropic"),
        ("amazon_bedrock", None, "aws.bedrock"),
        ("bedrock", None, "aws.bedrock"),
        ("bedrock_converse", None, "aws.bedrock"),
        ("anthropic-bedrock", None, "aws.bedrock"),
        ("google_genai", None, "gcp.gen_ai"),
        ("google_vertexai", None, "gcp.vertex_ai"),
        ("vertexai", None, "gcp.vertex_ai"),
        ("google_anthropic_vertex", None, "gcp.vertex_ai"),
        ("google_generativeai", None, "gcp.gemini"),
        ("mistral", None, "mistral_ai"),
        ("mistralai", None, "mistral_ai"),
        ("groq", None, "groq"),
        ("together", None, "together"),
        ("fireworks", None, "fireworks"),
        ("xai", None, "x_ai"),
        ("deepseek", None, "deepseek"),
        ("ollama", None, "ollama"),
        ("Groq", None, "groq"),
        (None, None, "langchain"),
    ],
)
def test_provider_name(ls_provider: str | None, host: str | None, provider: str) -> None:
    assert provider_name(ls_provider, host) == provider


def test_is_cache_replay() -> None:
    assert is_cache_replay({"input_tokens": 3, "output_tokens": 1, "total_tokens": 4, "total_cost": 0})
    assert is_cache_replay({"total_cost": 0})
    assert not is_cache_replay({"input_tokens": 3, "output_tokens": 1, "total_tokens": 4})
    assert not is_cache_replay({"total_cost": 0.0021})
    assert not is_cache_replay(None)


# --- end to end through chat models that return these shapes ------------------------------------


class ShapedChatModel(BaseChatModel):
    """Answers with a given message (and optional ``llm_output``), as the named integration would."""

    provider: str = "fake"
    model_name: str = "fake-model"
    message: AIMessage = AIMessage("Hello!")
    choices: int = 1
    llm_output: dict[str, Any] | None = None
    chunks: list[AIMessageChunk] = []

    @property
    def _llm_type(self) -> str:
        return "shaped"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        params["ls_model_name"] = self.model_name
        return params

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        generations = [ChatGeneration(message=self.message.model_copy()) for _ in range(self.choices)]
        return ChatResult(generations=generations, llm_output=self.llm_output)

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self.chunks:
            yield ChatGenerationChunk(message=chunk.model_copy())


@pytest.mark.parametrize(
    ("ls_provider", "metadata", "provider", "usage", "model", "reason", "response_id"),
    [pytest.param(*case[1:], id=case[0]) for case in SEED_CASES],
)
def test_seed_shapes_end_to_end(
    instrument: Any,
    telemetry: Telemetry,
    ls_provider: str,
    metadata: dict[str, Any],
    provider: str,
    usage: TokenUsage,
    model: str | None,
    reason: str | None,
    response_id: str | None,
) -> None:
    instrument("langchain")
    chat = ShapedChatModel(provider=ls_provider, message=AIMessage("Cuneiform.", response_metadata=metadata))
    chat.invoke("What's the oldest known example of cuneiform")
    span = telemetry.only_span()
    assert span.name == "chat fake-model"
    assert span.attributes["gen_ai.provider.name"] == provider
    assert span.attributes["gen_ai.usage.input_tokens"] == usage.input
    assert span.attributes["gen_ai.usage.output_tokens"] == usage.output
    assert span.attributes.get("gen_ai.response.model") == model
    assert span.attributes.get("gen_ai.response.finish_reasons") == ((reason,) if reason else None)
    assert span.attributes.get("gen_ai.response.id") == response_id
    assert telemetry.token_usage() == {"input": (usage.input, 1), "output": (usage.output, 1)}
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["gen_ai.provider.name"] == provider


def test_usage_metadata_wins_over_response_metadata(instrument: Any, telemetry: Telemetry) -> None:
    instrument("langchain")
    message = AIMessage(
        "hi",
        usage_metadata={"input_tokens": 1224, "output_tokens": 9, "total_tokens": 1233},
        response_metadata={"usage": {"input_tokens": 12, "output_tokens": 9}},
    )
    ShapedChatModel(provider="anthropic", message=message).invoke("hi")
    assert telemetry.token_usage() == {"input": (1224, 1), "output": (9, 1)}


def test_anthropic_ephemeral_cache_end_to_end(instrument: Any, telemetry: Telemetry) -> None:
    instrument("langchain")
    usage = {
        "input_tokens": 1224,
        "output_tokens": 9,
        "total_tokens": 1233,
        "input_token_details": {
            "cache_read": 1024,
            "cache_creation": 0,
            "ephemeral_5m_input_tokens": 188,
            "ephemeral_1h_input_tokens": 0,
        },
    }
    message = AIMessage(
        "hi", usage_metadata=usage, response_metadata={"id": "msg_01", "stop_reason": "end_turn"}
    )
    ShapedChatModel(provider="anthropic", model_name="claude-haiku-4-5", message=message).invoke("hi")
    span = telemetry.only_span()
    expected = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.response.id": "msg_01",
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": 1224,
        "gen_ai.usage.cache_read.input_tokens": 1024,
        "gen_ai.usage.cache_write.input_tokens": 188,
    }
    assert {key: span.attributes.get(key) for key in expected} == expected
    assert "gen_ai.usage.reasoning.output_tokens" not in span.attributes
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_write.input_tokens") == 188
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1024


def test_llm_output_when_messages_carry_nothing(instrument: Any, telemetry: Telemetry) -> None:
    # Two choices: LangChain merges llm_output into a message only when there is one generation.
    instrument("langchain")
    chat = ShapedChatModel(
        provider="mistral",
        message=AIMessage("hi", response_metadata={"finish_reason": "stop"}),
        choices=2,
        llm_output={
            "token_usage": {"prompt_tokens": 19, "completion_tokens": 122, "total_tokens": 141},
            "model": "mistral-small",
        },
    )
    result = chat.generate([[HumanMessage("hi")]])
    assert result.llm_output is not None
    span = telemetry.only_span()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop", "stop")
    assert telemetry.token_usage() == {"input": (19, 1), "output": (122, 1)}


def test_no_usage_anywhere_records_no_tokens(instrument: Any, telemetry: Telemetry) -> None:
    instrument("langchain")
    ShapedChatModel(message=AIMessage("hi")).invoke("hi")
    span = telemetry.only_span()
    assert not [key for key in span.attributes if key.startswith("gen_ai.usage.")]
    assert telemetry.token_usage() == {}
    assert len(telemetry.points("gen_ai.client.operation.duration")) == 1


DELTAS = [
    AIMessageChunk("Hel", response_metadata={"model_provider": "fake"}),
    AIMessageChunk("lo", usage_metadata={"input_tokens": 10, "output_tokens": 0, "total_tokens": 10}),
    AIMessageChunk(
        "!",
        usage_metadata={
            "input_tokens": 0,
            "output_tokens": 5,
            "total_tokens": 5,
            "output_token_details": {"reasoning": 2},
        },
        response_metadata={"finish_reason": "stop", "model_name": "fake-model-001"},
    ),
]


def test_stream_usage_deltas_are_summed(instrument: Any, telemetry: Telemetry) -> None:
    instrument("langchain")
    chunks = list(ShapedChatModel(provider="groq", chunks=DELTAS).stream("hi"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.usage_metadata == {
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "output_token_details": {"reasoning": 2},
    }
    span = telemetry.only_span()
    assert span.attributes["gen_ai.provider.name"] == "groq"
    assert span.attributes["gen_ai.usage.input_tokens"] == 10
    assert span.attributes["gen_ai.usage.output_tokens"] == 5
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 2
    assert span.attributes["gen_ai.response.model"] == "fake-model-001"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert telemetry.token_usage() == {"input": (10, 1), "output": (5, 1)}


async def test_astream_through_the_default_executor_bridge(instrument: Any, telemetry: Telemetry) -> None:
    # No _astream: LangChain runs _stream in a thread per chunk; the context travels with it.
    instrument("langchain")
    chunks = [chunk async for chunk in ShapedChatModel(chunks=DELTAS).astream("hi")]
    assert "".join(str(chunk.content) for chunk in chunks) == "Hello!"
    span = telemetry.only_span()
    assert span.attributes["gen_ai.request.stream"] is True
    assert telemetry.token_usage() == {"input": (10, 1), "output": (5, 1)}


def test_stream_usage_from_metadata_when_chunks_have_no_usage_metadata(
    instrument: Any, telemetry: Telemetry
) -> None:
    instrument("langchain")
    chunks = [
        AIMessageChunk("Hi"),
        AIMessageChunk("", response_metadata={"finish_reason": "stop", **SEED_MISTRAL}),
    ]
    list(ShapedChatModel(provider="mistral", chunks=chunks).stream("hi"))
    assert telemetry.token_usage() == {"input": (19, 1), "output": (122, 1)}


def test_generic_fake_chat_model(instrument: Any, telemetry: Telemetry) -> None:
    instrument("langchain")
    usage = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    chat = GenericFakeChatModel(messages=iter([AIMessage("hi there", usage_metadata=usage)]))
    chat.invoke("hello")
    span = telemetry.only_span()
    assert span.attributes["gen_ai.provider.name"] == "genericfakechatmodel"  # LangChain's class-name default
    assert telemetry.token_usage() == {"input": (7, 1), "output": (3, 1)}


def test_cache_replay_of_a_fake_model(instrument: Any, telemetry: Telemetry) -> None:
    instrument("langchain")
    usage = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    chat = ShapedChatModel(message=AIMessage("hi", usage_metadata=usage), cache=InMemoryCache())
    chat.invoke("hello")
    chat.invoke("hello")
    chat.invoke("hello")
    spans = telemetry.spans()
    assert [span.attributes.get("tokentrace.langchain.cache_hit") for span in spans] == [None, True, True]
    assert telemetry.token_usage() == {"input": (7, 1), "output": (3, 1)}


@pytest.mark.parametrize(
    ("ls_provider", "message", "expected"),
    [
        pytest.param(
            # langchain-google-genai 4.x: usage only in usage_metadata, thoughts already in output
            "google_genai",
            AIMessage(
                "Paris.",
                usage_metadata={
                    "input_tokens": 12,
                    "output_tokens": 130,
                    "total_tokens": 142,
                    "input_token_details": {"cache_read": 4},
                    "output_token_details": {"reasoning": 98},
                },
                response_metadata={
                    "prompt_feedback": {"block_reason": 0, "safety_ratings": []},
                    "finish_reason": "STOP",
                    "model_name": "gemini-2.5-flash",
                    "safety_ratings": [],
                    "model_provider": "google_genai",
                },
            ),
            {
                "gen_ai.provider.name": "gcp.gen_ai",
                "gen_ai.response.model": "gemini-2.5-flash",
                "gen_ai.response.finish_reasons": ("STOP",),
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 130,
                "gen_ai.usage.cache_read.input_tokens": 4,
                "gen_ai.usage.reasoning.output_tokens": 98,
            },
            id="google-genai",
        ),
        pytest.param(
            # langchain-groq 1.x: cached prompt tokens as cache_read
            "groq",
            AIMessage(
                "Hi.",
                usage_metadata={
                    "input_tokens": 22,
                    "output_tokens": 132,
                    "total_tokens": 154,
                    "input_token_details": {"cache_read": 20},
                },
                response_metadata=SEED_GROQ,
            ),
            {
                "gen_ai.provider.name": "groq",
                "gen_ai.response.model": "mixtral-8x7b-32768",
                "gen_ai.response.finish_reasons": ("stop",),
                "gen_ai.usage.input_tokens": 22,
                "gen_ai.usage.output_tokens": 132,
                "gen_ai.usage.cache_read.input_tokens": 20,
            },
            id="groq",
        ),
        pytest.param(
            # langchain-google-vertexai: the seed's metadata next to today's usage_metadata
            "google_vertexai",
            AIMessage(
                "Cuneiform.",
                usage_metadata={"input_tokens": 10, "output_tokens": 30, "total_tokens": 40},
                response_metadata=SEED_VERTEXAI,
            ),
            {
                "gen_ai.provider.name": "gcp.vertex_ai",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 30,
            },
            id="vertexai",
        ),
    ],
)
def test_uninstallable_integrations_end_to_end(
    instrument: Any, telemetry: Telemetry, ls_provider: str, message: AIMessage, expected: dict[str, Any]
) -> None:
    instrument("langchain")
    ShapedChatModel(provider=ls_provider, message=message).invoke("hi")
    span = telemetry.only_span()
    assert {key: span.attributes.get(key) for key in expected} == expected
    assert telemetry.token_usage() == {
        "input": (expected["gen_ai.usage.input_tokens"], 1),
        "output": (expected["gen_ai.usage.output_tokens"], 1),
    }
