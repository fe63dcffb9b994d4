"""Groq demo: a chat completion, a streamed one (usage in ``x_groq``) and an async one."""

from __future__ import annotations

import asyncio

from tokentrace.testing import FakeProvider

_MESSAGES = [{"role": "user", "content": "What is the oldest known example of cuneiform?"}]
_MODEL = "llama-3.3-70b-versatile"


def run(fake: FakeProvider) -> None:
    """Make the calls (the caller has instrumented the SDK)."""
    from groq import AsyncGroq, Groq

    with Groq(api_key="demo", base_url=fake.url, max_retries=0) as client:
        client.chat.completions.create(model=_MODEL, messages=_MESSAGES)  # type: ignore[arg-type]
        for _ in client.chat.completions.create(model=_MODEL, messages=_MESSAGES, stream=True):  # type: ignore[arg-type]
            pass

    async def chat() -> None:
        async with AsyncGroq(api_key="demo", base_url=fake.url, max_retries=0) as aclient:
            await aclient.chat.completions.create(model=_MODEL, messages=_MESSAGES)  # type: ignore[arg-type]

    asyncio.run(chat())
