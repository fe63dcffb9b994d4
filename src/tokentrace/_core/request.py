"""Readers for request parameters, shared by the adapters whose SDKs take OpenAI-style keyword arguments."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv


def is_given(value: Any) -> bool:
    """False for ``None`` and for SDK "not given" sentinels (``openai.NOT_GIVEN``, ``omit``, ``UNSET``)."""
    if value is None:
        return False
    return type(value).__name__ not in ("NotGiven", "Omit", "Unset", "UnsetType", "_NotGiven")


def as_float(value: Any) -> float | None:
    """A finite number as float; None for anything else (bools, sentinels, strings)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    """An int (not bool) within int64; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        return None
    return value


def as_str(value: Any) -> str | None:
    """A non-empty string, or the string value of an enum member; None otherwise."""
    value = getattr(value, "value", value)
    return value if isinstance(value, str) and value else None


def as_str_list(value: Any) -> tuple[str, ...] | None:
    """A string or a list of strings as a tuple; None otherwise."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def sampling_attributes(
    params: Mapping[str, Any],
    *,
    max_tokens_keys: tuple[str, ...] = ("max_tokens", "max_completion_tokens"),
    stop_key: str = "stop",
    choice_count_key: str = "n",
    top_k_key: str = "top_k",
) -> dict[str, AttributeValue]:
    """The ``gen_ai.request.*`` sampling attributes from OpenAI-style parameters that were given."""
    # Runs on every call: parameters that were not passed (most of them) cost one dict lookup.
    attributes: dict[str, AttributeValue] = {}
    get = params.get
    for key, name in _FLOAT_PARAMETERS:
        value = get(key)
        if value is not None and (number := as_float(value)) is not None:
            attributes[name] = number
    for key in max_tokens_keys:
        value = get(key)
        if value is not None and (max_tokens := as_int(value)) is not None:
            attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
            break
    for key, name in ((top_k_key, semconv.GEN_AI_REQUEST_TOP_K), ("seed", semconv.GEN_AI_REQUEST_SEED)):
        value = get(key)
        if value is not None and (number_int := as_int(value)) is not None:
            attributes[name] = number_int
    value = get(choice_count_key)
    if value is not None and (choices := as_int(value)) is not None and choices != 1:
        attributes[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = choices
    value = get(stop_key)
    if value is not None and (stop := as_str_list(value)) is not None:
        attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stop
    return attributes


_FLOAT_PARAMETERS = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
)
