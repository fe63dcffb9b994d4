"""Cost in currency: real SDK calls to the fake provider, priced by genai-prices or by a price file.

Expected amounts are computed here from the per-million-token prices genai-prices publishes for the
model (read from its data in the test) or from the price file the test writes, never by tokentrace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic
from genai_prices import Usage, calc_price, data_snapshot
from google import genai
from google.genai import types
from openai import OpenAI

from tests.export.workload import (
    ANTHROPIC_MODEL,
    ANTHROPIC_USAGE,
    CHAT_MODEL,
    CHAT_USAGE,
    MESSAGES,
    PROVIDER_CALLS,
    REASONING_MODEL,
    RESPONSES_USAGE,
    ProviderCall,
    missing_piece,
)
from tests.telemetry import Telemetry
from tokentrace._core import semconv
from tokentrace._core.cost import GENAI_PRICES_PROVIDERS, PriceFileError, load_price_file, reset_pricers
from tokentrace.testing import FakeProvider
from tokentrace.testing.google_genai import GEMINI_USAGE

MILLION = Decimal(1_000_000)
COST_KEYS = (
    semconv.GEN_AI_USAGE_COST_AMOUNT,
    semconv.GEN_AI_USAGE_COST_CURRENCY,
    semconv.GEN_AI_USAGE_COST_SOURCE,
)


@pytest.fixture(autouse=True)
def cost_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TOKENTRACE_COST", "true")
    monkeypatch.delenv("TOKENTRACE_PRICES_FILE", raising=False)
    reset_pricers()
    yield
    reset_pricers()


def published(provider_id: str, model: str) -> Any:
    """genai-prices' current price record for the model (Decimal USD per million tokens)."""
    _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    return info.get_prices(datetime.now(tz=timezone.utc))


def openai_client(fake: FakeProvider) -> OpenAI:
    return OpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0)


def chat(fake: FakeProvider, model: str = CHAT_MODEL) -> None:
    """One OpenAI chat call of CHAT_USAGE (CHAT_MODEL is answered as its dated version, others as asked)."""
    fake.enqueue(
        "openai.chat", {"usage": CHAT_USAGE} if model == CHAT_MODEL else {"usage": CHAT_USAGE, "model": model}
    )
    openai_client(fake).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]


def claude(fake: FakeProvider, model: str, usage: dict[str, int]) -> None:
    fake.enqueue("anthropic.messages", {"usage": usage})
    Anthropic(base_url=fake.base_url("anthropic"), api_key="test", max_retries=0).messages.create(
        model=model,
        max_tokens=64,
        messages=MESSAGES,  # type: ignore[arg-type]
    )


def per_million(*parts: tuple[int, Decimal]) -> Decimal:
    """The cost of (token count, USD per million tokens) parts."""
    return sum((count * rate for count, rate in parts), Decimal(0)) / MILLION


