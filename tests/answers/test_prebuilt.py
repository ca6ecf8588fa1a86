"""The programme FAQ's vectors written by ``make model`` (bot/answers/prebuilt.py): texts the file holds are not
encoded again, only when its probe shows the same model wrote it; a missing, damaged or foreign file costs time,
never an answer. With the real model: the file ``make model`` wrote matches the model, and the first question after
a start encodes the probe and itself, not the FAQ."""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.answers import prebuilt as prebuilt_module
from bot.answers.encoder import EncoderUnavailable, LazyEncoder
from bot.answers.examples import load_examples
from bot.answers.faq import load_programme_faq
from bot.answers.prebuilt import FILE_NAME, PROBE, READ_AT_LEAST, PrebuiltEncoder, main, write
from bot.answers.ranker import DEFAULT_CALIBRATION, Encoder, FaqIndex, FloatArray, index_texts
from storage.sqlite import SqliteStore
from tests.answers.model import REPO, model_dir
from tests.features.questions.kit import ASKER
from tests.kit.connector import FakeConnector
from tests.kit.harness import running_bot, test_settings


class HashEncoder:
    """Deterministic unit vectors from each text's hash (``salt`` makes "another model"); records what it encodes."""

    def __init__(self, salt: str = "") -> None:
        self.salt = salt
        self.texts: list[str] = []

    def vector(self, text: str) -> FloatArray:
        seed = int.from_bytes(hashlib.sha256((self.salt + text).encode()).digest()[:8], "big")
        v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.texts.extend(texts)
        return np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, 16), dtype=np.float32)


def programme_texts() -> list[str]:
    return index_texts(load_programme_faq()[1], load_examples())


def test_texts_in_the_file_are_answered_from_it_and_the_rest_encoded(tmp_path: Path) -> None:
    assert write(tmp_path, HashEncoder()) == len(set(programme_texts()))
    inner = HashEncoder()
    prebuilt = PrebuiltEncoder(inner, tmp_path / FILE_NAME)
    texts = [*programme_texts()[:40], "a question nobody wrote down", programme_texts()[0]]
    got = prebuilt.encode(texts)
    assert inner.texts == [PROBE, "a question nobody wrote down"]
    np.testing.assert_allclose(got, HashEncoder().encode(texts), atol=1e-7)
    assert prebuilt.known == len(set(programme_texts()))
    assert prebuilt.encode([]).shape[0] == 0
    assert prebuilt.remembers(programme_texts()[3])  # so the vector cache in front need not keep a copy
    assert not prebuilt.remembers("a question nobody wrote down")


def test_the_vectors_are_read_again_for_an_index_not_kept_between_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, HashEncoder())
    inner = HashEncoder()
    prebuilt = PrebuiltEncoder(inner, tmp_path / FILE_NAME)
    reads: list[Path] = []
    real = prebuilt_module._read

    def counted(path: Path) -> tuple[list[str], FloatArray, FloatArray]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(prebuilt_module, "_read", counted)
    texts = programme_texts()
    prebuilt.encode(texts[:100])
    assert len(reads) == 1
    held = [v for v in vars(prebuilt).values() if isinstance(v, dict) or getattr(v, "dtype", None) == np.float32]
    assert held == []  # no vectors kept between calls, only the texts' hashes
    got = prebuilt.encode(texts[200 : 200 + READ_AT_LEAST])  # an index's worth: read from the file again
    assert len(reads) == 2
    assert inner.texts == [PROBE]
    np.testing.assert_allclose(got, HashEncoder().encode(texts[200 : 200 + READ_AT_LEAST]), atol=1e-7)
    lone = prebuilt.encode([texts[300], "a question nobody wrote down"])  # a question: encoded, no read
    assert len(reads) == 2
    assert inner.texts == [PROBE, texts[300], "a question nobody wrote down"]
    np.testing.assert_allclose(lone, HashEncoder().encode([texts[300], "a question nobody wrote down"]), atol=1e-7)
    assert prebuilt.remembers(texts[300])  # a cache in front need not keep it: it is cheap to have again


def test_the_files_own_texts_in_its_order_get_its_array_not_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The programme index's build asks for exactly the file's texts: a copy beside the array read would set the
    bot's peak memory. Each call reads the file afresh, so an index may whiten what it gets in place."""
    write(tmp_path, HashEncoder())
    prebuilt = PrebuiltEncoder(HashEncoder(), tmp_path / FILE_NAME)
    read: list[FloatArray] = []
    real = prebuilt_module._read

    def kept(path: Path) -> tuple[list[str], FloatArray, FloatArray]:
        texts, vectors, probe = real(path)
        read.append(vectors)
        return texts, vectors, probe

    monkeypatch.setattr(prebuilt_module, "_read", kept)
    texts = list(dict.fromkeys(programme_texts()))
    first = prebuilt.encode(texts)
    assert first is read[-1]
    expected = HashEncoder().encode(texts)
    np.testing.assert_allclose(first, expected, atol=1e-7)
    first *= 0.0  # what an index's in-place whitening does to its own array
    second = prebuilt.encode(texts)
    assert second is not first
    np.testing.assert_allclose(second, expected, atol=1e-7)
    shuffled = texts[::-1]
    np.testing.assert_allclose(prebuilt.encode(shuffled), expected[::-1], atol=1e-7)


def test_a_file_replaced_after_its_check_is_checked_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, HashEncoder())
    inner = HashEncoder()
    prebuilt = PrebuiltEncoder(inner, tmp_path / FILE_NAME)
    texts = programme_texts()[:40]
    prebuilt.encode(texts)
    assert inner.texts == [PROBE]
    (tmp_path / FILE_NAME).unlink()
    write(tmp_path, HashEncoder(salt="another model"))  # a new file, written by another model
    with caplog.at_level(logging.WARNING):
        got = prebuilt.encode(texts)
    assert "written by another model" in caplog.text
    assert inner.texts == [PROBE, PROBE, *texts]
    np.testing.assert_allclose(got, HashEncoder().encode(texts), atol=1e-7)
    assert prebuilt.known == 0


