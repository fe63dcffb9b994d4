"""Known workloads: real SDK calls, instrumented by tokentrace, against the fake provider.

Usage is scripted here, in the test, so every expected token count below is exact.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from anthropic import Anthropic
from openai import InternalServerError, OpenAI

from tokentrace.testing import FakeProvider

# One chat call: 1217 prompt tokens of which 1152 were cached, 9 completion tokens.
CHAT_USAGE = {
    "prompt_tokens": 1217,
    "completion_tokens": 9,
    "total_tokens": 1226,
    "prompt_tokens_details": {"cached_tokens": 1152},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
# One Responses call to a reasoning model: 128 of the 151 output tokens are reasoning.
RESPONSES_USAGE = {
    "input_tokens": 14,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 151,
    "output_tokens_details": {"reasoning_tokens": 128},
    "total_tokens": 165,
}
CHAT_MODEL = "gpt-4o-mini"
REASONING_MODEL = "o4-mini"
MESSAGES = [{"role": "user", "content": "Say hello"}]
STREAM_CHUNK_DELAY = 0.03  # seconds between streamed chunks (11 chunks: about 0.3 s per stream)


@dataclass(frozen=True, slots=True)
class Totals:
    """What one round of the workload adds for one (provider, request model)."""

    calls: int
    errors: int
    streams: int
    input: int
    output: int
    cache_read: int
    # None: the provider never reports it, so no series exists.
    reasoning: int | None
    cache_write: int | None = None
    # Per successful call: (input tokens, output tokens), for the tokens-per-call histogram.
    per_call: tuple[tuple[int, int], ...] = ()

    def scaled(self, rounds: int) -> Totals:
        """The same workload repeated ``rounds`` times."""
        return Totals(
            calls=self.calls * rounds,
            errors=self.errors * rounds,
            streams=self.streams * rounds,
            input=self.input * rounds,
            output=self.output * rounds,
            cache_read=self.cache_read * rounds,
            reasoning=None if self.reasoning is None else self.reasoning * rounds,
            cache_write=None if self.cache_write is None else self.cache_write * rounds,
            per_call=self.per_call * rounds,
        )


# One round of openai_round(): keyed by (gen_ai.provider.name, gen_ai.request.model).
OPENAI_ROUND: dict[tuple[str, str], Totals] = {
    ("openai", CHAT_MODEL): Totals(
        calls=4,  # 2 plain + 1 streamed + 1 failing with HTTP 500
        errors=1,
        streams=1,
        input=3 * 1217,
        output=3 * 9,
        cache_read=3 * 1152,
        reasoning=0,
        per_call=((1217, 9),) * 3,
    ),
    ("openai", REASONING_MODEL): Totals(
        calls=1, errors=0, streams=0, input=14, output=151, cache_read=0, reasoning=128, per_call=((14, 151),)
    ),
}
OPENAI_ERROR_TYPE = "InternalServerError"

# One Anthropic call with prompt caching: 100 uncached input tokens, 200 written to the cache,
# 1000 read from it. tokentrace's input count includes both cache parts (semconv).
ANTHROPIC_USAGE = {
    "input_tokens": 100,
    "cache_creation_input_tokens": 200,
    "cache_read_input_tokens": 1000,
    "output_tokens": 50,
}
ANTHROPIC_MODEL = "claude-haiku-4-5"
ANTHROPIC_ROUND: dict[tuple[str, str], Totals] = {
    ("anthropic", ANTHROPIC_MODEL): Totals(
        calls=1,
        errors=0,
        streams=0,
        input=1300,
        output=50,
        cache_read=1000,
        cache_write=200,
        reasoning=None,
        per_call=((1300, 50),),
    ),
}


def openai_client(fake: FakeProvider) -> OpenAI:
    """The real OpenAI client, pointed at the fake provider, without retries."""
    return OpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0)


def openai_round(fake: FakeProvider, client: OpenAI) -> None:
    """Two chat calls, one streamed chat call, one Responses call, one chat call failing with 500.

    The stream's chunks come ``STREAM_CHUNK_DELAY`` apart, so durations fill more than one bucket.
    """
    streamed = {"usage": CHAT_USAGE, "chunk_delay": STREAM_CHUNK_DELAY}
    fake.enqueue("openai.chat", {"usage": CHAT_USAGE}, {"usage": CHAT_USAGE}, streamed)
    for _ in range(2):
        client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    stream = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    for _ in stream:
        pass
    fake.enqueue("openai.responses", {"usage": RESPONSES_USAGE})
    client.responses.create(model=REASONING_MODEL, input="Capital of France?")
    fake.enqueue("openai.chat", {"error": 500})
    with pytest.raises(InternalServerError):
        client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)


def anthropic_client(fake: FakeProvider) -> Anthropic:
    """The real Anthropic client, pointed at the fake provider, without retries."""
    return Anthropic(base_url=fake.base_url("anthropic"), api_key="test", max_retries=0)


def anthropic_round(fake: FakeProvider, client: Anthropic) -> None:
    """One messages call that reads and writes the prompt cache."""
    fake.enqueue("anthropic.messages", {"usage": ANTHROPIC_USAGE})
    client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)


# --- one plain call per provider, for "every provider present" -------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One non-streamed call through a provider's real SDK, with the fake's default usage."""

    provider: str  # tokentrace.instrument() name
    provider_name: str  # gen_ai.provider.name it must emit
    route_module: str  # the fake provider's module for this SDK
    call: Callable[[FakeProvider], None]