def assert_cost(telemetry: Telemetry, expected: Decimal) -> None:
    span = telemetry.only_span()
    assert span.attributes is not None
    amount = span.attributes[semconv.GEN_AI_USAGE_COST_AMOUNT]
    assert type(amount) is float
    assert amount == float(expected)
    assert span.attributes[semconv.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert span.attributes[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"
    (point,) = telemetry.points(semconv.GEN_AI_CLIENT_OPERATION_COST)
    assert point.count == 1
    assert point.sum == pytest.approx(float(expected), rel=1e-12)
    assert point.attributes[semconv.GEN_AI_PROVIDER_NAME] == span.attributes[semconv.GEN_AI_PROVIDER_NAME]
    assert telemetry.metric(semconv.GEN_AI_CLIENT_OPERATION_COST).unit == "{USD}"


def assert_unpriced(telemetry: Telemetry) -> None:
    span = telemetry.only_span()
    assert span.attributes is not None
    assert not set(COST_KEYS) & set(span.attributes)
    assert telemetry.points(semconv.GEN_AI_CLIENT_OPERATION_COST) == []
    assert telemetry.points(semconv.GEN_AI_CLIENT_OPERATION_DURATION)  # the call itself was recorded


# --- priced by genai-prices -------------------------------------------------------------------------


def test_chat_with_cached_input_is_priced_at_the_cache_read_rate(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")
    chat(fake)
    price = published("openai", CHAT_MODEL)
    cached = CHAT_USAGE["prompt_tokens_details"]["cached_tokens"]
    uncached = CHAT_USAGE["prompt_tokens"] - cached
    assert price.cache_read_mtok < price.input_mtok  # otherwise this test could not tell them apart
    expected = per_million(
        (uncached, price.input_mtok),
        (cached, price.cache_read_mtok),
        (CHAT_USAGE["completion_tokens"], price.output_mtok),
    )
    assert_cost(telemetry, expected)


def test_reasoning_tokens_are_priced_as_output(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")
    fake.enqueue("openai.responses", {"usage": RESPONSES_USAGE})
    openai_client(fake).responses.create(model=REASONING_MODEL, input="Capital of France?")
    price = published("openai", REASONING_MODEL)
    assert price.output_reasoning_mtok is None  # genai-prices prices o4-mini's reasoning as output
    # 151 output tokens, 128 of them reasoning: all 151 are billed (half the cost is reasoning here).
    expected = per_million(
        (RESPONSES_USAGE["input_tokens"], price.input_mtok),
        (RESPONSES_USAGE["output_tokens"], price.output_mtok),
    )
    assert_cost(telemetry, expected)


def test_anthropic_cache_reads_and_writes_each_at_their_rate(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("anthropic")
    claude(fake, ANTHROPIC_MODEL, ANTHROPIC_USAGE)
    price = published("anthropic", ANTHROPIC_MODEL)
    expected = per_million(
        (ANTHROPIC_USAGE["input_tokens"], price.input_mtok),
        (ANTHROPIC_USAGE["cache_read_input_tokens"], price.cache_read_mtok),
        (ANTHROPIC_USAGE["cache_creation_input_tokens"], price.cache_write_mtok),
        (ANTHROPIC_USAGE["output_tokens"], price.output_mtok),
    )
    assert_cost(telemetry, expected)


def test_gemini_thinking_tokens_are_billed(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    client = genai.Client(
        api_key="test", http_options=types.HttpOptions(base_url=fake.base_url("google_genai"))
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="Say hello")
    price = published("google", "gemini-2.5-flash")
    cached = GEMINI_USAGE["cachedContentTokenCount"]
    output = GEMINI_USAGE["candidatesTokenCount"] + GEMINI_USAGE["thoughtsTokenCount"]
    expected = per_million(
        ((GEMINI_USAGE["promptTokenCount"] - cached), price.input_mtok),
        (cached, price.cache_read_mtok),
        (output, price.output_mtok),
    )
    assert_cost(telemetry, expected)


def test_long_context_takes_the_tier_price(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    model = "claude-sonnet-4-5"
    price = published("anthropic", model)
    (tier,) = price.input_mtok.tiers
    usage = {"input_tokens": tier.start + 1000, "output_tokens": 10}
    instrument("anthropic")
    claude(fake, model, usage)
    (output_tier,) = price.output_mtok.tiers
    assert tier.price > price.input_mtok.base
    expected = per_million((usage["input_tokens"], tier.price), (usage["output_tokens"], output_tier.price))
    assert_cost(telemetry, expected)


@pytest.mark.parametrize(
    "usage",
    [
        {"input_tokens": 1200, "output_tokens": 30},
        {"input_tokens": 1200, "cache_read_tokens": 1024, "output_tokens": 30},
        {"input_tokens": 1300, "cache_read_tokens": 1000, "cache_write_tokens": 200, "output_tokens": 50},
        {"input_tokens": 250_000, "cache_read_tokens": 10_000, "output_tokens": 5},
        {"input_tokens": 10, "output_tokens": 500, "output_reasoning_tokens": 400},
    ],
)
@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-mini"),
        ("openai", "o4-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("anthropic", "claude-sonnet-4-5"),
        ("gcp.gemini", "gemini-2.5-pro"),
        ("aws.bedrock", "anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("mistral_ai", "mistral-small-latest"),
    ],
)
def test_pricer_agrees_with_genai_prices_calc_price(provider: str, model: str, usage: dict[str, int]) -> None:
    """The fast calculation, once checked against the library, keeps giving the library's figure."""
    from tokentrace._core.config import Settings
    from tokentrace._core.cost import pricer_for
    from tokentrace._core.usage import TokenUsage

    pricer = pricer_for(Settings(cost=True))
    assert pricer is not None
    expected = calc_price(Usage(**usage), model, provider_id=GENAI_PRICES_PROVIDERS[provider]).total_price
    normalized = TokenUsage(
        input=usage["input_tokens"],
        output=usage["output_tokens"],
        cache_read=usage.get("cache_read_tokens"),
        cache_write=usage.get("cache_write_tokens"),
        reasoning=usage.get("output_reasoning_tokens"),
    )
    for _ in range(3):  # the first call checks the shape against the library, later ones use the result
        assert pricer.cost(provider, None, model, normalized) == expected


# Which of the providers' usual models genai-prices 0.2.x prices (the demo and workload models).
PRICED_BY_GENAI_PRICES = {
    "openai": True,
    "anthropic": True,
    "google_genai": True,
    "bedrock": True,
    "mistralai": True,
    "groq": True,
    "together": True,
    "fireworks": False,  # genai-prices has no accounts/fireworks/models/llama-v3p3-70b-instruct
}


@pytest.mark.parametrize("call", PROVIDER_CALLS, ids=lambda call: call.provider)
def test_every_provider_is_priced_under_its_own_provider_id(
    call: ProviderCall, instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    reason = missing_piece(call)
    if reason is not None:
        pytest.skip(reason)
    instrument(call.provider)
    call.call(fake)
    span = telemetry.only_span()
    assert span.attributes is not None
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == call.provider_name
    assert call.provider_name in GENAI_PRICES_PROVIDERS
    if PRICED_BY_GENAI_PRICES[call.provider]:
        assert span.attributes[semconv.GEN_AI_USAGE_COST_AMOUNT] > 0
        assert span.attributes[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"
    else:
        assert_unpriced(telemetry)


# --- unpriced, switched off -------------------------------------------------------------------------


def test_unknown_model_gets_no_cost_at_all(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")
    chat(fake, "acme-private-model")
    assert_unpriced(telemetry)


def test_cost_switched_off(
    monkeypatch: pytest.MonkeyPatch, instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    monkeypatch.setenv("TOKENTRACE_COST", "false")
    instrument("openai")
    chat(fake)
    assert_unpriced(telemetry)
    assert semconv.GEN_AI_CLIENT_OPERATION_COST not in telemetry.collect()


def test_token_counting_is_not_priced(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.count_tokens", {"input_tokens": 5000})
    Anthropic(base_url=fake.base_url("anthropic"), api_key="test", max_retries=0).messages.count_tokens(
        model=ANTHROPIC_MODEL,
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    assert_unpriced(telemetry)


def test_failed_call_is_not_priced(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    from openai import InternalServerError

    instrument("openai")
    fake.enqueue("openai.chat", {"error": 500})
    with pytest.raises(InternalServerError):
        openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert_unpriced(telemetry)


# --- the user's price file --------------------------------------------------------------------------


def write_prices(tmp_path: Path, name: str, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / name
    path.write_text(text)
    monkeypatch.setenv("TOKENTRACE_PRICES_FILE", str(path))
    return path


def test_price_file_overrides_genai_prices(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instrument: Callable[..., Any],
    fake: FakeProvider,
    telemetry: Telemetry,
) -> None:
    # A negotiated rate, lower than the list price.
    prices = {"openai": {CHAT_MODEL: {"input": 0.12, "cached_input": 0.03, "output": 0.5}}}
    write_prices(tmp_path, "prices.json", json.dumps(prices), monkeypatch)
    instrument("openai")
    chat(fake)
    # 65 uncached at 0.12, 1152 cached at 0.03, 9 output at 0.5 (USD per million).
    expected = per_million((65, Decimal("0.12")), (1152, Decimal("0.03")), (9, Decimal("0.5")))
    assert expected != Decimal(0)
    assert_cost(telemetry, expected)


def test_yaml_price_file_adds_a_fine_tuned_model(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instrument: Callable[..., Any],
    fake: FakeProvider,
    telemetry: Telemetry,
) -> None:
    model = "ft:gpt-4o-mini:acme::b1"
    write_prices(
        tmp_path,
        "prices.yaml",
        f"openai:\n  {model}:\n    input: 0.3\n    output: 1.2\n",
        monkeypatch,
    )
    instrument("openai")
    chat(fake, model)
    # No cached_input price: cached tokens are billed at the input rate.
    expected = per_million((1217, Decimal("0.3")), (9, Decimal("1.2")))
    assert_cost(telemetry, expected)


def test_price_file_with_cache_write_rate(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instrument: Callable[..., Any],
    fake: FakeProvider,
    telemetry: Telemetry,
) -> None:
    prices = {
        "anthropic": {ANTHROPIC_MODEL: {"input": 1, "cached_input": 0.1, "cache_write": 2, "output": 4}}
    }
    write_prices(tmp_path, "prices.json", json.dumps(prices), monkeypatch)
    instrument("anthropic")
    claude(fake, ANTHROPIC_MODEL, ANTHROPIC_USAGE)
    expected = per_million((100, Decimal(1)), (1000, Decimal("0.1")), (200, Decimal(2)), (50, Decimal(4)))
    assert_cost(telemetry, expected)


def test_unusable_price_file_disables_cost_rather_than_mixing_prices(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instrument: Callable[..., Any],
    fake: FakeProvider,
    telemetry: Telemetry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_prices(tmp_path, "prices.json", json.dumps({"openai": {CHAT_MODEL: {"input": 1}}}), monkeypatch)
    instrument("openai")
    chat(fake)
    assert_unpriced(telemetry)
    assert "price file is unusable" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected a mapping"),
        ('{"openai": {"m": {"input": 1}}}', "'output'"),
        ('{"openai": {"m": {"input": 1, "output": -2}}}', "non-negative"),
        ('{"openai": {"m": {"input": 1, "output": "cheap"}}}', "must be a number"),
        ('{"openai": {"m": {"input": 1, "output": 2, "cached": 1}}}', "unknown field"),
        ('{"openai": {"m": {"input": true, "output": 2}}}', "must be a number"),
        ("{not json", "prices.json"),
    ],
)
def test_price_file_errors_name_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(PriceFileError, match=message):
        load_price_file(str(path))


def test_price_file_values_are_exact_decimals(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"openai": {"GPT-X": {"input": 0.1, "output": 0.3, "cache_write": 0.125}}}')
    (price,) = load_price_file(str(path)).items()
    assert price[0] == ("openai", "gpt-x")  # model names match regardless of case
    assert price[1].input == Decimal("0.1") and price[1].cache_write == Decimal("0.125")
