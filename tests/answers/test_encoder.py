"""The sentence encoder (numpy embeddings, ONNX Runtime layers) gives sentence-transformers' all-MiniLM-L6-v2
vectors: without the adapter, exactly (cosine >= 0.99999) with the float32 graph, and within cosine 0.998 with the
int8 one; with the shipped adapter (what the bot runs), int8 stays within cosine 0.998 of float32. A missing or
damaged model directory is refused with a clear, catchable error, and the prebuilt graph file (encoder.onnx) is
used only when it is this version's graph of these weights and this adapter.

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

from bot.answers.adapter import Adapter
from bot.answers.encoder import MAX_TOKENS, EncoderUnavailable, SentenceEncoder
from bot.answers.model_files import (
    DIMENSION,
    GRAPH_FILE,
    GRAPH_VERSION,
    _graph_bytes,
    _save_graph,
    index_safetensors,
    weights_sha256,
)
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


@pytest.fixture(scope="module")
def exact_vectors(encoder: SentenceEncoder) -> np.ndarray:
    """The published model's vectors in float32 (no adapter)."""
    exact = SentenceEncoder.load(encoder.directory, precision="float32", adapter=None)
    return exact.encode([item["text"] for item in ITEMS])


@pytest.fixture(scope="module")
def published_vectors(encoder: SentenceEncoder) -> np.ndarray:
    """The published model's vectors in int8 (no adapter)."""
    published = SentenceEncoder.load(encoder.directory, adapter=None)
    return published.encode([item["text"] for item in ITEMS])


def _cosine(got: np.ndarray, expected: np.ndarray) -> float:
    got, expected = got.astype(np.float64), expected.astype(np.float64)
    return float(got @ expected / (np.linalg.norm(got) * np.linalg.norm(expected)))


def test_reference_covers_what_it_claims() -> None:
    texts = [item["text"] for item in ITEMS]
    assert len(texts) >= 12
    assert "" in texts
    assert any(item["word_pieces"] > MAX_TOKENS for item in ITEMS), "one sentence must exceed the 256-piece limit"
    assert any(not text.isascii() for text in texts)


@pytest.mark.parametrize("index", range(len(ITEMS)), ids=[item["text"][:24] or "<empty>" for item in ITEMS])
def test_float32_graph_matches_sentence_transformers(exact_vectors: np.ndarray, index: int) -> None:
    expected = np.asarray(ITEMS[index]["vector"], dtype=np.float64)
    cosine = _cosine(exact_vectors[index], expected)
    assert cosine >= 0.99999, f"cosine {cosine:.7f} for {ITEMS[index]['text'][:40]!r}"
    assert np.abs(exact_vectors[index] - expected).max() < 2e-4


def test_int8_graph_stays_within_cosine_0_998_of_sentence_transformers(published_vectors: np.ndarray) -> None:
    """The bot's int8 weights move each vector a little (measured: 0.9984 for an empty text, 0.9990 for "Hi",
    0.9994-0.9998 for questions); a wrong layer or a mis-laid weight block would move it far more."""
    cosines = [_cosine(published_vectors[i], np.asarray(item["vector"])) for i, item in enumerate(ITEMS)]
    print(f"int8 vs sentence-transformers: cosine min {min(cosines):.5f}, mean {np.mean(cosines):.5f}")
    assert min(cosines) >= 0.998, [f"{c:.5f} {item['text'][:30]!r}" for c, item in zip(cosines, ITEMS, strict=True)]


def test_the_adapted_int8_graph_stays_within_cosine_0_998_of_the_adapted_float32_one(
    encoder: SentenceEncoder, vectors: np.ndarray, published_vectors: np.ndarray
) -> None:
    """The bot's encoder is the published model plus the shipped adapter (bot/answers/adapter.py): its int8 graph
    is as close to its float32 one as the published model's are, and the adapter really moves the vectors."""
    assert encoder.adapter_sha256 == Adapter.load().sha256
    exact = SentenceEncoder.load(encoder.directory, precision="float32").encode([item["text"] for item in ITEMS])
    cosines = [_cosine(vectors[i], exact[i]) for i in range(len(ITEMS))]
    print(f"adapted int8 vs adapted float32: cosine min {min(cosines):.5f}")
    assert min(cosines) >= 0.998
    moved = [_cosine(vectors[i], published_vectors[i]) for i in range(len(ITEMS))]
    assert min(moved) < 0.95, f"the adapter hardly changes the vectors (cosine min {min(moved):.4f})"


def test_a_damaged_adapter_is_refused_with_the_fix(encoder: SentenceEncoder, tmp_path: Path) -> None:
    bad = tmp_path / "adapter.npz"
    bad.write_bytes(b"PK not really a zip file")
    with pytest.raises(EncoderUnavailable, match="adapter is unusable") as caught:
        SentenceEncoder.load(encoder.directory, adapter=bad)
    assert "make model" in str(caught.value)
    with pytest.raises(EncoderUnavailable, match="adapter is unusable"):
        SentenceEncoder.load(encoder.directory, adapter=tmp_path / "missing.npz")


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


