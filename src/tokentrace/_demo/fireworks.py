"""Fireworks demo: a chat completion, a streamed one and an async one, against the fake provider."""

from __future__ import annotations

import asyncio

from tokentrace.testing import FakeProvider

_MESSAGES = [{"role": "user", "content": "What is the oldest known example of cuneiform?"}]
_MODEL = "accounts/fireworks/models/llama-v3p3-70b-instruct"


def run(fake: FakeProvider) -> None:
    """Make the calls (the caller has instrumented the SDK)."""
    from fireworks import AsyncFireworks, Fireworks

    base_url = fake.base_url("fireworks")
    with Fireworks(api_key="demo", base_url=base_url, max_retries=0) as client:
        client.chat.completions.create(model=_MODEL, messages=_MESSAGES)  # type: ignore[arg-type]
        for _ in client.chat.completions.create(model=_MODEL, messages=_MESSAGES, stream=True):  # type: ignore[arg-type]
            pass

    async def chat() -> None:
        async with AsyncFireworks(api_key="demo", base_url=base_url, max_retries=0) as aclient:
            await aclient.chat.completions.create(model=_MODEL, messages=_MESSAGES)  # type: ignore[arg-type]

    asyncio.run(chat())
