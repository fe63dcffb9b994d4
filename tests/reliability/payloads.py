"""Hypothesis strategies for malformed provider payloads, and the oracle of what is readable in them.

A payload follows a provider's schema loosely: every known key may be missing, hold a wrong value
(``None``, a negative, a count larger than int64, a string, a float, a bool, a list, an SDK sentinel)
or a nested object where a count belongs; unknown keys appear next to known ones. The oracle
``readable`` answers what tokentrace may record from such a payload: a count is readable only where
the payload holds a non-negative integer within int64 (or, where the provider sends counts as text,
a decimal string), so every recorded count can be traced back to a value the provider really sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from tokentrace._core.usage import TokenUsage

INT64_MAX = 2**63 - 1

# A schema: known key -> sub-schema (an object) or None (a count or other scalar).
Schema = Mapping[str, "Schema | None"]

_EDGE_INTS = [0, 1, -1, 7, INT64_MAX, INT64_MAX + 1, 2**64, -(2**63), 10**30]
_EDGE_FLOATS = [0.0, -0.0, 1.0, 5.0, 2.5, -3.0, 1e30, 2.0**63, 2.0**62, float("inf"), float("nan")]
_EDGE_STRINGS = ["", "12", " 7 ", "-3", "1e3", "0x10", "NaN", "\u0662\u0663", "\u00b2", "9" * 5000]


def leaves(*, json_only: bool = False, sentinels: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """A scalar where a count (or any field) is expected: good counts often, odd values as often."""
    floats = st.floats(allow_nan=not json_only, allow_infinity=not json_only)
    edge_floats = [value for value in _EDGE_FLOATS if not json_only or math.isfinite(value)]
    options: list[st.SearchStrategy[Any]] = [
        st.integers(min_value=0, max_value=5000),
        st.integers(min_value=0, max_value=5000),
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from(_EDGE_INTS),
        floats,
        st.sampled_from(edge_floats),
        st.text(max_size=6),
        st.sampled_from(_EDGE_STRINGS),
        st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
        st.just({}),
    ]
    if sentinels:
        options.append(st.sampled_from(list(sentinels)))
    return st.one_of(options)


def structured(
    schema: Schema, *, json_only: bool = False, sentinels: Sequence[Any] = (), depth: int = 3
) -> st.SearchStrategy[dict[str, Any]]:
    """An object shaped like ``schema`` where any key may be missing, wrong or wrongly nested."""
    leaf = leaves(json_only=json_only, sentinels=sentinels)
    keys = sorted(_all_keys(schema))

    def value_for(sub: Schema | None) -> st.SearchStrategy[Any]:
        if sub is not None and depth > 0:
            return st.one_of(
                structured(sub, json_only=json_only, sentinels=sentinels, depth=depth - 1),
                structured(sub, json_only=json_only, sentinels=sentinels, depth=depth - 1),
                leaf,
            )
        # A count where an object belongs is covered above; here an object where a count belongs.
        return st.one_of(leaf, leaf, leaf, st.dictionaries(st.sampled_from(keys), leaf, max_size=2))

    known = st.fixed_dictionaries({}, optional={key: value_for(sub) for key, sub in schema.items()})
    unknown = st.dictionaries(st.text(min_size=1, max_size=5), leaf, max_size=2)
    return st.builds(lambda good, extra: {**extra, **good}, known, unknown)


def usage_payloads(
    schema: Schema, *, json_only: bool = False, sentinels: Sequence[Any] = ()
) -> st.SearchStrategy[Any]:
    """A usage payload: mostly an object after ``schema``, sometimes not an object at all."""
    return st.one_of(
        structured(schema, json_only=json_only, sentinels=sentinels),
        structured(schema, json_only=json_only, sentinels=sentinels),
        structured(schema, json_only=json_only, sentinels=sentinels),
        leaves(json_only=json_only, sentinels=sentinels),
        st.lists(structured(schema, json_only=json_only, sentinels=sentinels), max_size=2),
    )


def _all_keys(schema: Schema) -> set[str]:
    keys = set(schema)
    for sub in schema.values():
        if sub is not None:
            keys |= _all_keys(sub)
    return keys


# --- the oracle ------------------------------------------------------------------------------------


def value_at(payload: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` in a JSON-like payload or an SDK model, or None where the path does not lead.

    On SDK models only fields the payload set count (``model_fields_set``): a field the SDK filled
    with a default was not sent by the provider.
    """
    node = payload
    for key in path:
        if isinstance(node, Mapping):
            node = node.get(key)
            continue
        fields_set = getattr(node, "model_fields_set", None)
        extra = getattr(node, "model_extra", None) or {}
        if isinstance(extra, Mapping) and key in extra:
            node = extra[key]
            continue
        if not isinstance(fields_set, (set, frozenset)) or key not in fields_set:
            return None
        node = getattr(node, key, None)
    return node


def readable(payload: Any, path: Sequence[str], *, text_counts: bool = False) -> int | None:
    """The count a provider really sent at ``path``, by the strictest reading: None if there is none."""
    value = value_at(payload, path)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= INT64_MAX else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value) if 0 <= value <= INT64_MAX else None
    if text_counts and isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= 19:
            number = int(text)
            return number if number <= INT64_MAX else None
    return None


COUNT_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning")
MODALITY_FIELDS = ("input_modalities", "output_modalities", "cache_read_modalities")


def is_count(value: Any) -> bool:
    """A value an OTLP int attribute or metric point can carry as a token count."""
    return type(value) is int and 0 <= value <= INT64_MAX


def check_usage_values(usage: Any) -> None:
    """Every count None or a non-negative int64; every modality a lower-case name with such a count."""
    if usage is None:
        return
    assert isinstance(usage, TokenUsage), usage
    for name in COUNT_FIELDS:
        value = getattr(usage, name)
        assert value is None or is_count(value), (name, value)
    for name in MODALITY_FIELDS:
        pairs = getattr(usage, name)
        assert isinstance(pairs, tuple), (name, pairs)
        for modality, value in pairs:
            assert isinstance(modality, str) and modality and modality == modality.lower(), (name, modality)
            assert is_count(value), (name, modality, value)
