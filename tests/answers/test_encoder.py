"""The sentence encoder (numpy embeddings, ONNX Runtime layers) gives sentence-transformers' all-MiniLM-L6-v2
vectors (to cosine >= 0.99999), and a missing or damaged model directory is refused with a clear, catchable error.

The reference vectors (``minilm_reference.json``) were made once with sentence-transformers itself by
``make_minilm_reference.py``. These tests need the model files that ``make test`` fetches (``make model``) into
``COPBOT_MODEL_DIR`` (default ``var/models/all-MiniLM-L6-v2``). Without them they FAIL with that hint; only
``COPBOT_ALLOW_NO_MODEL=1`` turns that into a skip (for a machine that cannot download the model).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from bot.answers.encoder import DIMENSION, MAX_TOKENS, EncoderUnavailable, SentenceEncoder
from tests.answers.model import encoder_for_tests

REFERENCE = json.loads(Path(__file__).with_name("minilm_reference.json").read_text(encoding="utf-8"))
ITEMS = REFERENCE["items"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return encoder_for_tests()


@pytest.fixture(scope="module")
def vectors(encoder: SentenceEncoder) -> np.ndarray:
    return encoder.encode([item["text"] for item in ITEMS])


def test_reference_covers_what_it_claims() -> None:
    texts = [item["text"] for item in ITEMS]
    assert len(texts) >= 12
    assert "" in texts
    assert any(item["word_pieces"] > MAX_TOKENS for item in ITEMS), "one sentence must exceed the 256-piece limit"
    assert any(not text.isascii() for text in texts)


@pytest.mark.parametrize("index", range(len(ITEMS)), ids=[item["text"][:24] or "<empty>" for item in ITEMS])
def test_matches_sentence_transformers(vectors: np.ndarray, index: int) -> None:
    expected = np.asarray(ITEMS[index]["vector"], dtype=np.float64)
    got = vectors[index].astype(np.float64)
    cosine = float(got @ expected / (np.linalg.norm(got) * np.linalg.norm(expected)))
    assert cosine >= 0.99999, f"cosine {cosine:.7f} for {ITEMS[index]['text'][:40]!r}"
    assert np.abs(got - expected).max() < 2e-4


def test_vectors_are_unit_float32_rows_in_input_order(encoder: SentenceEncoder, vectors: np.ndarray) -> None:
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(ITEMS), DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # texts with distinct word pieces get distinct vectors ("" and whitespace are both just [CLS] [SEP])
    assert len({row.round(4).tobytes() for row in vectors}) == len(ITEMS) - 1
    reversed_vectors = encoder.encode([item["text"] for item in reversed(ITEMS)])
    np.testing.assert_allclose(reversed_vectors[::-1], vectors, atol=1e-5)


def test_batch_and_single_give_the_same_vectors(encoder: SentenceEncoder, vectors: np.ndarray) -> None:
    for index, item in enumerate(ITEMS):
        np.testing.assert_allclose(encoder.encode([item["text"]])[0], vectors[index], atol=1e-5)


def test_many_texts_span_several_batches(encoder: SentenceEncoder, vectors: np.ndarray) -> None:
    texts = [item["text"] for item in ITEMS] * 30  # 390 texts: several length-sorted batches
    many = encoder.encode(texts)
    np.testing.assert_allclose(many, np.tile(vectors, (30, 1)), atol=1e-5)


def test_truncation_keeps_the_first_256_word_pieces(encoder: SentenceEncoder) -> None:
    long = next(item["text"] for item in ITEMS if item["word_pieces"] > MAX_TOKENS)
    longer = long + " Completely different closing words about volcanoes and submarines." * 20
    np.testing.assert_allclose(encoder.encode([longer])[0], encoder.encode([long])[0], atol=1e-6)


def test_no_texts_and_a_bare_string_are_handled(encoder: SentenceEncoder) -> None:
    assert encoder.encode([]).shape == (0, DIMENSION)
    with pytest.raises(TypeError):
        encoder.encode("a string is not a list of texts")


def test_similar_questions_are_closer_than_unrelated_ones(encoder: SentenceEncoder) -> None:
    join, join_again, lunch = encoder.encode(
        ["How do I join a community of practice?", "How can I become a member of a CoP?", "Is the canteen open?"]
    )
    assert float(join @ join_again) > float(join @ lunch) + 0.2


def test_onnx_runtime_uses_two_threads_and_openblas_one(encoder: SentenceEncoder) -> None:
    """The layers run on ONNX Runtime's threads (two on a machine with two CPUs); numpy's OpenBLAS, which the
    ranker uses, is capped at one thread, so it never spins on the event loop's core."""
    assert encoder.threads == min(2, os.cpu_count() or 1)
    blas = ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("numpy is not linked to a BLAS threadpoolctl can control")
    assert [library.get_num_threads() for library in blas.lib_controllers] == [1] * len(blas.lib_controllers)


def test_one_thread_gives_the_same_vectors(encoder: SentenceEncoder, vectors: np.ndarray) -> None:
    single = SentenceEncoder.load(encoder.directory, threads=1)
    assert single.threads == 1
    np.testing.assert_allclose(single.encode([item["text"] for item in ITEMS]), vectors, atol=1e-5)


def test_a_graph_onnx_runtime_refuses_is_reported_as_an_unusable_model(
    encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.answers.bert_graph.transformer_graph", lambda *_args, **_kwargs: b"not an onnx model")
    with pytest.raises(EncoderUnavailable, match="ONNX Runtime refused the graph") as caught:
        SentenceEncoder.load(encoder.directory)
    assert "make model" in str(caught.value)


def test_a_missing_directory_is_refused_with_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(EncoderUnavailable, match="make model") as caught:
        SentenceEncoder.load(missing)
    assert str(missing) in str(caught.value)
    assert "does not exist" in str(caught.value)
    assert caught.value.directory == missing


@pytest.fixture
def model_copy(encoder: SentenceEncoder, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("tokenizer.json", "config.json", "model.safetensors"):
        (copy / name).symlink_to(encoder.directory.resolve() / name)
    return copy


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


@pytest.mark.parametrize(
    ("name", "damage", "reason"),
    [
        ("model.safetensors", None, "model.safetensors is missing"),
        ("tokenizer.json", None, "tokenizer.json is missing"),
        ("config.json", None, "config.json is missing"),
        ("model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}", "model.safetensors is unreadable"),
        ("model.safetensors", b"", "model.safetensors is unreadable"),
        ("tokenizer.json", b"{}", "tokenizer.json is unreadable"),
        ("config.json", b'{"hidden_size": 768}', "config.json is not all-MiniLM-L6-v2's"),
        ("config.json", b"[1, 2", "config.json is unreadable"),
    ],
)
def test_a_damaged_model_is_refused(model_copy: Path, name: str, damage: bytes | None, reason: str) -> None:
    if damage is None:
        (model_copy / name).unlink()
    else:
        _replace(model_copy / name, damage)
    with pytest.raises(EncoderUnavailable, match="make model") as caught:
        SentenceEncoder.load(model_copy)
    assert reason in str(caught.value)


def test_a_truncated_weights_file_is_refused(model_copy: Path) -> None:
    source = (model_copy / "model.safetensors").resolve()
    target = model_copy / "model.safetensors"
    target.unlink()
    with source.open("rb") as handle, target.open("wb") as out:
        shutil.copyfileobj(handle, out)
        out.truncate(source.stat().st_size // 2)
    with pytest.raises(EncoderUnavailable, match="outside the file"):
        SentenceEncoder.load(model_copy)
