"""Anthropic demo: a cached-prompt message, the ``messages.stream()`` helper, and an async stream."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tokentrace.testing import FakeProvider

if TYPE_CHECKING:
    from anthropic.types import MessageParam

MODEL = "claude-haiku-4-5"


def run(fake: FakeProvider) -> None:
    """One plain call, one streamed call through the helper, one async streamed call."""
    import anthropic

    messages: list[MessageParam] = [{"role": "user", "content": "Say hello."}]
    base_url = fake.base_url("anthropic")
    with anthropic.Anthropic(base_url=base_url, api_key="demo", max_retries=0) as client:
        client.messages.create(model=MODEL, max_tokens=256, messages=messages)
        with client.messages.stream(model=MODEL, max_tokens=256, messages=messages) as stream:
            for _ in stream.text_stream:
                pass
            stream.get_final_message()

    async def streamed() -> None:
        async with anthropic.AsyncAnthropic(base_url=base_url, api_key="demo", max_retries=0) as client:
            events = await client.messages.create(model=MODEL, max_tokens=256, messages=messages, stream=True)
            async for _ in events:
                pass

    asyncio.run(streamed())
