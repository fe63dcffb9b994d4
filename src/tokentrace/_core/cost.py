"""The cost of a call in currency, from its normalized usage: a user price file first, then genai-prices.

Prices come from the ``genai-prices`` library (``tokentrace[cost]``), offline, from the data it
bundles (its automatic updates are a separate opt-in that tokentrace never switches on), or from a
price file the user names in ``TOKENTRACE_PRICES_FILE`` for negotiated rates and fine-tuned or
self-hosted models. A call neither prices gets no cost at all: never 0, never a guess.

genai-prices takes the total input including cache reads and writes and the total output including
reasoning, which is what ``TokenUsage`` holds (semconv section 1.4), and prices each part at its own
rate. Its general calculation costs ~170 µs a call (it decomposes the usage over its unit lattice),
too much for every call, so the common shape (text input, cache reads and writes, output) is priced
here from the same model price; the first call of each model and shape is priced both ways, and a
model whose result differs is always priced by the library.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.usage import TokenUsage

_log = logging.getLogger("tokentrace")

_MILLION: Final = Decimal(1_000_000)
_ZERO: Final = Decimal(0)
_CACHE_LIMIT: Final = 4096

# gen_ai.provider.name -> genai-prices provider id. Only providers listed here are priced by the
# library, and never by guessing the provider from the model name: the same model name served by a
# proxy or a self-hosted endpoint does not cost what the vendor charges.
GENAI_PRICES_PROVIDERS: Final[Mapping[str, str]] = {
    semconv.PROVIDER_OPENAI: "openai",
    semconv.PROVIDER_AZURE_OPENAI: "azure",
    semconv.PROVIDER_AZURE_AI_INFERENCE: "azure",
    semconv.PROVIDER_ANTHROPIC: "anthropic",
    # genai-prices has one Google provider: Gemini API prices, which Vertex AI charges for Gemini too.
    semconv.PROVIDER_GCP_GEMINI: "google",
    semconv.PROVIDER_GCP_GEN_AI: "google",
    semconv.PROVIDER_GCP_VERTEX_AI: "google",
    semconv.PROVIDER_AWS_BEDROCK: "aws",
    semconv.PROVIDER_MISTRAL_AI: "mistral",
    semconv.PROVIDER_GROQ: "groq",
    semconv.PROVIDER_TOGETHER: "together",
    semconv.PROVIDER_FIREWORKS: "fireworks",
    semconv.PROVIDER_DEEPSEEK: "deepseek",
    semconv.PROVIDER_X_AI: "x-ai",
    semconv.PROVIDER_PERPLEXITY: "perplexity",
    semconv.PROVIDER_OPENROUTER: "openrouter",
}

# Price file fields, USD per million tokens. Cached input and cache writes default to the input rate.
_FILE_FIELDS: Final = ("input", "cached_input", "cache_write", "output")


class PriceFileError(ValueError):
    """The user's price file cannot be read; no cost is recorded rather than a wrong one."""


@dataclass(frozen=True, slots=True)
class FilePrice:
    """One model's prices from the user's file, USD per million tokens."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None

    def cost(self, usage: TokenUsage) -> Decimal:
        """The call's cost: uncached input, cache reads, cache writes and output, each at its rate."""
        cache_read = usage.cache_read or 0
        cache_write = usage.cache_write or 0
        uncached = (usage.input or 0) - cache_read - cache_write
        total = (
            uncached * self.input
            + cache_read * (self.input if self.cached_input is None else self.cached_input)
            + cache_write * (self.input if self.cache_write is None else self.cache_write)
            + (usage.output or 0) * self.output
        )
        return total / _MILLION


