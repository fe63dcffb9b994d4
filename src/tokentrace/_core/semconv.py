"""Every attribute name, metric name, enum value and bucket list tokentrace emits, in one place.

Conventions followed: the OpenTelemetry GenAI semantic conventions as merged on the
``semantic-conventions-genai`` main branch (span attributes, including the #440 renames to
``cache_write`` and the per-modality usage attributes) with the v1.41 client metrics, which that
branch still carries unchanged. The per-token-type counters follow the open proposal genai#374.
``opentelemetry-semantic-conventions`` marks every ``gen_ai.*`` name deprecated and lacks the newest
ones, so the strings live here rather than being imported from it.
"""

from __future__ import annotations

from typing import Final

SEMCONV_SOURCE: Final = "semantic-conventions-genai main (2026-09), client metrics as of v1.41"

# --- span attributes -------------------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_REASONING_LEVEL: Final = "gen_ai.request.reasoning.level"
GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID: Final = "gen_ai.request.previous_response.id"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"

GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"

GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

# Cost of one inference call, as the open proposal genai#443 names it (description of 2026-08-09).
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"
COST_SOURCE_LOCAL: Final = "local"  # computed here from the usage and a price list (``provider``: reported)
CURRENCY_USD: Final = "USD"

# Opt-in content attributes (semconv section 4); only written when capture is switched on.
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"

SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
ERROR_TYPE_OTHER: Final = "_OTHER"

# The modalities the per-modality usage attributes are defined for.
MODALITIES: Final = ("text", "image", "audio")


def usage_input_tokens_for(modality: str) -> str:
    """Name of the per-modality input usage attribute, e.g. ``gen_ai.usage.text.input_tokens``."""
    return f"gen_ai.usage.{modality}.input_tokens"


def usage_output_tokens_for(modality: str) -> str:
    """Name of the per-modality output usage attribute."""
    return f"gen_ai.usage.{modality}.output_tokens"


def usage_cache_read_tokens_for(modality: str) -> str:
    """Name of the per-modality cache-read usage attribute."""
    return f"gen_ai.usage.{modality}.cache_read.input_tokens"


# Provider-specific attributes.
OPENAI_API_TYPE: Final = "openai.api.type"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"

# Anthropic (the names its SDK uses on its own spans).
ANTHROPIC_REQUEST_SERVICE_TIER: Final = "anthropic.request.service_tier"
ANTHROPIC_RESPONSE_SERVICE_TIER: Final = "anthropic.response.service_tier"
ANTHROPIC_THINKING_TYPE: Final = "anthropic.thinking.type"
ANTHROPIC_THINKING_BUDGET_TOKENS: Final = "anthropic.thinking.budget_tokens"
ANTHROPIC_USAGE_CACHE_CREATION_5M_INPUT_TOKENS: Final = (
    "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
)
ANTHROPIC_USAGE_CACHE_CREATION_1H_INPUT_TOKENS: Final = (
    "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
)
ANTHROPIC_USAGE_COMPACTION_INPUT_TOKENS: Final = "anthropic.usage.compaction.input_tokens"
ANTHROPIC_USAGE_COMPACTION_OUTPUT_TOKENS: Final = "anthropic.usage.compaction.output_tokens"
# AWS (registered conventions).
AWS_REQUEST_ID: Final = "aws.request_id"
AWS_BEDROCK_GUARDRAIL_ID: Final = "aws.bedrock.guardrail.id"
# Google Gen AI.
GCP_GEN_AI_USAGE_TRAFFIC_TYPE: Final = "gcp.gen_ai.usage.traffic_type"
# Groq's server-side timings (seconds) and request id.
GROQ_USAGE_QUEUE_TIME: Final = "groq.usage.queue_time"
GROQ_USAGE_PROMPT_TIME: Final = "groq.usage.prompt_time"
GROQ_USAGE_COMPLETION_TIME: Final = "groq.usage.completion_time"
GROQ_USAGE_TOTAL_TIME: Final = "groq.usage.total_time"
GROQ_REQUEST_ID: Final = "groq.request_id"

# --- metrics ---------------------------------------------------------------------------------------
GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"

# Monotonic per-token-type counters, named after the open proposal genai#374.
GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.input_tokens"
GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.output_tokens"
GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS: Final = (
    "gen_ai.client.inference.usage.cache_read.input_tokens"
)
GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = (
    "gen_ai.client.inference.usage.cache_write.input_tokens"
)
GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS: Final = (
    "gen_ai.client.inference.usage.reasoning.output_tokens"
)

# Cost per inference call (genai#443), in the currency its unit names.
GEN_AI_CLIENT_OPERATION_COST: Final = "gen_ai.client.operation.cost"

GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_TOKEN_MODALITY: Final = "gen_ai.token.modality"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"
MODALITY_UNKNOWN: Final = "unknown"

