"""Encoders: the bundled WordLlama default, framework adapters, and the OpenAI-compatible client."""

from __future__ import annotations

import asyncio
import copy
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from llama_index.core.embeddings import MockEmbedding
from pydantic import SecretStr

import routing_chat_model.encoders as encoders
from routing_chat_model.encoders import (
    CallableEncoder,
    Encoder,
    LangChainEncoder,
    LlamaIndexEncoder,
    OpenAICompatibleEncoder,
    WordLlamaEncoder,
    as_encoder,
    check_vectors,
    default_encoder,
)
from routing_chat_model.errors import EncoderError, RouteConfigError
from tests.support.openai_server import OpenAIServer, hashed_embedding

SRC = str(Path(__file__).resolve().parents[2] / "src")
KEY = "sk-test-0123456789abcdef"
AUTH = {"authorization": "Bearer x"}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def run_python(code: str) -> str:
    """Run `code` in a fresh interpreter (nothing imported yet) and return its stdout."""
    paths = [p for p in sys.path if p]
    env_path = ":".join([*paths, SRC])
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": env_path, "HF_HUB_OFFLINE": "1"},
    )
    return result.stdout.strip()


def test_exports_are_sorted_and_complete() -> None:
    public = {n for n in vars(encoders) if not n.startswith("_")} - {"adapters", "base"}
    public -= {"annotations", "wordllama", "openai_compatible"}
    assert encoders.__all__ == sorted(encoders.__all__)
    assert set(encoders.__all__) == public


# -- WordLlama -------------------------------------------------------------------------------


def test_wordllama_embeds_offline_as_unit_float32_rows() -> None:
    vectors = WordLlamaEncoder().encode(["hello world", "good morning", "reset my password"])

    assert vectors.shape == (3, 256)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_wordllama_puts_paraphrases_closer_than_unrelated_texts() -> None:
    a, b, c = default_encoder().encode(
        [
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "What is the capital of France?",
        ]
    )
    assert cosine(a, b) > cosine(a, c) + 0.3
    assert cosine(a, b) > cosine(b, c) + 0.3


def test_wordllama_is_deterministic_and_async_matches_sync() -> None:
    encoder = WordLlamaEncoder()
    texts = ["route me", "to the strong model"]

    async_vectors = asyncio.run(encoder.aencode(texts))

    np.testing.assert_array_equal(encoder.encode(texts), async_vectors)
    np.testing.assert_array_equal(encoder.encode(texts[:1]), encoder.encode(texts)[:1])


def test_wordllama_edge_inputs_stay_finite() -> None:
    vectors = WordLlamaEncoder().encode(["", "   ", "😀", "x" * 5_000])

    assert np.isfinite(vectors).all()
    assert not vectors[0].any()  # no tokens -> zero vector, not NaN
    assert WordLlamaEncoder().encode([]).shape == (0, 256)


def test_wordllama_smaller_dims_are_prefixes_renormalised() -> None:
    full = WordLlamaEncoder().encode(["a short question"])
    small = WordLlamaEncoder(dim=64).encode(["a short question"])

    assert small.shape == (1, 64)
    expected = full[:, :64] / np.linalg.norm(full[:, :64])
    np.testing.assert_allclose(small, expected, rtol=1e-5, atol=1e-6)
    assert WordLlamaEncoder(dim=64).name == "wordllama-l2_supercat-64"


@pytest.mark.parametrize("dim", [0, 100, 512, True, 256.0])
def test_wordllama_rejects_unsupported_dims(dim: object) -> None:
    with pytest.raises(RouteConfigError, match="dim"):
        WordLlamaEncoder(dim=dim)  # type: ignore[arg-type]


def test_wordllama_name_and_shared_default() -> None:
    assert default_encoder() is default_encoder()
    assert as_encoder(None) is default_encoder()
    assert default_encoder().name == "wordllama-l2_supercat-256"
    assert isinstance(default_encoder(), Encoder)