def load_price_file(path: str) -> dict[tuple[str, str], FilePrice]:
    """Read a JSON or YAML price file: ``{provider: {model: {input, cached_input, cache_write, output}}}``.

    Providers are ``gen_ai.provider.name`` values; model names are matched without regard to case.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceFileError(f"cannot read {path}: {exc}") from exc
    data: Any
    if file.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise PriceFileError(f"{path}: YAML needs PyYAML (pip install 'tokentrace[cost]')") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PriceFileError(f"{path}: {exc}") from exc
    else:
        try:
            data = json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            raise PriceFileError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise PriceFileError(f"{path}: expected a mapping of provider names to models")
    prices: dict[tuple[str, str], FilePrice] = {}
    for provider, models in data.items():
        if not isinstance(provider, str) or not isinstance(models, dict):
            raise PriceFileError(f"{path}: {provider!r} must map model names to prices")
        for model, fields in models.items():
            prices[(provider, str(model).lower())] = _file_price(f"{path}: {provider}/{model}", fields)
    return prices


def _file_price(where: str, fields: Any) -> FilePrice:
    if not isinstance(fields, dict):
        raise PriceFileError(f"{where}: expected {{input, cached_input, cache_write, output}}")
    unknown = set(fields) - set(_FILE_FIELDS)
    if unknown:
        raise PriceFileError(f"{where}: unknown field(s) {sorted(unknown)}; known: {list(_FILE_FIELDS)}")
    for required in ("input", "output"):
        if required not in fields:
            raise PriceFileError(f"{where}: '{required}' (USD per million tokens) is required")
    values = {name: _price_value(where, name, value) for name, value in fields.items()}
    return FilePrice(**values)


def _price_value(where: str, name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise PriceFileError(f"{where}: {name} must be a number")
    try:
        price = Decimal(str(value))
    except InvalidOperation as exc:
        raise PriceFileError(f"{where}: {name} must be a number") from exc
    if not price.is_finite() or price < 0:
        raise PriceFileError(f"{where}: {name} must be a non-negative number")
    return price


# A model's input, cache-read, cache-write and output rates (Decimal or the library's TieredPrices),
# cache rates defaulting to the input rate as in genai-prices.
_Rates = tuple[Any, Any, Any, Any]


class _Library:
    """genai-prices' bundled data, looked up once per provider and model."""

    def __init__(self) -> None:
        from genai_prices import Usage, data_snapshot
        from genai_prices.types import TieredPrices

        self._usage = Usage
        self._tiered = TieredPrices
        self._snapshot = data_snapshot.get_snapshot()
        self._models: dict[tuple[str, str], Any] = {}  # (provider id, model) -> ModelInfo or None
        # (id of a ModelPrice, usage shape) -> whether the fast calculation matched the library's.
        # The ModelPrice is kept in the value so that its id is not reused while the entry lives.
        self._checked: dict[tuple[int, tuple[Any, ...]], tuple[Any, bool]] = {}
        # id of a ModelPrice -> (the ModelPrice, its four rates or None when they are not plain prices).
        self._rates: dict[int, tuple[Any, _Rates | None]] = {}

    def model(self, provider_id: str, model: str) -> Any:
        key = (provider_id, model)
        if key in self._models:
            return self._models[key]
        try:
            _, info = self._snapshot.find_provider_model(model, None, provider_id, None)
        except LookupError:
            info = None
        if len(self._models) >= _CACHE_LIMIT:
            self._models.clear()
        self._models[key] = info
        return info

    def cost(self, info: Any, usage: TokenUsage) -> Decimal | None:
        # Per call: prices can depend on the date (the library's conditional prices).
        price = info.get_prices(datetime.now(tz=timezone.utc))
        audio = _audio_counts(usage)
        rates = None if audio else self._rates_of(price)
        if rates is None:
            return self._library_cost(price, usage, audio)
        fast, tiers = _fast_cost(rates, usage, self._tiered)
        shape = (tiers, usage.cache_read is not None, usage.cache_write is not None, bool(usage.reasoning))
        checked = self._checked.get((id(price), shape))
        if checked is not None:
            return fast if checked[1] else self._library_cost(price, usage, audio)
        exact = self._library_cost(price, usage, audio)
        if len(self._checked) >= _CACHE_LIMIT:
            self._checked.clear()
        self._checked[(id(price), shape)] = (price, exact == fast)
        return exact

    def _rates_of(self, price: Any) -> _Rates | None:
        """Input, cache-read, cache-write and output rates of a price (read once: its attributes are slow)."""
        cached = self._rates.get(id(price))
        if cached is None:
            base = price.input_mtok
            rates = tuple(
                base if value is None else value
                for value in (base, price.cache_read_mtok, price.cache_write_mtok, price.output_mtok)
            )
            usable = all(value is None or isinstance(value, (Decimal, self._tiered)) for value in rates)
            if len(self._rates) >= _CACHE_LIMIT:
                self._rates.clear()
            cached = self._rates[id(price)] = (price, rates if usable else None)
        return cached[1]

    def _library_cost(self, price: Any, usage: TokenUsage, audio: dict[str, int]) -> Decimal | None:
        counts = {
            "input_tokens": usage.input,
            "output_tokens": usage.output,
            "cache_read_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
            "output_reasoning_tokens": usage.reasoning,
            **audio,
        }
        try:
            result = price.calc_price(self._usage(**{k: v for k, v in counts.items() if v is not None}))
        except ValueError:
            return None  # counts the library finds inconsistent (a part larger than its total)
        total: Decimal = result["total_price"]
        return total