TOKEN_UNIT: Final = "{token}"
SECONDS_UNIT: Final = "s"
# UCUM has no currency units; an annotation keeps the ISO 4217 code readable (and out of Prometheus names).
COST_UNIT: Final = "{USD}"

# Advised ExplicitBucketBoundaries (semconv section 2.1).
TOKEN_USAGE_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
# genai#443 advises no boundaries for the cost histogram; these span a cheap embedding call (a
# millionth of a dollar) to a long agent turn on a large model (tens of dollars), ~x3 apart.
COST_BUCKETS: Final = (
    0.000001, 0.000003, 0.00001, 0.00003, 0.0001, 0.0003, 0.001, 0.003,
    0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0,
)  # fmt: skip

# --- operation names -------------------------------------------------------------------------------
OPERATION_CHAT: Final = "chat"
OPERATION_TEXT_COMPLETION: Final = "text_completion"
OPERATION_GENERATE_CONTENT: Final = "generate_content"
OPERATION_EMBEDDINGS: Final = "embeddings"
# No convention exists for standalone token counting yet (genai#510); these follow the placeholder
# other instrumentations use. They never feed the token usage metrics.
OPERATION_COUNT_TOKENS: Final = "count_tokens"
OPERATION_COMPUTE_TOKENS: Final = "compute_tokens"

# --- provider names (gen_ai.provider.name) ---------------------------------------------------------
PROVIDER_OPENAI: Final = "openai"
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"
PROVIDER_AZURE_AI_INFERENCE: Final = "azure.ai.inference"
PROVIDER_ANTHROPIC: Final = "anthropic"
PROVIDER_GCP_GEMINI: Final = "gcp.gemini"
PROVIDER_GCP_VERTEX_AI: Final = "gcp.vertex_ai"
PROVIDER_GCP_GEN_AI: Final = "gcp.gen_ai"
PROVIDER_AWS_BEDROCK: Final = "aws.bedrock"
PROVIDER_MISTRAL_AI: Final = "mistral_ai"
PROVIDER_GROQ: Final = "groq"
PROVIDER_DEEPSEEK: Final = "deepseek"
PROVIDER_X_AI: Final = "x_ai"
PROVIDER_PERPLEXITY: Final = "perplexity"
# Not registered in the conventions (custom values are allowed): documented in README.
PROVIDER_TOGETHER: Final = "together"
PROVIDER_FIREWORKS: Final = "fireworks"
PROVIDER_OPENROUTER: Final = "openrouter"

# --- tokentrace's own attributes -------------------------------------------------------------------
# The response was replayed from LangChain's cache: no provider call, no consumption.
TOKENTRACE_LANGCHAIN_CACHE_HIT: Final = "tokentrace.langchain.cache_hit"
TOKENTRACE_COMPUTE_TOKENS_PER_ROLE_PREFIX: Final = "tokentrace.compute_tokens."

# Totals of a ``tokentrace.track(record_on_span=True)`` block, on the span current at its end. A
# namespace of their own, not ``gen_ai.usage.*``: a backend summing usage over spans must not count
# the calls twice (genai#19 asks for a separate aggregate namespace).
TOKENTRACE_ROLLUP_CALLS: Final = "tokentrace.rollup.calls"
TOKENTRACE_ROLLUP_FAILED_CALLS: Final = "tokentrace.rollup.failed_calls"
TOKENTRACE_ROLLUP_UNPRICED_CALLS: Final = "tokentrace.rollup.unpriced_calls"
TOKENTRACE_ROLLUP_INPUT_TOKENS: Final = "tokentrace.rollup.input_tokens"
TOKENTRACE_ROLLUP_OUTPUT_TOKENS: Final = "tokentrace.rollup.output_tokens"
TOKENTRACE_ROLLUP_CACHE_READ_INPUT_TOKENS: Final = "tokentrace.rollup.cache_read.input_tokens"
TOKENTRACE_ROLLUP_CACHE_WRITE_INPUT_TOKENS: Final = "tokentrace.rollup.cache_write.input_tokens"
TOKENTRACE_ROLLUP_REASONING_OUTPUT_TOKENS: Final = "tokentrace.rollup.reasoning.output_tokens"
TOKENTRACE_ROLLUP_COST_AMOUNT: Final = "tokentrace.rollup.cost.amount"
TOKENTRACE_ROLLUP_COST_CURRENCY: Final = "tokentrace.rollup.cost.currency"

# Attribution: a dimension value past the per-dimension cap is recorded on metrics as this.
ATTRIBUTE_VALUE_OTHER: Final = "_other"
# Attribution keys may not shadow what the conventions or tokentrace define.
RESERVED_ATTRIBUTE_PREFIXES: Final = ("gen_ai.", "server.", "error.", "tokentrace.", "otel.")
