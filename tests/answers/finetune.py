"""Trains the encoder adapter (:mod:`bot.answers.adapter`): LoRA on all-MiniLM-L6-v2 for this FAQ.

Not run by the tests, and not runnable from the project's venv: it needs torch and transformers, which the bot
does not (it runs the adapted model through ONNX Runtime). In a separate venv, from the repository root::

    python3 -m venv /tmp/ft && /tmp/ft/bin/pip install 'torch>=2.4' --index-url https://download.pytorch.org/whl/cpu
    /tmp/ft/bin/pip install 'transformers>=4.44' tokenizers safetensors numpy bm25s snowballstemmer  # bot.answers
    export PYTHONPATH=. MODEL=var/models/all-MiniLM-L6-v2
    /tmp/ft/bin/python -m tests.answers.finetune $MODEL bot/answers/encoder_adapter.npz
    /tmp/ft/bin/python -m tests.answers.finetune $MODEL tests/answers/adapter_folds/fold-4.npz --without holdout-20

What it learns from: each labelled example question (``bot/answers/examples.json``, every split but ``--without``)
and each alternative phrasing of an FAQ entry is an anchor; its positive is one of its entry's phrasings (the
entry's question or an alternative), drawn afresh each epoch. The loss is the usual in-batch contrastive one
(cross-entropy over the cosines, times 20, of each anchor with every positive in the batch), with the positives of
other anchors of the same entry masked out, and 16 out-of-scope example questions added to each batch as negatives
only. Only the LoRA factors train (rank 16, alpha 32, on the 36 linear weights of the six layers); 3 epochs of
batches of 48, AdamW at 3e-4 with 10 % warm-up then linear decay, seed 7. About 7-8 minutes on two cores.

Cross-validation: the confidence model (``tests/answers/fit_confidence.py``) must see each split ranked by an
encoder that never trained on it, so ``tests/answers/adapter_folds/`` holds adapters each trained without some
splits (recorded in the file's settings; ``adapter_folds()`` in :mod:`tests.answers.model` reads them). After adding
a split, train the shipped adapter again on everything and give the new split a fold (or retrain the folds), then
run ``make model`` and refit. (fold-1 to fold-3 were trained by this script's first draft, the same procedure and
settings; their recorded settings lack the anchor count.)
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

from bot.answers import adapter as adapter_file
from bot.answers.examples import labelled_questions
from bot.answers.faq import load_programme_faq

RANK = 16
ALPHA = 32.0
EPOCHS = 3
BATCH = 48
OUT_OF_SCOPE_PER_BATCH = 16
SCALE = 20.0
LEARNING_RATE = 3e-4
MAX_TOKENS = 128  # the longest training text is well under this
TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def training_data(without: set[str]) -> tuple[list[tuple[str, str]], dict[str, list[str]], list[str]]:
    """(anchor, entry id) pairs, each entry's phrasings, and the out-of-scope questions, without those splits."""
    _, entries = load_programme_faq()
    examples = labelled_questions()
    phrasings = {e.entry_id: list(e.phrasings) for e in entries}
    anchors = [(q["question"], q["expected"]) for q in examples if q["split"] not in without and q["expected"]]
    anchors += [(alternative, e.entry_id) for e in entries for alternative in e.phrasings[1:]]
    out_of_scope = [q["question"] for q in examples if q["split"] not in without and not q["expected"]]
    return anchors, phrasings, out_of_scope


def train(model_dir: Path, out: Path, without: set[str], seed: int) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    random.seed(seed)
    torch.manual_seed(seed)
    anchors, phrasings, out_of_scope = training_data(without)
    print(f"{len(anchors)} anchors, {len(out_of_scope)} out-of-scope questions, without {sorted(without)}")
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    model = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False)
    model.train()

    class Lora(torch.nn.Module):
        def __init__(self, base: Any) -> None:
            super().__init__()
            self.base = base
            self.a = torch.nn.Parameter(torch.randn(RANK, base.in_features) / base.in_features**0.5)
            self.b = torch.nn.Parameter(torch.zeros(base.out_features, RANK))

        def forward(self, x: Any) -> Any:
            return self.base(x) + (ALPHA / RANK) * (x @ self.a.T @ self.b.T)

    for parameter in model.parameters():
        parameter.requires_grad_(False)
    adapted: dict[str, Lora] = {}
    for i, layer in enumerate(model.encoder.layer):
        for target in TARGETS:
            *path, last = target.split(".")
            parent = layer
            for part in path:
                parent = getattr(parent, part)
            module = Lora(getattr(parent, last))
            setattr(parent, last, module)
            adapted[f"encoder.layer.{i}.{target}.weight"] = module

    def embed(texts: list[str]) -> Any:
        encoded = tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encoded])
        mask = torch.tensor([e.attention_mask for e in encoded])
        states = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        weights = mask.unsqueeze(-1).float()
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    numbers = {entry: n for n, entry in enumerate(phrasings)}
    steps = EPOCHS * (len(anchors) // BATCH)
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE, weight_decay=0.0
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps)
    )
    started, step = time.monotonic(), 0
    for _ in range(EPOCHS):
        random.shuffle(anchors)
        for start in range(0, len(anchors) - BATCH + 1, BATCH):
            batch = anchors[start : start + BATCH]
            positives = [random.choice([p for p in phrasings[e] if p != a] or phrasings[e]) for a, e in batch]
            negatives = random.sample(out_of_scope, min(OUT_OF_SCOPE_PER_BATCH, len(out_of_scope)))
            logits = SCALE * embed([a for a, _ in batch]) @ embed(positives + negatives).T
            labels = [e for _, e in batch]
            ids = torch.tensor([numbers[e] for e in labels])
            mask = torch.zeros_like(logits, dtype=torch.bool)
            # another anchor's positive from the same entry is not a negative
            mask[:, :BATCH] = (ids[:, None] == ids[None, :]) & ~torch.eye(BATCH, dtype=torch.bool)
            loss = torch.nn.functional.cross_entropy(logits.masked_fill(mask, -1e4), torch.arange(BATCH))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            if step % 20 == 0:
                print(f"step {step}/{steps} loss {loss.item():.3f} ({time.monotonic() - started:.0f} s)", flush=True)
    settings: dict[str, object] = {
        "without": sorted(without),
        "rank": RANK,
        "alpha": ALPHA,
        "epochs": EPOCHS,
        "batch": BATCH,
        "learning_rate": LEARNING_RATE,
        "seed": seed,
        "anchors": len(anchors),
        "torch": torch.__version__,
    }
    factors = {name: (m.a.detach().numpy(), m.b.detach().numpy()) for name, m in adapted.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    adapter_file.save(out, factors, ALPHA / RANK, settings)
    print(f"wrote {out} in {time.monotonic() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="the fetched all-MiniLM-L6-v2 (make model)")
    parser.add_argument("out", type=Path, help="the adapter file to write")
    parser.add_argument("--without", default="", help="comma-separated splits to leave out (a fold)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    without = {s for s in args.without.split(",") if s}
    train(args.model_dir, args.out, without, args.seed)


if __name__ == "__main__":
    main()