def _audio_counts(usage: TokenUsage) -> dict[str, int]:
    """The audio parts genai-prices prices at their own rates, where the provider reported them."""
    found = {}
    for key, counts in (
        ("input_audio_tokens", usage.input_modalities),
        ("output_audio_tokens", usage.output_modalities),
        ("cache_audio_read_tokens", usage.cache_read_modalities),
    ):
        for modality, value in counts:
            if modality == "audio" and value:
                found[key] = value
    return found


def _fast_cost(rates: _Rates, usage: TokenUsage, tiered: type[Any]) -> tuple[Decimal, tuple[int, ...]]:
    """Uncached input, cache reads, cache writes and output at their rates, and the tiers used."""
    total_input = usage.input or 0
    tiers: list[int] = []
    applicable = []
    for value in rates:
        if value is None:
            applicable.append(_ZERO)
        elif isinstance(value, tiered):
            # The tier is chosen by the call's total input, as genai-prices does: the highest passed.
            steps: list[Any] = value.tiers
            index = next((i for i in range(len(steps), 0, -1) if total_input > steps[i - 1].start), 0)
            tiers.append(index)
            applicable.append(value.base if index == 0 else steps[index - 1].price)
        else:
            applicable.append(value)
    input_rate, cache_read_rate, cache_write_rate, output_rate = applicable
    cache_read = usage.cache_read or 0
    cache_write = usage.cache_write or 0
    total = (
        (total_input - cache_read - cache_write) * input_rate
        + cache_read * cache_read_rate
        + cache_write * cache_write_rate
        + (usage.output or 0) * output_rate
    )
    return total / _MILLION, tuple(tiers)


class Pricer:
    """Prices calls: the user's file first, then genai-prices for the providers it knows."""

    def __init__(self, file_prices: Mapping[tuple[str, str], FilePrice], library: _Library | None) -> None:
        self._file = file_prices
        self._library = library
        self._lock = threading.Lock()

    def cost(
        self, provider: str, response_model: str | None, request_model: str | None, usage: TokenUsage
    ) -> Decimal | None:
        """The call's cost in USD, or None when neither price source knows the model."""
        if usage.input is None:
            return None  # without the input count any figure would be too small
        models = [model.lower() for model in (response_model, request_model) if model]
        if self._file:
            for model in models:
                price = self._file.get((provider, model))
                if price is not None:
                    return price.cost(usage)
        provider_id = GENAI_PRICES_PROVIDERS.get(provider)
        if self._library is None or provider_id is None:
            return None
        with self._lock:  # the library's caches and ours are plain dicts
            for model in models:
                info = self._library.model(provider_id, model)
                if info is not None:
                    return self._library.cost(info, usage)
        return None


def cost_attributes(cost: Decimal) -> dict[str, AttributeValue]:
    """The span attributes of a cost computed here (genai#443: amount as a double, ISO 4217 code)."""
    return {
        semconv.GEN_AI_USAGE_COST_AMOUNT: float(cost),
        semconv.GEN_AI_USAGE_COST_CURRENCY: semconv.CURRENCY_USD,
        semconv.GEN_AI_USAGE_COST_SOURCE: semconv.COST_SOURCE_LOCAL,
    }


_PRICERS: dict[tuple[str | None], Pricer | None] = {}
_PRICERS_LOCK = threading.Lock()


def pricer_for(settings: Settings) -> Pricer | None:
    """The process's pricer for these settings (built once: the library's data takes ~0.5 s to load)."""
    if not settings.cost:
        return None
    key = (settings.prices_file,)
    with _PRICERS_LOCK:
        if key not in _PRICERS:
            _PRICERS[key] = _build(settings.prices_file)
        return _PRICERS[key]


def _build(prices_file: str | None) -> Pricer | None:
    file_prices: dict[tuple[str, str], FilePrice] = {}
    if prices_file:
        try:
            file_prices = load_price_file(prices_file)
        except PriceFileError as exc:
            _log.warning("tokentrace: cost disabled, the price file is unusable: %s", exc)
            return None
    try:
        library: _Library | None = _Library()
    except ImportError:
        library = None
    if library is None and not file_prices:
        return None
    return Pricer(file_prices, library)


def _after_fork() -> None:
    # A fork taken while another thread held a lock must not leave the child locked out.
    global _PRICERS_LOCK
    _PRICERS_LOCK = threading.Lock()
    for pricer in _PRICERS.values():
        if pricer is not None:
            pricer._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def reset_pricers() -> None:
    """Forget built pricers (tests that change the price file or the cost switch)."""
    with _PRICERS_LOCK:
        _PRICERS.clear()
