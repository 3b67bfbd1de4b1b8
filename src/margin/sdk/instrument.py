"""Provider instrumentation: ``instrument_<provider>()`` and ``autoinstrument()``.

Each ``instrument_*`` call wraps one client instance (``client=...``) or every client of that
provider SDK (``client=None``), and returns an :class:`Instrumentation` handle that reverts
it (``.uninstrument()`` or ``with``). Instrumenting twice never double-wraps. Wrapper
modules are imported on first use, so a missing optional provider costs nothing until asked
for, and then fails with an ``ImportError`` naming the ``pip install 'margin[...]'`` line.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable, Iterable
from typing import Any

from margin.sdk.wrappers._patch import Instrumentation

__all__ = [
    "LIBRARIES",
    "Instrumentation",
    "autoinstrument",
    "instrument_anthropic",
    "instrument_bedrock",
    "instrument_gemini",
    "instrument_langchain",
    "instrument_llamaindex",
    "instrument_mistral",
    "instrument_openai",
    "instrument_openai_agents",
]

logger = logging.getLogger("margin.sdk.instrument")

# library name → (wrapper module, the provider module whose presence means "installed").
_WRAPPERS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "openai"),
    "anthropic": ("anthropic", "anthropic"),
    "gemini": ("gemini", "google.genai"),
    "bedrock": ("bedrock", "boto3"),
    "mistral": ("mistral", "mistralai"),
    "langchain": ("langchain", "langchain_core"),
    "llamaindex": ("llamaindex", "llama_index.core"),
    "openai_agents": ("openai_agents", "agents"),
}

#: Every library ``autoinstrument`` knows, in the order it instruments them.
LIBRARIES: tuple[str, ...] = tuple(_WRAPPERS)


def _instrumenter(library: str) -> Callable[[Any], Instrumentation]:
    module = importlib.import_module(f"margin.sdk.wrappers.{_WRAPPERS[library][0]}")
    fn: Callable[[Any], Instrumentation] = getattr(module, f"instrument_{library}")
    return fn


def instrument_openai(client: Any = None) -> Instrumentation:
    """Trace OpenAI chat completions (incl. ``parse``), Responses, embeddings, images and
    transcriptions, sync and async, streamed or not."""
    return _instrumenter("openai")(client)


def instrument_anthropic(client: Any = None) -> Instrumentation:
    """Trace Anthropic ``messages.create`` / ``parse`` / ``stream()``, sync and async."""
    return _instrumenter("anthropic")(client)


def instrument_gemini(client: Any = None) -> Instrumentation:
    """Trace google-genai ``models.generate_content[_stream]``, sync and ``client.aio``."""
    return _instrumenter("gemini")(client)


def instrument_bedrock(client: Any = None) -> Instrumentation:
    """Trace boto3 ``bedrock-runtime`` ``converse`` / ``converse_stream``."""
    return _instrumenter("bedrock")(client)


def instrument_mistral(client: Any = None) -> Instrumentation:
    """Trace mistralai ``chat.complete`` / ``chat.stream`` and embeddings, sync and async."""
    return _instrumenter("mistral")(client)


def instrument_langchain(client: Any = None) -> Instrumentation:
    """Trace LangChain model runs: one model's (``client``) or every run (None)."""
    return _instrumenter("langchain")(client)


def instrument_llamaindex(client: Any = None) -> Instrumentation:
    """Trace every LlamaIndex LLM call (process-wide; ``client`` is ignored)."""
    return _instrumenter("llamaindex")(client)


def instrument_openai_agents(client: Any = None) -> Instrumentation:
    """Trace every OpenAI Agents SDK model call (process-wide; ``client`` is ignored)."""
    return _instrumenter("openai_agents")(client)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package (``google``) raises
        return False


def autoinstrument(libraries: Iterable[str] | None = None) -> list[Instrumentation]:
    """Instrument every installed provider (or only ``libraries``), globally.

    Libraries that are not installed are skipped silently; a library that fails to
    instrument is logged and skipped, never raised. Unknown names raise ``ValueError``.
    """
    names = list(LIBRARIES if libraries is None else libraries)
    unknown = [name for name in names if name not in _WRAPPERS]
    if unknown:
        raise ValueError(f"unknown libraries {unknown}; known: {', '.join(LIBRARIES)}")
    handles: list[Instrumentation] = []
    for name in names:
        if not _installed(_WRAPPERS[name][1]):
            continue
        try:
            handles.append(_instrumenter(name)(None))
        except ImportError:
            continue
        except Exception:
            logger.warning("margin: could not instrument %s", name, exc_info=True)
    return handles