def test_importing_and_constructing_loads_no_model_and_keeps_logging() -> None:
    out = run_python(
        """
        import logging, sys
        root = logging.getLogger()
        before = (list(root.handlers), root.level)
        from routing_chat_model.encoders import WordLlamaEncoder, default_encoder, as_encoder
        encoder = WordLlamaEncoder()
        as_encoder(None)
        print("wordllama" in sys.modules, "tokenizers" in sys.modules)
        encoder.encode(["now it loads"])
        print("wordllama" in sys.modules, (list(root.handlers), root.level) == before)
        """
    )
    assert out.splitlines() == ["False False", "True True"]


def test_concurrent_first_use_loads_the_model_once() -> None:
    out = run_python(
        """
        import threading
        import wordllama
        from routing_chat_model.encoders import WordLlamaEncoder

        calls = []
        original = wordllama.WordLlama.load.__func__
        def counting_load(cls, *args, **kwargs):
            calls.append(1)
            return original(cls, *args, **kwargs)
        wordllama.WordLlama.load = classmethod(counting_load)

        barrier = threading.Barrier(8)
        results = []
        def work():
            barrier.wait()
            results.append(WordLlamaEncoder().encode(["same text"]))
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(len(calls), len(results), all((r == results[0]).all() for r in results))
        """
    )
    assert out == "1 8 True"


# -- check_vectors -----------------------------------------------------------------------------


def test_check_vectors_converts_lists_to_float32() -> None:
    vectors = check_vectors([[1, 2], [3, 4]], 2, "enc")
    assert vectors.dtype == np.float32 and vectors.shape == (2, 2)
    assert check_vectors([], 0, "enc", dim=8).shape == (0, 8)


@pytest.mark.parametrize(
    ("raw", "n", "dim", "message"),
    [
        ([[1.0, 2.0], [1.0]], 2, None, "not a rectangular array"),
        ([["a", "b"]], 1, None, "not a rectangular array"),
        ([[1.0, 2.0]], 2, None, "1 vector"),
        ([1.0, 2.0], 2, None, "shape"),
        ([[1.0, 2.0], [3.0, 4.0]], 2, 3, "2-dimensional vectors where 3"),
        ([[1.0, math.nan], [1.0, 2.0]], 2, None, "NaN or infinite values in 1 of 2"),
        ([[1e300, 1.0]], 1, None, "NaN or infinite"),
        ([[], []], 2, None, "zero-width"),
    ],
)
def test_check_vectors_rejects_bad_output(
    raw: object, n: int, dim: int | None, message: str
) -> None:
    with pytest.raises(EncoderError, match=message) as info:
        check_vectors(raw, n, "my-encoder", dim=dim)
    assert "'my-encoder'" in str(info.value)


# -- adapters ----------------------------------------------------------------------------------


async def test_langchain_embeddings_adapter_sync_and_async() -> None:
    embeddings = DeterministicFakeEmbedding(size=8)
    encoder = LangChainEncoder(embeddings)
    texts = ["alpha", "beta"]

    vectors = encoder.encode(texts)
    async_vectors = await encoder.aencode(texts)

    assert vectors.shape == (2, 8) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.array(embeddings.embed_documents(texts)), rtol=1e-6)
    np.testing.assert_array_equal(vectors, async_vectors)
    assert encoder.name == "langchain:DeterministicFakeEmbedding"
    assert isinstance(encoder, Encoder)


async def test_llama_index_embedding_adapter_sync_and_async() -> None:
    encoder = LlamaIndexEncoder(MockEmbedding(embed_dim=8))

    vectors = encoder.encode(["a", "b", "c"])
    async_vectors = await encoder.aencode(["a", "b", "c"])

    assert vectors.shape == (3, 8) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, async_vectors)
    assert encoder.name == "llama_index:MockEmbedding"