def test_a_file_written_by_another_model_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, HashEncoder(salt="another model"))
    inner = HashEncoder()
    texts = programme_texts()[:10]
    with caplog.at_level(logging.WARNING):
        got = PrebuiltEncoder(inner, tmp_path / FILE_NAME).encode(texts)
    assert inner.texts == [PROBE, *texts]
    np.testing.assert_allclose(got, HashEncoder().encode(texts), atol=1e-7)
    assert "written by another model" in caplog.text


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not a zip file at all"),
        lambda path: path.write_bytes(path.read_bytes()[:1000]),  # cut short
        lambda path: np.savez(path.open("wb"), vectors=np.zeros((3, 16), dtype=np.float32)),  # no texts, no probe
        lambda path: np.savez(  # three texts, two vectors
            path.open("wb"),
            texts=np.frombuffer(b'["a", "b", "c"]', dtype=np.uint8),
            vectors=np.zeros((2, 16), dtype=np.float32),
            probe=np.zeros(16, dtype=np.float32),
        ),
        lambda path: np.savez(  # texts that are not JSON
            path.open("wb"),
            texts=np.frombuffer(b"\xff\xfe", dtype=np.uint8),
            vectors=np.zeros((2, 16), dtype=np.float32),
            probe=np.zeros(16, dtype=np.float32),
        ),
        lambda path: path.unlink(),
    ],
    ids=["garbage", "truncated", "missing-arrays", "shape-mismatch", "bad-json", "absent"],
)
def test_a_damaged_or_missing_file_is_ignored(tmp_path: Path, damage: object) -> None:
    write(tmp_path, HashEncoder())
    damage(tmp_path / FILE_NAME)  # type: ignore[operator]
    inner = HashEncoder()
    texts = programme_texts()[:5]
    got = PrebuiltEncoder(inner, tmp_path / FILE_NAME).encode(texts)
    assert texts == [t for t in inner.texts if t != PROBE]
    np.testing.assert_allclose(got, HashEncoder().encode(texts), atol=1e-7)


def test_an_unavailable_model_is_still_reported(tmp_path: Path) -> None:
    write(tmp_path, HashEncoder())

    class Broken:
        def encode(self, texts: Sequence[str]) -> FloatArray:
            raise EncoderUnavailable(tmp_path, "damaged")

    with pytest.raises(EncoderUnavailable):
        PrebuiltEncoder(Broken(), tmp_path / FILE_NAME).encode(programme_texts()[:3])


def test_the_command_line_refuses_a_directory_without_a_model(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 1
    assert not (tmp_path / FILE_NAME).exists()


# -- with the real model -------------------------------------------------------------------------------------


class Counting:
    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.texts.extend(texts)
        return self.inner.encode(texts)


def test_the_file_make_model_wrote_matches_the_model_the_bot_runs() -> None:
    path = model_dir() / FILE_NAME
    assert path.is_file(), "run `make model` (it writes the programme FAQ's vectors)"
    inner = Counting(LazyEncoder(model_dir()))  # the int8 graph, as the bot runs it
    prebuilt = PrebuiltEncoder(inner, path)
    index = FaqIndex.build(load_programme_faq()[1], DEFAULT_CALIBRATION, prebuilt)
    assert index.semantic
    assert inner.texts == [PROBE]  # every phrasing and answer came from the file
    sample = programme_texts()[::97]
    cosine = np.sum(prebuilt.encode(sample) * LazyEncoder(model_dir()).encode(sample), axis=1)
    assert float(cosine.min()) > 0.9999


async def test_the_first_question_after_a_start_encodes_the_probe_and_itself(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    settings = test_settings(model_dir=model_dir())
    async with running_bot(sqlite_store, connector=connector, settings=settings) as bot:
        encoder = bot.services.encoder
        assert isinstance(encoder, PrebuiltEncoder)
        posted = await bot.say(ASKER, "ask are there lunchtime talks I can go to")
        assert "around 200 Lunch and Learns since 2017" in posted.everything
        assert encoder.known == len(set(programme_texts()))


def test_the_command_make_and_docker_run_writes_a_file_the_bot_uses(tmp_path: Path) -> None:
    """``python -m bot.answers.prebuilt DIR``, as the Makefile and the Dockerfile run it (after fetching the model
    and writing its graph), on a directory holding the fetched model's files."""
    for name in ("config.json", "tokenizer.json", "model.safetensors", "manifest.json", "encoder.onnx"):
        (tmp_path / name).symlink_to(model_dir().resolve() / name)
    done = subprocess.run(
        [sys.executable, "-m", "bot.answers.prebuilt", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {len(set(programme_texts()))} FAQ vectors" in done.stderr  # logged, as bert_graph logs
    inner = Counting(LazyEncoder(tmp_path))
    PrebuiltEncoder(inner, tmp_path / FILE_NAME).encode(programme_texts()[:20])
    assert inner.texts == [PROBE]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "$(BIN)/python -m bot.answers.prebuilt $(MODEL_DIR)" in makefile
    assert re.search(r"^model: .*programme_vectors\.npz", makefile, re.M)
    dockerfile = (REPO / "deployment" / "Dockerfile").read_text(encoding="utf-8")
    steps = ("deployment.fetch_model", "bot.answers.bert_graph", "bot.answers.prebuilt")
    at = [dockerfile.index(f'python -m {step} "$COPBOT_MODEL_DIR"') for step in steps]
    assert at == sorted(at)  # fetched, then the graph, then the vectors
