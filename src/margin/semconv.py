"""The names on the wire between the SDK and the server: span and signal attribute names,
where usage counts and models are read from, and which keys hold prompts.

The SDK writes these names and the server reads them; both import them from here, so a name
is spelled once. Names from the OpenTelemetry GenAI conventions (``gen_ai.*``) are used where
they exist; older spellings, OpenInference's ``llm.*`` and Paid's keys are read too. This
module is a core helper: it imports nothing from Margin.
"""

from __future__ import annotations

__all__ = [
    "AGENT",
    "AGENT_KEYS",
    "CONTENT_EVENTS",
    "COST_AMOUNTS",
    "CUSTOMER",
    "CUSTOMER_KEYS",
    "CUSTOMER_UNIT",
    "DEFAULT_AGENT_KEYS",
    "ERROR_TYPE",
    "FINISH_REASONS",
    "FRAMEWORK",
    "IDENTITY_KEYS",
    "INPUT_MESSAGES",
    "INSTRUMENTATION",
    "METADATA_PREFIX",
    "MODEL_ALIASES",
    "OPERATION",
    "OUTPUT_MESSAGES",
    "PAID_AGENT",
    "PAID_CUSTOMER",
    "PAID_SIGNAL_DATA",
    "PAID_SIGNAL_EVENT_NAME",
    "PAID_SIGNAL_SPANS",
    "PAID_USAGE",
    "PROMPT_KEYS",
    "PROVIDER",
    "REQUEST_MODEL",
    "REQUEST_STREAM",
    "RESPONSE_ID",
    "RESPONSE_MODEL",
    "SERVICE_NAME",
    "SIGNAL_COST_TRACING",
    "SIGNAL_DATA",
    "SIGNAL_EVENT_NAME",
    "SIGNAL_IDEMPOTENCY_KEY",
    "SIGNAL_PREFIX",
    "SIGNAL_SPAN",
    "STORE_PROMPT",
    "SYSTEM",
    "SYSTEM_INSTRUCTIONS",
    "TRACE_SPAN",
    "USAGE_ALIASES",
    "USAGE_ATTRIBUTES",
    "USAGE_PREFIXES",
    "is_prompt_key",
]

# -- who the work is for (stamped on every span inside ``margin.trace``) -------------------

CUSTOMER = "margin.customer.external_id"
AGENT = "margin.agent.external_id"
#: The customer's unit (sub-account) the work is for: its external id within the customer.
CUSTOMER_UNIT = "margin.customer_unit.external_id"
#: ``margin.trace(metadata=...)`` entries, flattened with dots under this prefix.
METADATA_PREFIX = "margin.metadata."
#: Paid's names for the same parties (``paid-python`` stamps these).
PAID_CUSTOMER = "external_customer_id"
PAID_AGENT = "external_agent_id"
CUSTOMER_KEYS = (CUSTOMER, PAID_CUSTOMER)
AGENT_KEYS = (AGENT, PAID_AGENT)
#: OpenTelemetry's resource attribute naming the process's service: an organization's agent
#: by default when no Margin or Paid key names one (``margin.store.party_mapping``).
SERVICE_NAME = "service.name"
DEFAULT_AGENT_KEYS = (SERVICE_NAME,)
#: Attributes other instrumentations set that often name who the work is for (OTel's
#: ``enduser.id``, OpenInference's ``user.id`` and ``session.id``, a common ``tenant.id``):
#: an organization may map any of them to its customer.
IDENTITY_KEYS = ("enduser.id", "user.id", "tenant.id", "session.id")
#: True on spans whose trace asked to keep prompts and completions.
STORE_PROMPT = "margin.store_prompt"
#: ``"margin"`` on spans Margin's wrappers made: the server prefers them over a second
#: (native or third-party) span of the same call.
INSTRUMENTATION = "margin.instrumentation"
#: The framework a wrapper span came through (``langchain``, ``llama_index``…).
FRAMEWORK = "margin.framework"

# -- spans Margin makes ------------------------------------------------------------------

TRACE_SPAN = "margin.trace"
SIGNAL_SPAN = "margin.signal"
SIGNAL_PREFIX = "margin.signal."
SIGNAL_EVENT_NAME = "margin.signal.event_name"
SIGNAL_COST_TRACING = "margin.signal.cost_tracing"
#: The signal's data, a JSON object encoded as a string.
SIGNAL_DATA = "margin.signal.data"
SIGNAL_IDEMPOTENCY_KEY = "margin.signal.idempotency_key"
#: Paid's ``signal()`` spans (its processor prefixes every span name with ``paid.trace.``).
PAID_SIGNAL_SPANS = frozenset({"signal", "paid.trace.signal"})
PAID_SIGNAL_EVENT_NAME = "event_name"
PAID_SIGNAL_DATA = "data"

# -- one AI call (OpenTelemetry GenAI conventions) --------------------------------------

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
#: The provider's name before ``gen_ai.provider.name`` (still emitted by many).
SYSTEM = "gen_ai.system"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_STREAM = "gen_ai.request.stream"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
ERROR_TYPE = "error.type"