def test_a_graph_onnx_runtime_refuses_is_reported_as_an_unusable_model(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.answers.bert_graph.transformer_graph", lambda *_args, **_kwargs: b"not an onnx model")
    with pytest.raises(EncoderUnavailable, match="ONNX Runtime refused the graph") as caught:
        SentenceEncoder.load(model_copy)
    assert "make model" in str(caught.value)


def _labels(path: Path) -> dict[str, str]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def _graph_not_written_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("the graph was written again")

    monkeypatch.setattr("bot.answers.bert_graph.transformer_graph", refuse)


def test_without_a_graph_file_the_graph_is_written_once_and_then_reused(
    model_copy: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not (model_copy / GRAPH_FILE).exists()
    first = SentenceEncoder.load(model_copy)
    labels = _labels(model_copy / GRAPH_FILE)
    assert labels == {
        "copbot.graph_version": GRAPH_VERSION,
        "copbot.weights_sha256": weights_sha256(model_copy),
        "copbot.adapter_sha256": Adapter.load().sha256,
    }
    assert list(model_copy.glob(".*partial")) == []
    _graph_not_written_here(monkeypatch)
    again = SentenceEncoder.load(model_copy)
    texts = [item["text"] for item in ITEMS]
    np.testing.assert_allclose(first.encode(texts), vectors, atol=1e-5)
    np.testing.assert_allclose(again.encode(texts), vectors, atol=1e-5)


def test_the_manifest_names_the_weights_without_reading_them(model_copy: Path, encoder: SentenceEncoder) -> None:
    computed = weights_sha256(model_copy)  # no manifest in the copy: hashed
    assert computed == json.loads((encoder.directory / "manifest.json").read_text())["files"]["model.safetensors"]
    (model_copy / "manifest.json").write_text(json.dumps({"files": {"model.safetensors": "ab" * 32}}))
    assert weights_sha256(model_copy) == "ab" * 32


@pytest.mark.parametrize("stale", ["another graph version", "other weights", "another adapter", "a damaged file"])
def test_a_stale_or_damaged_graph_file_is_written_again(
    model_copy: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch, stale: str
) -> None:
    SentenceEncoder.load(model_copy)
    if stale == "another graph version":
        monkeypatch.setattr("bot.answers.model_files.GRAPH_VERSION", "int8-block32-v0")
    elif stale == "other weights":
        (model_copy / "manifest.json").write_text(json.dumps({"files": {"model.safetensors": "cd" * 32}}))
    elif stale == "another adapter":  # the graph of an older adapter, labelled as such
        shipped = Adapter.load()
        older = Adapter(shipped.factors, shipped.scale * 0.5, "ef" * 32, {}, shipped.path)
        weights = model_copy / "model.safetensors"
        labels = {
            "copbot.graph_version": GRAPH_VERSION,
            "copbot.weights_sha256": weights_sha256(model_copy),
            "copbot.adapter_sha256": older.sha256,
        }
        _save_graph(model_copy, _graph_bytes(weights, index_safetensors(weights), "int8", older, labels))
    else:
        _replace(model_copy / GRAPH_FILE, b"\x08\x08 half a protobuf")
    reloaded = SentenceEncoder.load(model_copy)
    np.testing.assert_allclose(reloaded.encode([item["text"] for item in ITEMS]), vectors, atol=1e-5)
    labels = _labels(model_copy / GRAPH_FILE)
    assert labels["copbot.weights_sha256"] == weights_sha256(model_copy)
    assert labels["copbot.adapter_sha256"] == Adapter.load().sha256
    assert labels["copbot.graph_version"] == ("int8-block32-v0" if stale == "another graph version" else GRAPH_VERSION)


def test_a_read_only_model_directory_still_loads(
    model_copy: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def read_only(*_args: object) -> Path:
        raise PermissionError("read-only file system")

    monkeypatch.setattr("bot.answers.model_files._save_graph", read_only)
    encoder = SentenceEncoder.load(model_copy)
    np.testing.assert_allclose(encoder.encode([item["text"] for item in ITEMS]), vectors, atol=1e-5)
    assert not (model_copy / GRAPH_FILE).exists()
    assert "could not save" in caplog.text


def test_make_model_writes_the_graph_file_with_the_command_line(model_copy: Path) -> None:
    from bot.answers.bert_graph import main

    assert main([str(model_copy)]) == 0
    assert _labels(model_copy / GRAPH_FILE)["copbot.graph_version"] == GRAPH_VERSION
    assert main([str(model_copy / "nowhere")]) == 1
