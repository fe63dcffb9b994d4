"""Mistral demo: a chat completion, a streamed chat and an async embeddings call against the fake provider."""

from __future__ import annotations

import asyncio

from tokentrace.testing import FakeProvider

_MESSAGES = [{"role": "user", "content": "What is the oldest known example of cuneiform?"}]
_MODEL = "mistral-small-latest"


def run(fake: FakeProvider) -> None:
    """Make the calls (the caller has instrumented the SDK)."""
    from mistralai.client import Mistral

    server_url = fake.base_url("mistralai")
    with Mistral(api_key="demo", server_url=server_url) as client:
        client.chat.complete(model=_MODEL, messages=_MESSAGES)
        for _ in client.chat.stream(model=_MODEL, messages=_MESSAGES):
            pass

    async def embed() -> None:
        async with Mistral(api_key="demo", server_url=server_url) as aclient:
            await aclient.embeddings.create_async(model="mistral-embed", inputs=["cuneiform", "clay tablet"])

    asyncio.run(embed())
