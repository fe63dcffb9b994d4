from __future__ import annotations

import json

from tokentrace._core.content import TRUNCATION_MARK, encode_messages, message, text_part


def test_small_messages_are_encoded_as_is() -> None:
    messages = [message("user", [text_part("hi")]), message("assistant", [text_part("hello")], "stop")]
    assert json.loads(encode_messages(messages, 1000)) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "stop"},
    ]


def test_long_text_is_shortened_to_the_limit_and_stays_valid_json() -> None:
    messages = [message("user", [text_part("x" * 5000)]), message("user", [text_part("y" * 3000)])]
    encoded = encode_messages(messages, 1000)
    assert len(encoded) <= 1000
    decoded = json.loads(encoded)
    assert [item["role"] for item in decoded] == ["user", "user"]
    assert all(part["content"].endswith(TRUNCATION_MARK) for item in decoded for part in item["parts"])


def test_structure_over_the_limit_keeps_roles_only() -> None:
    messages = [
        message("tool", [{"type": "tool_call_response", "id": str(i), "response": None}]) for i in range(50)
    ]
    encoded = encode_messages(messages, 200)
    assert len(encoded) <= 200