def _call_openai(fake: FakeProvider) -> None:
    openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)


def _call_anthropic(fake: FakeProvider) -> None:
    from anthropic import Anthropic

    client = Anthropic(base_url=fake.base_url("anthropic"), api_key="test", max_retries=0)
    client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES)


def _call_google_genai(fake: FakeProvider) -> None:
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key="test", http_options=types.HttpOptions(base_url=fake.base_url("google_genai"))
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="Say hello")


def _call_bedrock(fake: FakeProvider) -> None:
    import boto3

    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=fake.base_url("bedrock"),
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.converse(
        modelId="anthropic.claude-haiku-4-5-20251001-v1:0",
        messages=[{"role": "user", "content": [{"text": "Say hello"}]}],
    )


def _call_mistralai(fake: FakeProvider) -> None:
    from mistralai.client import Mistral

    client = Mistral(api_key="test", server_url=fake.base_url("mistralai"))
    client.chat.complete(model="mistral-small-latest", messages=MESSAGES)


def _call_groq(fake: FakeProvider) -> None:
    from groq import Groq

    client = Groq(base_url=fake.base_url("groq"), api_key="test", max_retries=0)
    client.chat.completions.create(model="llama-3.3-70b-versatile", messages=MESSAGES)


def _call_together(fake: FakeProvider) -> None:
    from together import Together

    with Together(api_key="test", base_url=fake.base_url("together"), max_retries=0) as client:
        client.chat.completions.create(model="meta-llama/Llama-3.3-70B-Instruct-Turbo", messages=MESSAGES)


def _call_fireworks(fake: FakeProvider) -> None:
    from fireworks import Fireworks

    with Fireworks(api_key="test", base_url=fake.base_url("fireworks"), max_retries=0) as client:
        client.chat.completions.create(
            model="accounts/fireworks/models/llama-v3p3-70b-instruct", messages=MESSAGES
        )


PROVIDER_CALLS = (
    ProviderCall("openai", "openai", "tokentrace.testing.openai", _call_openai),
    ProviderCall("anthropic", "anthropic", "tokentrace.testing.anthropic", _call_anthropic),
    ProviderCall("google_genai", "gcp.gemini", "tokentrace.testing.google_genai", _call_google_genai),
    ProviderCall("bedrock", "aws.bedrock", "tokentrace.testing.bedrock", _call_bedrock),
    ProviderCall("mistralai", "mistral_ai", "tokentrace.testing.mistral", _call_mistralai),
    ProviderCall("groq", "groq", "tokentrace.testing.groq", _call_groq),
    ProviderCall("together", "together", "tokentrace.testing.together", _call_together),
    ProviderCall("fireworks", "fireworks", "tokentrace.testing.fireworks", _call_fireworks),
)


def missing_piece(call: ProviderCall) -> str | None:
    """Why this provider cannot be exercised here yet (adapter or fake routes absent), or None."""
    from tokentrace._providers import REGISTRY

    entry = REGISTRY.get(call.provider)
    if entry is None:
        return f"tokentrace has no {call.provider} adapter"
    for module, what in ((entry.adapter_module, "adapter"), (call.route_module, "fake provider routes")):
        if importlib.util.find_spec(module) is None:
            return f"{call.provider}: {what} ({module}) not present yet"
    if importlib.util.find_spec(entry.package) is None:
        return f"{call.provider}: SDK {entry.package} not installed"
    return None
