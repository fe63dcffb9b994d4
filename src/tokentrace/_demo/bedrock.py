"""Bedrock demo: Converse, ConverseStream and an async call (aiobotocore if installed) on the fake server."""

from __future__ import annotations

import asyncio
import importlib
import json
from importlib.util import find_spec
from typing import Any

from tokentrace.testing import FakeProvider

_MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
_MESSAGES = [{"role": "user", "content": [{"text": "What is the oldest known example of cuneiform?"}]}]
_CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "demo", "aws_secret_access_key": "demo"}


def run(fake: FakeProvider) -> None:
    """Make the calls (the caller has instrumented the SDK)."""
    # boto3 and aiobotocore ship no type information: imported as modules, they are ``Any``.
    boto3 = importlib.import_module("boto3")
    client = boto3.client("bedrock-runtime", endpoint_url=fake.url, **_CREDENTIALS)
    client.converse(modelId=_MODEL, messages=_MESSAGES)
    for _ in client.converse_stream(modelId=_MODEL, messages=_MESSAGES)["stream"]:
        pass
    asyncio.run(_async_call(fake, client))


async def _async_call(fake: FakeProvider, client: Any) -> None:
    if find_spec("aiobotocore") is not None:
        session = importlib.import_module("aiobotocore.session").get_session()
        async with session.create_client("bedrock-runtime", endpoint_url=fake.url, **_CREDENTIALS) as aio:
            await aio.converse(modelId=_MODEL, messages=_MESSAGES)
        return
    # Without aiobotocore, boto3 is used from asyncio the usual way: in a worker thread.
    body = json.dumps({"prompt": "\n\nHuman: Hello\n\nAssistant:", "max_tokens_to_sample": 300})
    response = await asyncio.to_thread(client.invoke_model, modelId="anthropic.claude-v2", body=body)
    response["body"].read()