async def test_callable_encoder_sync_async_and_async_twin() -> None:
    def fn(texts: list[str]) -> list[list[float]]:
        return [[float(len(t)), 1.0] for t in texts]

    async def afn(texts: list[str]) -> list[list[float]]:
        return [[float(len(t)), 2.0] for t in texts]

    plain = CallableEncoder(fn)
    twin = CallableEncoder(fn, name="lengths", afn=afn)

    np.testing.assert_array_equal(plain.encode(["ab", "c"]), [[2.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(await plain.aencode(["ab"]), [[2.0, 1.0]])
    np.testing.assert_array_equal(await twin.aencode(["ab"]), [[2.0, 2.0]])
    assert plain.name.startswith("callable:") and "fn" in plain.name
    assert twin.name == "lengths"


def test_callable_encoder_rejects_async_fn() -> None:
    async def afn(texts: list[str]) -> list[list[float]]:
        return []

    def sync(texts: list[str]) -> list[list[float]]:
        return []

    with pytest.raises(RouteConfigError, match="afn="):
        CallableEncoder(afn)
    with pytest.raises(RouteConfigError, match="afn"):
        CallableEncoder(sync, afn=sync)  # type: ignore[arg-type]


class RaggedEmbeddings:
    """A LangChain-shaped embedder (duck-typed) returning one short row."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[0.1, 0.2, 0.3]] * (len(texts) - 1) + [[0.1]]


class NaNEmbedModel:
    """A LlamaIndex-shaped embedder (duck-typed) returning NaN."""

    model_name = "nan-model"

    def get_text_embedding_batch(self, texts: list[str]) -> list[list[float]]:
        return [[math.nan, 0.0] for _ in texts]


def test_adapters_raise_encoder_error_naming_the_encoder() -> None:
    with pytest.raises(EncoderError, match=r"'langchain:RaggedEmbeddings'.*rectangular"):
        as_encoder(RaggedEmbeddings()).encode(["a", "b"])
    with pytest.raises(EncoderError, match=r"'llama_index:NaNEmbedModel:nan-model'.*NaN"):
        asyncio.run(as_encoder(NaNEmbedModel()).aencode(["a"]))  # sync fallback in a thread
    with pytest.raises(EncoderError, match=r"'short' returned 1 vector.* for 2"):
        CallableEncoder(lambda texts: [[1.0]], name="short").encode(["a", "b"])


def test_adapters_do_not_call_the_backend_for_an_empty_batch() -> None:
    def boom(texts: list[str]) -> list[list[float]]:
        raise AssertionError("called")

    assert CallableEncoder(boom).encode([]).shape[0] == 0


def test_as_encoder_dispatch() -> None:
    wordllama = WordLlamaEncoder(dim=64)

    assert as_encoder(wordllama) is wordllama
    assert isinstance(as_encoder(DeterministicFakeEmbedding(size=4)), LangChainEncoder)
    # LlamaIndex embeddings are callable; they must still get the LlamaIndex adapter.
    assert isinstance(as_encoder(MockEmbedding(embed_dim=4)), LlamaIndexEncoder)
    assert isinstance(as_encoder(lambda texts: [[1.0]] * len(texts)), CallableEncoder)


@pytest.mark.parametrize("bad", [42, "text-embedding-3-small", DeterministicFakeEmbedding])
def test_as_encoder_rejects_other_objects_saying_what_is_accepted(bad: object) -> None:
    with pytest.raises(RouteConfigError, match=r"encoder: .*LangChain Embeddings") as info:
        as_encoder(bad)
    assert isinstance(info.value, ValueError)


def test_adapters_reject_objects_of_the_wrong_kind() -> None:
    with pytest.raises(RouteConfigError, match="embed_documents"):
        LangChainEncoder(MockEmbedding(embed_dim=4))
    with pytest.raises(RouteConfigError, match="get_text_embedding_batch"):
        LlamaIndexEncoder(DeterministicFakeEmbedding(size=4))


# -- OpenAI-compatible over HTTP ---------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    # Reversed order: the encoder must sort by `index`.
    with OpenAIServer(name="emb", embedding_dim=12, reverse_embeddings=True) as srv:
        yield srv


def expected(texts: list[str], dim: int = 12) -> np.ndarray:
    return np.array([hashed_embedding(t, dim) for t in texts], dtype=np.float32)


def test_openai_encoder_batches_and_keeps_order(server: OpenAIServer) -> None:
    texts = ["hello there", "prove the theorem", "thanks", "write code", "bye"]
    with OpenAICompatibleEncoder(server.base_url, "emb-model", batch_size=2) as encoder:
        vectors = encoder.encode(texts)

    np.testing.assert_allclose(vectors, expected(texts), rtol=1e-6)
    bodies = [r.body for r in server.requests_to("embeddings")]
    assert [b["input"] for b in bodies] == [texts[0:2], texts[2:4], texts[4:]]
    assert all(b["model"] == "emb-model" and "dimensions" not in b for b in bodies)
    assert "authorization" not in server.requests[0].headers


async def test_openai_encoder_async_and_across_event_loops(server: OpenAIServer) -> None:
    encoder = OpenAICompatibleEncoder(server.base_url, "m", batch_size=2, dimensions=6)
    texts = ["a b", "c", "d e f"]

    async def in_another_loop() -> np.ndarray:
        try:
            return await encoder.aencode(texts)
        finally:
            await encoder.aclose()  # closes that loop's client

    vectors = await encoder.aencode(texts)
    # A second event loop (as a sync caller running asyncio.run would create) gets its own client.
    other = await asyncio.to_thread(asyncio.run, in_another_loop())
    await encoder.aclose()

    assert vectors.shape == (3, 6)
    np.testing.assert_allclose(vectors, expected(texts, 6), rtol=1e-6)
    np.testing.assert_array_equal(vectors, other)
    assert all(r.body["dimensions"] == 6 for r in server.requests_to("embeddings"))
    assert encoder.name == "openai-compatible:m:6"


def test_openai_encoder_sends_the_key_but_never_shows_it(server: OpenAIServer) -> None:
    encoder = OpenAICompatibleEncoder(server.base_url, "m", api_key=KEY, headers={"X-Team": "a"})
    encoder.encode(["one"])
    server.fail_next(401, endpoint="embeddings", message=f"Incorrect API key provided: {KEY}")

    with pytest.raises(EncoderError) as info:
        encoder.encode(["two"])
    encoder.close()

    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert server.requests[0].headers["x-team"] == "a"
    message = str(info.value)
    assert "HTTP 401" in message and "Incorrect API key provided" in message
    assert KEY not in message and KEY not in repr(info.value)
    assert KEY not in repr(encoder) and KEY not in str(encoder) and KEY not in encoder.name
    assert KEY not in repr(vars(encoder))


async def test_openai_encoder_http_errors_carry_status_and_server_message(
    server: OpenAIServer,
) -> None:
    encoder = OpenAICompatibleEncoder(server.base_url, "m", api_key=SecretStr(KEY))
    server.fail_next(503, endpoint="embeddings", message="model is loading")
    server.fail_next(429, endpoint="embeddings", body={"error": "slow down"})

    with pytest.raises(EncoderError, match="HTTP 503: model is loading"):
        encoder.encode(["x"])
    with pytest.raises(EncoderError, match="HTTP 429: slow down"):
        await encoder.aencode(["x"])
    await encoder.aclose()


def test_openai_encoder_timeouts_drops_and_refused_connections(server: OpenAIServer) -> None:
    impatient = OpenAICompatibleEncoder(server.base_url, "m", timeout=0.2)
    encoder = OpenAICompatibleEncoder(server.base_url, "m")
    server.hang_next(30.0, endpoint="embeddings")
    server.drop_next(endpoint="embeddings")

    with pytest.raises(EncoderError, match=r"no response within 0.2s"):
        impatient.encode(["x"])
    with pytest.raises(EncoderError, match="request failed"):
        encoder.encode(["x"])
    assert encoder.encode(["x"]).shape == (1, 12)  # usable again after failures
    impatient.close()
    encoder.close()

    port = server.port
    server.stop()
    with (
        OpenAICompatibleEncoder(f"http://127.0.0.1:{port}/v1", "m") as refused,
        pytest.raises(EncoderError, match="ConnectError"),
    ):
        refused.encode(["x"])


def test_openai_encoder_rejects_a_body_that_is_not_embeddings(server: OpenAIServer) -> None:
    server.fail_next(200, endpoint="embeddings", body={"data": [{"index": 0}]})
    server.fail_next(200, endpoint="embeddings", body="<html>hello</html>")
    with OpenAICompatibleEncoder(server.base_url, "m") as encoder:
        for _ in range(2):
            with pytest.raises(EncoderError, match="not an embeddings response"):
                encoder.encode(["x"])


def test_openai_encoder_decodes_base64_and_counts_rows(server: OpenAIServer) -> None:
    b64 = "AACAPwAAAEA="  # float32 little-endian [1.0, 2.0]
    server.fail_next(200, endpoint="embeddings", body={"data": [{"index": 0, "embedding": b64}]})
    server.fail_next(200, endpoint="embeddings", body={"data": [{"index": 0, "embedding": [1]}]})
    with OpenAICompatibleEncoder(server.base_url, "m") as encoder:
        np.testing.assert_array_equal(encoder.encode(["x"]), [[1.0, 2.0]])
        with pytest.raises(EncoderError, match=r"returned 1 embedding.* for 2"):
            encoder.encode(["x", "y"])


def test_openai_encoder_builds_without_network_and_empty_batch_sends_nothing() -> None:
    encoder = OpenAICompatibleEncoder("http://127.0.0.1:9/v1/", "m", dimensions=4)

    assert encoder.encode([]).shape == (0, 4)
    assert encoder.base_url == "http://127.0.0.1:9/v1"


def test_openai_encoder_survives_deepcopy() -> None:
    encoder = OpenAICompatibleEncoder("http://127.0.0.1:9/v1", "m")
    assert copy.deepcopy({"encoder": encoder})["encoder"] is encoder


def test_openai_encoder_hides_url_credentials() -> None:
    encoder = OpenAICompatibleEncoder("https://user:hunter2@example.com/v1?key=hunter2", "m")
    assert "hunter2" not in repr(encoder) and "hunter2" not in encoder.base_url


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base_url": "", "model": "m"}, "base_url"),
        ({"base_url": "127.0.0.1:11434/v1", "model": "m"}, "base_url"),
        ({"base_url": "http://h:99999/v1", "model": "m"}, "base_url"),
        ({"base_url": "http://h/v1/embeddings", "model": "m"}, "base_url"),
        ({"base_url": "http://h/v1", "model": " "}, "model"),
        ({"base_url": "http://h/v1", "model": "m", "timeout": 0}, "timeout"),
        ({"base_url": "http://h/v1", "model": "m", "timeout": math.nan}, "timeout"),
        ({"base_url": "http://h/v1", "model": "m", "batch_size": 0}, "batch_size"),
        ({"base_url": "http://h/v1", "model": "m", "batch_size": 2.5}, "batch_size"),
        ({"base_url": "http://h/v1", "model": "m", "dimensions": -1}, "dimensions"),
        ({"base_url": "http://h/v1", "model": "m", "api_key": ""}, "api_key"),
        ({"base_url": "http://h/v1", "model": "m", "api_key": KEY + "\n"}, "api_key"),
        (
            {
                "base_url": "http://h/v1",
                "model": "m",
                "api_key": KEY,
                "headers": {"authorization": "x"},
            },
            "headers",
        ),
    ],
)
def test_openai_encoder_validates_settings(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(RouteConfigError, match=f"^{field}:") as info:
        OpenAICompatibleEncoder(**kwargs)  # type: ignore[arg-type]
    assert KEY not in str(info.value)
