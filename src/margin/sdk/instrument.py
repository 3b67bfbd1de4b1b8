"""placeholder"""

from margin.sdk.wrappers._patch import Instrumentation
from margin.sdk.wrappers.openai import instrument_openai

__all__ = ["Instrumentation", "instrument_openai"]