#: Where each field of a call's model is read from, best first (the response's model wins
#: over the request's): provider, model, operation, response id.
MODEL_ALIASES: tuple[tuple[str, ...], ...] = (
    (PROVIDER, SYSTEM, "llm.provider", "llm.system"),
    (RESPONSE_MODEL, "llm.model_name", REQUEST_MODEL),
    (OPERATION,),
    (RESPONSE_ID,),
)

#: The attribute each canonical usage count is written to by Margin's wrappers: the GenAI
#: convention's name where there is one, else ``margin.usage.<key>``.
USAGE_ATTRIBUTES: dict[str, str] = {
    "input_tokens": "gen_ai.usage.input_tokens",
    "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_write_tokens": "gen_ai.usage.cache_write.input_tokens",
    "cache_write_5m_tokens": "margin.usage.cache_write_5m_tokens",
    "cache_write_1h_tokens": "margin.usage.cache_write_1h_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
    "input_audio_tokens": "gen_ai.usage.audio.input_tokens",
    "output_audio_tokens": "gen_ai.usage.audio.output_tokens",
    "input_image_tokens": "gen_ai.usage.image.input_tokens",
    "output_image_tokens": "gen_ai.usage.image.output_tokens",
    "input_video_tokens": "margin.usage.input_video_tokens",
    "output_video_tokens": "margin.usage.output_video_tokens",
    "images": "margin.usage.images",
    "audio_seconds": "margin.usage.audio_seconds",
    "characters": "margin.usage.characters",
    "pages": "margin.usage.pages",
    "requests": "margin.usage.requests",
    "web_searches": "margin.usage.web_searches",
}

#: Every attribute a usage count is read from, best first: Margin's own name, then the
#: current convention, its older spellings, OpenInference and other instrumentations.
USAGE_ALIASES: dict[str, tuple[str, ...]] = {
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.cached_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "cache_write_5m_tokens": (
        "margin.usage.cache_write_5m_tokens",
        "anthropic.usage.cache_creation.ephemeral_5m_input_tokens",
    ),
    "cache_write_1h_tokens": (
        "margin.usage.cache_write_1h_tokens",
        "anthropic.usage.cache_creation.ephemeral_1h_input_tokens",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.reasoning_output_tokens",
        "llm.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "input_audio_tokens": (
        "gen_ai.usage.audio.input_tokens",
        "llm.token_count.prompt_details.audio",
    ),
    "output_audio_tokens": (
        "gen_ai.usage.audio.output_tokens",
        "llm.token_count.completion_details.audio",
    ),
    "input_image_tokens": ("gen_ai.usage.image.input_tokens",),
    "output_image_tokens": ("gen_ai.usage.image.output_tokens",),
    "input_video_tokens": ("margin.usage.input_video_tokens",),
    "output_video_tokens": ("margin.usage.output_video_tokens",),
    "images": ("margin.usage.images",),
    "audio_seconds": ("margin.usage.audio_seconds",),
    "characters": ("margin.usage.characters",),
    "pages": ("margin.usage.pages",),
    "requests": ("margin.usage.requests",),
    "web_searches": ("margin.usage.web_searches",),
}

#: Attribute prefixes that mark a mapping of span attributes as a usage block.
USAGE_PREFIXES = ("gen_ai.usage.", "llm.token_count.", "llm.usage.", "margin.usage.")

#: Non-token usage in Paid's wrapper spans (a count may be a float: rounded when read).
PAID_USAGE: dict[str, str] = {
    "images": "gen_ai.image.count",
    "audio_seconds": "gen_ai.audio.input_duration_seconds",
    "pages": "gen_ai.ocr.pages_processed",
}

#: (amount, currency) attribute pairs of a cost the caller priced itself.
COST_AMOUNTS: tuple[tuple[str, str], ...] = (
    ("gen_ai.usage.cost.amount", "gen_ai.usage.cost.currency"),
    ("costData.cost.amount", "costData.cost.currency"),
)

# -- prompts and completions --------------------------------------------------------------

#: An attribute whose key contains one of these holds prompt or completion content (Paid's
#: list, the current and older GenAI names, OpenInference's): it leaves the process, and is
#: stored, only when the trace asked for it (``store_prompt=True``).
PROMPT_KEYS: tuple[str, ...] = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.request.messages",
    "gen_ai.response.messages",
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.input_message",
    "llm.output_message",
    "llm.invocation_parameters",
    "langchain.prompt",
    "input.value",
    "output.value",
    "model_request_parameters",
    "logfire.json_schema",
)

#: Span events (the older per-message GenAI events) that carry message content.
CONTENT_EVENTS = frozenset(
    {
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.client.inference.operation.details",
    }
)


def is_prompt_key(key: str) -> bool:
    """Whether the attribute ``key`` holds prompt or completion content."""
    return any(part in key for part in PROMPT_KEYS)
