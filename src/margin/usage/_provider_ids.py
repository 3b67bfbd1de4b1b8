"""Provider names as instrumentations spell them, mapped to the price catalog's ids."""

from __future__ import annotations

__all__ = ["canonical_provider"]

_PROVIDER_IDS: dict[str, str] = {
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "aws_bedrock": "aws",
    "amazon-bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "gemini": "google",
    "google_genai": "google",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "azure_openai": "azure",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "xai": "x-ai",
    "x_ai": "x-ai",
    "together_ai": "together",
}


def canonical_provider(name: str | None) -> str | None:
    """The price catalog's provider id for a provider name (``aws.bedrock`` → ``aws``);
    an unknown name is returned lower-cased."""
    if not name:
        return None
    key = name.strip().lower()
    return _PROVIDER_IDS.get(key, key)
