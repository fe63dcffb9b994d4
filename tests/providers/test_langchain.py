"""LangChain adapter through langchain-openai: every call path, the three instrumentation setups, context."""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import langchain_openai.chat_models.base
import openai
import openai._base_client
import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from tests.sdk_versions import http_library, release
from tests.telemetry import Telemetry, assert_attributes, assert_failed_call
from tokentrace.testing import FakeProvider, Reply

SETUPS = {
    "langchain": ("langchain",),
    "openai": ("openai",),
    "both": ("langchain", "openai"),
}
RESPONSE_ID = "chatcmpl-CbXq3ZyGvJ8hB0mQp2sT4uV6wX8yZ"
USAGE_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.usage.input_tokens": 1217,
    "gen_ai.usage.output_tokens": 9,
    "gen_ai.usage.cache_read.input_tokens": 1152,
    "gen_ai.usage.reasoning.output_tokens": 0,
}
RESPONSE_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.finish_reasons": ("stop",),
    "openai.response.service_tier": "default",
    "openai.response.system_fingerprint": "fp_560af6e559",
    **USAGE_ATTRIBUTES,
}
ONE_CALL = {"input": (1217, 1), "output": (9, 1)}


def chat_openai(fake: FakeProvider, async_client: Any = None, **fields: Any) -> ChatOpenAI:
    fields.setdefault("model", "gpt-4o-mini")
    return ChatOpenAI(
        base_url=fake.base_url("openai"),
        api_key="sk-test-key",  # type: ignore[arg-type]
        max_retries=0,
        http_async_client=async_client,
        **fields,
    )


@pytest.fixture
def model(fake: FakeProvider) -> Callable[..., ChatOpenAI]:
    """``model(**fields)``: a ChatOpenAI on the fake provider, for synchronous calls."""
    return lambda **fields: chat_openai(fake, **fields)


@pytest.fixture
async def amodel(fake: FakeProvider) -> AsyncIterator[Callable[..., ChatOpenAI]]:
    """``amodel(**fields)``: a ChatOpenAI with its own async HTTP client, closed on the test's loop.

    langchain-openai otherwise shares one cached async client per base URL across the process, and
    its pooled connections die with each test's event loop.
    """
    clients: list[Any] = []

    def make(**fields: Any) -> ChatOpenAI:
        clients.append(openai.DefaultAsyncHttpxClient())
        return chat_openai(fake, clients[-1], **fields)

    yield make
    for client in clients:
        await client.aclose()


def app_tracer(tracer_provider: TracerProvider) -> trace.Tracer:
    return tracer_provider.get_tracer("app")


def model_spans(telemetry: Telemetry) -> list[Any]:
    return [span for span in telemetry.spans() if span.name.startswith("chat ")]


# --- every call path, LangChain instrumented alone ---------------------------------------------------


def test_invoke_span_and_metrics(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    chat = model(temperature=0.2, max_tokens=64, top_p=0.9, seed=7)
    message = chat.invoke("Say hello.", stop=["\n"])
    assert message.usage_metadata is not None and message.usage_metadata["input_tokens"] == 1217

    span = telemetry.only_span()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert_attributes(
        span,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 64,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.seed": 7,
            "gen_ai.request.stop_sequences": ("\n",),
            "server.address": "127.0.0.1",
            "server.port": fake.port,
            "gen_ai.response.id": RESPONSE_ID,
            "gen_ai.usage.audio.input_tokens": 0,
            "gen_ai.usage.audio.output_tokens": 0,
            **RESPONSE_ATTRIBUTES,
        },
    )
    assert "gen_ai.request.stream" not in span.attributes
    assert "openai.api.type" not in span.attributes  # an SDK-level fact: only with openai instrumented
    assert telemetry.token_usage() == ONE_CALL
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1152
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["gen_ai.provider.name"] == "openai"
    assert "error.type" not in duration.attributes


