"""Encoders: turn texts into vectors for embedding-based routing.

`as_encoder` accepts what users naturally have at hand: nothing (the bundled offline WordLlama
model), an `Encoder`, a LangChain `Embeddings`, a LlamaIndex `BaseEmbedding` or a plain function.
Importing this package loads no model and opens no connection.
"""

from __future__ import annotations

from routing_chat_model.encoders.adapters import (
    CallableEncoder,
    LangChainEncoder,
    LlamaIndexEncoder,
    as_encoder,
    check_vectors,
)
from routing_chat_model.encoders.base import Encoder, Vectors
from routing_chat_model.encoders.openai_compatible import OpenAICompatibleEncoder
from routing_chat_model.encoders.wordllama import WordLlamaEncoder, default_encoder

__all__ = [
    "CallableEncoder",
    "Encoder",
    "LangChainEncoder",
    "LlamaIndexEncoder",
    "OpenAICompatibleEncoder",
    "Vectors",
    "WordLlamaEncoder",
    "as_encoder",
    "check_vectors",
    "default_encoder",
]
