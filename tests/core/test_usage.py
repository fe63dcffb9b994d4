from __future__ import annotations

from typing import Any

import pytest

from tokentrace._core.usage import (
    TokenUsage,
    as_count,
    count_at,
    modality_counts,
    parse_count,
    sum_known,
    total_of,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1217, 1217),
        (12.0, 12),
        (12.5, None),
        (-1, None),
        (True, None),
        ("12", None),
        (None, None),
        (float("nan"), None),
        (float("inf"), None),
        (2**63, None),
        (2**63 - 1, 2**63 - 1),
        ([1], None),
    ],
)
def test_as_count_accepts_only_real_counts(value: Any, expected: int | None) -> None:
    assert as_count(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("21", 21), (" 7 ", 7), ("-3", None), ("1e3", None), ("", None)]
)
def test_parse_count_reads_header_strings(value: str, expected: int | None) -> None:
    assert parse_count(value) == expected


def test_total_of_never_turns_a_missing_base_into_a_number() -> None:
    assert total_of(21, 1024, 188) == 1233
    assert total_of(21, None, 188) == 209
    assert total_of(None, 1024, 188) is None
    assert total_of(2**63 - 1, 1) is None


def test_sum_known() -> None:
    assert sum_known(None, None) is None
    assert sum_known(None, 3, 4) == 7


def test_count_at_follows_objects_and_mappings() -> None:
    class Details:
        cached_tokens = 5

    assert count_at({"details": Details()}, "details", "cached_tokens") == 5
    assert count_at({"details": None}, "details", "cached_tokens") is None
    assert count_at(object(), "missing") is None


def test_modality_counts_normalizes_names_and_drops_unreadable() -> None:
    class Modality:
        value = "IMAGE"

    pairs = [("TEXT", 10), (Modality(), 5), ("text", 2), (None, 3), ("audio", -1)]
    assert modality_counts(pairs) == (("text", 12), ("image", 5))


def test_usage_addition_and_overlay() -> None:
    first = TokenUsage(input=10, output=2, input_modalities=(("text", 10),))
    second = TokenUsage(input=20, output=None, reasoning=4, input_modalities=(("text", 15), ("image", 5)))
    assert first + second == TokenUsage(
        input=30, output=2, reasoning=4, input_modalities=(("text", 25), ("image", 5))
    )
    assert first.overlaid_with(TokenUsage(output=7)) == TokenUsage(
        input=10, output=7, input_modalities=(("text", 10),)
    )
    assert TokenUsage().is_empty and not TokenUsage(output=0).is_empty