async def test_ainvoke(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, amodel: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    chat = amodel(temperature=0.5)
    message = await chat.ainvoke("Say hello.")
    assert message.content == "Hello! How can I help you today?"
    span = telemetry.only_span()
    assert_attributes(
        span,
        {"gen_ai.request.temperature": 0.5, "gen_ai.response.id": RESPONSE_ID, **RESPONSE_ATTRIBUTES},
    )
    assert telemetry.token_usage() == ONE_CALL


def test_stream(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    chunks = list(model(stream_usage=True).stream("Say hello."))
    assert "".join(str(chunk.content) for chunk in chunks) == "Hello! How can I help you today?"

    span = telemetry.only_span()
    assert span.name == "chat gpt-4o-mini"
    assert_attributes(span, {"gen_ai.request.stream": True, **RESPONSE_ATTRIBUTES})
    assert "gen_ai.response.id" not in span.attributes  # langchain-openai keeps no id on chunks
    assert isinstance(span.attributes["gen_ai.response.time_to_first_chunk"], float)
    assert telemetry.token_usage() == ONE_CALL
    assert len(telemetry.points("gen_ai.client.operation.time_to_first_chunk")) == 1


async def test_astream(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, amodel: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    chat = amodel(stream_usage=True)
    chunks = [chunk async for chunk in chat.astream("Say hello.")]
    assert "".join(str(chunk.content) for chunk in chunks) == "Hello! How can I help you today?"
    span = telemetry.only_span()
    assert_attributes(span, {"gen_ai.request.stream": True, **RESPONSE_ATTRIBUTES})
    assert telemetry.token_usage() == ONE_CALL


def test_batch_one_span_per_input(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatOpenAI],
    tracer_provider: TracerProvider,
) -> None:
    instrument("langchain")
    with app_tracer(tracer_provider).start_as_current_span("app") as app:
        results = model().batch(["one", "two", "three"])
        assert trace.get_current_span() is app
    assert len(results) == 3
    spans = model_spans(telemetry)
    assert len(spans) == 3
    # batch runs invoke in a thread pool: each span still has the application's span as parent.
    assert {span.parent.span_id for span in spans} == {app.get_span_context().span_id}
    assert telemetry.token_usage() == {"input": (3 * 1217, 3), "output": (3 * 9, 3)}


async def test_abatch(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    amodel: Callable[..., ChatOpenAI],
    tracer_provider: TracerProvider,
) -> None:
    instrument("langchain")
    chat = amodel()
    with app_tracer(tracer_provider).start_as_current_span("app") as app:
        await chat.abatch(["one", "two"])
        assert trace.get_current_span() is app
    spans = model_spans(telemetry)
    assert len(spans) == 2
    assert {span.parent.span_id for span in spans} == {app.get_span_context().span_id}
    assert telemetry.token_usage() == {"input": (2 * 1217, 2), "output": (2 * 9, 2)}


# langchain-openai's own _combine_llm_outputs warns about the SDK's None detail fields.
MULTI_PROMPT = pytest.mark.filterwarnings("ignore:Unexpected type for token usage")


@MULTI_PROMPT
def test_generate_gives_one_span_per_prompt(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    fake.enqueue("openai.chat", {"text": "first"}, {"text": "second", "finish_reason": "length"})
    result = model().generate([[HumanMessage("one")], [HumanMessage("two")]])
    assert [generations[0].text for generations in result.generations] == ["first", "second"]
    spans = sorted(model_spans(telemetry), key=lambda span: span.start_time or 0)
    assert [span.attributes["gen_ai.response.finish_reasons"] for span in spans] == [("stop",), ("length",)]
    assert telemetry.token_usage() == {"input": (2 * 1217, 2), "output": (2 * 9, 2)}


@MULTI_PROMPT
async def test_agenerate(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, amodel: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    chat = amodel()
    await chat.agenerate([[HumanMessage("one")], [HumanMessage("two")]])
    assert len(model_spans(telemetry)) == 2
    assert telemetry.token_usage() == {"input": (2 * 1217, 2), "output": (2 * 9, 2)}


def test_several_choices_count_usage_once(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    result = model(n=2).generate([[HumanMessage("two answers")]])
    assert len(result.generations[0]) == 2
    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            "gen_ai.request.choice.count": 2,
            "gen_ai.response.finish_reasons": ("stop", "stop"),
            **USAGE_ATTRIBUTES,
        },
    )
    assert telemetry.token_usage() == ONE_CALL


@pytest.mark.skipif(
    "cache_creation" not in inspect.getsource(langchain_openai.chat_models.base),
    reason=f"{release(ChatOpenAI)} does not report cache writes (cache_creation)",
)
def test_reasoning_and_cache_write_tokens(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    usage = {
        "prompt_tokens": 2048,
        "completion_tokens": 300,
        "total_tokens": 2348,
        "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 512},
        "completion_tokens_details": {"reasoning_tokens": 256},
    }
    fake.enqueue("openai.chat", {"usage": usage})
    model(reasoning_effort="low").invoke("Think.")
    assert_attributes(
        telemetry.only_span(),
        {
            "gen_ai.request.reasoning.level": "low",
            "gen_ai.usage.input_tokens": 2048,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.cache_write.input_tokens": 512,
            "gen_ai.usage.reasoning.output_tokens": 256,
        },
    )
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_write.input_tokens") == 512
    assert telemetry.counter_total("gen_ai.client.inference.usage.reasoning.output_tokens") == 256


def test_priority_tier_keys(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    # langchain-openai renames the details of priority/flex responses: priority_cache_read, ...
    instrument("langchain")
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 40},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    fake.enqueue("openai.chat", tier_reply(usage, "priority"))
    message = model().invoke("fast")
    assert message.usage_metadata is not None
    assert message.usage_metadata.get("input_token_details", {}).get("priority_cache_read") == 40
    assert_attributes(
        telemetry.only_span(),
        {
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 50,
            "gen_ai.usage.cache_read.input_tokens": 40,
            "gen_ai.usage.reasoning.output_tokens": 20,
            "openai.response.service_tier": "priority",
        },
    )


def tier_reply(usage: dict[str, Any], tier: str) -> Reply:
    """A chat completion served in ``tier`` (the fake's default body always says "default")."""
    return Reply.json(
        {
            "id": RESPONSE_ID,
            "object": "chat.completion",
            "created": 1767225600,
            "model": "gpt-4o-mini-2024-07-18",
            "service_tier": tier,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
    )


# --- tokens counted once: LangChain alone, the SDK alone, both -------------------------------------


def run_sync_path(chat: ChatOpenAI, path: str) -> None:
    if path == "invoke":
        chat.invoke("Say hello.")
    elif path == "stream":
        for _ in chat.stream("Say hello."):
            pass
    else:
        chat.batch(["one", "two"])


async def run_async_path(chat: ChatOpenAI, path: str) -> None:
    if path == "ainvoke":
        await chat.ainvoke("Say hello.")
    elif path == "astream":
        async for _ in chat.astream("Say hello."):
            pass
    else:
        await chat.abatch(["one", "two"])


CALLS = {"invoke": 1, "stream": 1, "batch": 2, "ainvoke": 1, "astream": 1, "abatch": 2}


def setup_cases(paths: tuple[str, ...]) -> list[Any]:
    cases = []
    for path in paths:
        for setup in SETUPS:
            cases.append(pytest.param(setup, path, id=f"{setup}-{path}"))
    return cases


def assert_counted_once(telemetry: Telemetry, setup: str, path: str) -> None:
    calls = CALLS[path]
    spans = model_spans(telemetry)
    assert len(spans) == calls, [span.name for span in spans]
    assert telemetry.token_usage() == {"input": (1217 * calls, calls), "output": (9 * calls, calls)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1152 * calls
    for span in spans:
        assert_attributes(
            span, {"gen_ai.provider.name": "openai", "server.port": FAKE_PORT[0], **USAGE_ATTRIBUTES}
        )
        if setup != "langchain" or "stream" not in path:  # langchain-openai chunks carry no id
            assert span.attributes["gen_ai.response.id"] == RESPONSE_ID


FAKE_PORT: list[int] = [0]


@pytest.mark.parametrize(("setup", "path"), setup_cases(("invoke", "stream", "batch")))
def test_tokens_counted_once(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatOpenAI],
    setup: str,
    path: str,
) -> None:
    FAKE_PORT[0] = fake.port
    instrument(*SETUPS[setup])
    run_sync_path(model(stream_usage=True), path)
    assert_counted_once(telemetry, setup, path)


@pytest.mark.parametrize(("setup", "path"), setup_cases(("ainvoke", "astream", "abatch")))
async def test_tokens_counted_once_async(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    amodel: Callable[..., ChatOpenAI],
    setup: str,
    path: str,
) -> None:
    FAKE_PORT[0] = fake.port
    instrument(*SETUPS[setup])
    await run_async_path(amodel(stream_usage=True), path)
    assert_counted_once(telemetry, setup, path)


def test_both_instrumented_keeps_one_span_under_the_app_span(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatOpenAI],
    tracer_provider: TracerProvider,
) -> None:
    instrument("langchain", "openai")
    with app_tracer(tracer_provider).start_as_current_span("app") as app:
        model().invoke("Say hello.")
    span = telemetry.only_span() if False else model_spans(telemetry)[0]
    assert len(telemetry.spans()) == 2  # the app's span and one chat span
    assert span.parent is not None and span.parent.span_id == app.get_span_context().span_id


def test_stream_without_stream_usage(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    # With a custom base_url, ChatOpenAI asks for no stream usage; LangChain alone then has none.
    instrument("langchain")
    list(model().stream("Say hello."))
    assert fake.requests_to("openai.chat")[-1].json.get("stream_options") is None
    span = telemetry.only_span()
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert telemetry.token_usage() == {}


def test_stream_without_stream_usage_sdk_instrumented(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    # The OpenAI adapter asks for usage itself and hides the usage chunk it caused; the absorbed
    # SDK-level usage is the call's.
    # How langchain-openai chunks the stream differs by release: the uninstrumented run is the reference.
    uninstrumented = [chunk.content for chunk in model().stream("Say hello.")]
    instrument("langchain", "openai")
    plain = [chunk.content for chunk in model().stream("Say hello.")]
    assert fake.requests_to("openai.chat")[-1].json["stream_options"] == {"include_usage": True}
    assert_attributes(telemetry.only_span(), USAGE_ATTRIBUTES)
    assert telemetry.token_usage() == ONE_CALL
    assert plain == uninstrumented
    assert plain[1:8] == ["Hello!", " How", " can", " I", " help", " you", " today?"]


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setup", ["langchain", "both"])
@pytest.mark.parametrize(
    ("status", "exception"), [(400, openai.BadRequestError), (500, openai.InternalServerError)]
)
def test_error_invoke(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatOpenAI],
    setup: str,
    status: int,
    exception: type[Exception],
) -> None:
    fake.enqueue("openai.chat", {"error": status})
    with pytest.raises(exception) as plain:
        model().invoke("fail")
    instrument(*SETUPS[setup])
    fake.enqueue("openai.chat", {"error": status})
    with pytest.raises(exception) as instrumented:
        model().invoke("fail")
    assert type(instrumented.value) is type(plain.value)
    assert str(instrumented.value) == str(plain.value)
    assert_failed_call(telemetry, exception.__name__)


@pytest.mark.parametrize("setup", ["langchain", "both"])
def test_error_stream(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI], setup: str
) -> None:
    instrument(*SETUPS[setup])
    fake.enqueue("openai.chat", {"error": 429})
    with pytest.raises(openai.RateLimitError):
        for _ in model().stream("fail"):
            pass
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    # langchain-openai re-raises it as its own OpenAIRateLimitError: the SDK's name is kept.
    assert span.attributes["error.type"] == "RateLimitError"
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "RateLimitError"
    assert telemetry.token_usage() == {}


async def test_error_astream(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, amodel: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    fake.enqueue("openai.chat", {"error": 500})
    with pytest.raises(openai.InternalServerError):
        async for _ in amodel().astream("fail"):
            pass
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "InternalServerError"  # not langchain-openai's OpenAIAPIError


def test_stream_cut_mid_way(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain", "openai")
    fake.enqueue("openai.chat", {"cut_after": 3})
    # Newer openai releases raise APIError; older ones let the transport error through.
    with pytest.raises((openai.APIError, http_library(openai._base_client).TransportError)):
        for _ in model(stream_usage=True).stream("Say hello."):
            pass
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert telemetry.token_usage() == {}  # the usage chunk never arrived


# --- what the application sees is unchanged -------------------------------------------------------


def without_run_ids(message: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = message.model_dump()
    if str(dumped.get("id", "")).startswith("lc_run-"):
        dumped["id"] = None
    return dumped


def test_results_identical_to_uninstrumented(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    chat = model(stream_usage=True)
    plain_message = without_run_ids(chat.invoke("Say hello."))
    plain_chunks = [without_run_ids(chunk) for chunk in chat.stream("Say hello.")]
    plain_batch = [without_run_ids(message) for message in chat.batch(["a", "b"])]
    instrument("langchain", "openai")
    assert without_run_ids(chat.invoke("Say hello.")) == plain_message
    assert [without_run_ids(chunk) for chunk in chat.stream("Say hello.")] == plain_chunks
    assert [without_run_ids(message) for message in chat.batch(["a", "b"])] == plain_batch


async def test_async_results_identical_to_uninstrumented(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, amodel: Callable[..., ChatOpenAI]
) -> None:
    chat = amodel(stream_usage=True)
    plain_message = without_run_ids(await chat.ainvoke("Say hello."))
    plain_chunks = [without_run_ids(chunk) async for chunk in chat.astream("Say hello.")]
    instrument("langchain", "openai")
    assert without_run_ids(await chat.ainvoke("Say hello.")) == plain_message
    assert [without_run_ids(chunk) async for chunk in chat.astream("Say hello.")] == plain_chunks


def test_stream_generator_protocol_kept(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    stream = model(stream_usage=True).stream("Say hello.")
    assert next(stream).content == ""
    stream.close()  # the application stops reading: the span ends at once
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert telemetry.token_usage() == {}


def test_abandoned_stream_ends_its_span(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain", "openai")
    stream = model(stream_usage=True).stream("Say hello.")
    next(stream)
    del stream
    gc.collect()
    assert len(model_spans(telemetry)) == 1


# --- LangChain's cache: a replayed response consumed nothing ----------------------------------------


def test_cache_hit_records_no_usage(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain", "openai")
    chat = model(cache=InMemoryCache())
    first = chat.invoke("Say hello.")
    second = chat.invoke("Say hello.")
    assert second.content == first.content
    assert second.usage_metadata is not None and second.usage_metadata.get("total_cost") == 0
    assert len(fake.requests_to("openai.chat")) == 1
    first_span, second_span = sorted(model_spans(telemetry), key=lambda span: span.start_time or 0)
    assert first_span.attributes["gen_ai.usage.input_tokens"] == 1217
    assert "tokentrace.langchain.cache_hit" not in first_span.attributes
    assert second_span.attributes["tokentrace.langchain.cache_hit"] is True
    assert "gen_ai.usage.input_tokens" not in second_span.attributes
    assert telemetry.token_usage() == ONE_CALL
    # The replay called no provider: one operation timed, the real one.
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 1


async def test_cache_hit_records_no_usage_async(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, amodel: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain")
    chat = amodel(cache=InMemoryCache())
    await chat.ainvoke("Say hello.")
    await chat.ainvoke("Say hello.")
    assert len(model_spans(telemetry)) == 2
    assert telemetry.token_usage() == ONE_CALL
    assert sum(point.count for point in telemetry.points("gen_ai.client.operation.duration")) == 1


# --- parentage and the application's context -------------------------------------------------------


def test_parent_is_the_application_span_through_a_chain(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatOpenAI],
    tracer_provider: TracerProvider,
) -> None:
    instrument("langchain", "openai")
    chain = ChatPromptTemplate.from_messages([("human", "Say {word}.")]) | model()
    tracer = app_tracer(tracer_provider)
    with tracer.start_as_current_span("app") as app:
        chain.invoke({"word": "hello"})
        assert trace.get_current_span() is app
        list(chain.stream({"word": "hello"}))
        assert trace.get_current_span() is app
    assert trace.get_current_span() is not app
    spans = model_spans(telemetry)
    assert len(spans) == 2
    assert {span.parent.span_id for span in spans} == {app.get_span_context().span_id}


def test_parent_is_the_span_current_inside_a_langchain_run(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatOpenAI],
    tracer_provider: TracerProvider,
) -> None:
    instrument("langchain")
    tracer = app_tracer(tracer_provider)
    chat = model()
    inner_ids: list[int] = []

    def step(text: str) -> Any:
        with tracer.start_as_current_span("step") as step_span:
            inner_ids.append(step_span.get_span_context().span_id)
            return chat.invoke(text)

    with tracer.start_as_current_span("app"):
        RunnableLambda(step).batch(["one", "two"])
    spans = model_spans(telemetry)
    assert len(spans) == 2
    assert sorted(span.parent.span_id for span in spans) == sorted(inner_ids)


async def test_async_context_restored(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    amodel: Callable[..., ChatOpenAI],
    tracer_provider: TracerProvider,
) -> None:
    instrument("langchain", "openai")
    chat = amodel(stream_usage=True)
    with app_tracer(tracer_provider).start_as_current_span("app") as app:
        await chat.ainvoke("Say hello.")
        assert trace.get_current_span() is app
        async for _ in chat.astream("Say hello."):
            assert trace.get_current_span() is app  # the app's context while it reads chunks
        assert trace.get_current_span() is app
    spans = model_spans(telemetry)
    assert len(spans) == 2
    assert {span.parent.span_id for span in spans} == {app.get_span_context().span_id}


def test_sync_stream_context_restored_between_chunks(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatOpenAI],
    tracer_provider: TracerProvider,
) -> None:
    instrument("langchain", "openai")
    with app_tracer(tracer_provider).start_as_current_span("app") as app:
        for _ in model(stream_usage=True).stream("Say hello."):
            assert trace.get_current_span() is app
        assert trace.get_current_span() is app
    assert telemetry.token_usage() == ONE_CALL


# --- a chat model call inside another ------------------------------------------------------------


def test_stream_falling_back_to_invoke_is_one_span(instrument: Any, telemetry: Telemetry) -> None:
    # A model without _stream: stream() calls invoke(), which reaches _generate_with_cache.
    instrument("langchain")
    usage = {"input_tokens": 30, "output_tokens": 4, "total_tokens": 34}
    chat = FakeMessagesListChatModel(responses=[AIMessage("hi", usage_metadata=usage)])
    chunks = list(chat.stream("hello"))
    assert len(chunks) == 1
    span = telemetry.only_span()
    assert_attributes(span, {"gen_ai.request.stream": True, "gen_ai.usage.input_tokens": 30})
    assert telemetry.token_usage() == {"input": (30, 1), "output": (4, 1)}


class Delegating(BaseChatModel):
    """A chat model whose every call goes to another chat model (as routers and fallbacks do)."""

    inner: BaseChatModel

    @property
    def _llm_type(self) -> str:
        return "delegating"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        from langchain_core.outputs import ChatGeneration, ChatResult

        return ChatResult(generations=[ChatGeneration(message=self.inner.invoke(messages))])


def test_chat_model_calling_another_is_one_span(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatOpenAI]
) -> None:
    instrument("langchain", "openai")
    Delegating(inner=model()).invoke("Say hello.")
    span = telemetry.only_span()
    assert span.name == "chat"  # the outer model has no model name of its own
    assert_attributes(span, {"gen_ai.provider.name": "openai", **USAGE_ATTRIBUTES})
    assert telemetry.token_usage() == ONE_CALL


# --- lifecycle ------------------------------------------------------------------------------------


def test_uninstrument_restores_the_methods(instrument: Any) -> None:
    originals = {name: vars(BaseChatModel)[name] for name in ("_generate_with_cache", "stream", "astream")}
    instrument("langchain")
    assert vars(BaseChatModel)["stream"] is not originals["stream"]
    import tokentrace

    tokentrace.uninstrument()
    assert {name: vars(BaseChatModel)[name] for name in originals} == originals


async def test_astream_falling_back_to_ainvoke_is_one_span(instrument: Any, telemetry: Telemetry) -> None:
    instrument("langchain")
    usage = {"input_tokens": 30, "output_tokens": 4, "total_tokens": 34}
    chat = FakeMessagesListChatModel(responses=[AIMessage("hi", usage_metadata=usage)])
    chunks = [chunk async for chunk in chat.astream("hello")]
    assert len(chunks) == 1
    assert telemetry.only_span().attributes["gen_ai.request.stream"] is True
    assert telemetry.token_usage() == {"input": (30, 1), "output": (4, 1)}


# --- our bugs never reach the application ------------------------------------------------------------


def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("tokentrace bug")


def test_reader_bug_leaves_the_call_alone(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatOpenAI],
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("TOKENTRACE_STRICT", "0")
    monkeypatch.setattr("tokentrace._providers.langchain.apply_chat_result", broken)
    monkeypatch.setattr("tokentrace._providers.langchain.ChatStreamAccumulator.on_chunk", broken)
    instrument("langchain")
    chat = model(stream_usage=True)
    assert chat.invoke("Say hello.").content == "Hello! How can I help you today?"
    chunks = [chunk.content for chunk in chat.stream("Say hello.")]
    assert "".join(str(content) for content in chunks) == "Hello! How can I help you today?"
    assert len(model_spans(telemetry)) == 2  # both spans still end


def test_request_bug_leaves_the_call_untraced(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatOpenAI],
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("TOKENTRACE_STRICT", "0")
    monkeypatch.setattr("tokentrace._providers.langchain.request_facts", broken)
    instrument("langchain", "openai")
    assert model().invoke("Say hello.").content == "Hello! How can I help you today?"
    # LangChain's own span is lost; the SDK call below it is traced on its own instead.
    assert [span.attributes["openai.api.type"] for span in telemetry.spans()] == ["chat_completions"]
