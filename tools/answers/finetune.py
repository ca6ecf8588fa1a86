"""Trains the encoder adapters (:mod:`bot.answers.adapter`): LoRA on all-MiniLM-L6-v2 for this FAQ.

Not run by the tests, and not runnable from the project's venv: it needs torch and transformers, which the bot
does not (it runs the adapted model through ONNX Runtime). ``make retrain`` makes a separate venv with CPU PyTorch
(``FT_VENV``, default ``.venv-train``) and runs, from the repository root::

    .venv-train/bin/python -m tools.answers.finetune var/models/all-MiniLM-L6-v2 --all

which trains every adapter that is stale: the shipped one (``bot/answers/encoder_adapter.npz``, every split) and
the fold adapters (``tools/answers/adapter_folds/``, each without its fold's splits, :data:`tools.answers.folds.FOLDS`).
One adapter by hand: ``... -m tools.answers.finetune MODEL OUT [--without split,split]``. About 8 minutes per
adapter on two cores, so about 50 minutes for all six.

What it learns from: each labelled example question (``bot/answers/examples.json``, every split but ``--without``)
and each alternative phrasing of an FAQ entry is an anchor; its positive is one of its entry's phrasings (the
entry's question or an alternative), drawn afresh each epoch. The loss is the usual in-batch contrastive one
(cross-entropy over the cosines, times 20, of each anchor with every positive in the batch), with the positives of
other anchors of the same entry masked out, and 16 out-of-scope example questions added to each batch as negatives.
Out-of-scope questions are also anchors (8 a batch), whose right answer is "none of these": a column of constant
logit (``SCALE * ABSTAIN_COSINE``) joins every anchor's row, so an out-of-scope question learns to stay below that
cosine with every phrasing, and an answerable one to stay above it with its own entry's. Each out-of-scope anchor
brings a phrasing of the entry the base model puts nearest to it (found once, before training), so a near miss is
pushed away from the entry it resembles, not only from the batch's random ones. Only the LoRA factors train (rank
16, alpha 32, on the 36 linear weights of the six layers); 3 epochs of batches of 48, AdamW at 3e-4 with 10 %
warm-up then linear decay, seed 7.

Each adapter records, in its settings, the sha256 of its training data and settings (:func:`training_digest`):
``tests/answers/test_artefacts.py`` recomputes it, so an FAQ or example change that the adapters have not been
trained on fails there, naming ``make retrain``. After it, ``make refit`` (the confidence model) follows.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.answers import adapter as adapter_file
from bot.answers.examples import labelled_questions
from bot.answers.faq import load_programme_faq
from tools.answers.folds import ADAPTER_FOLDS, adapters

RANK = 16
ALPHA = 32.0
EPOCHS = 3
BATCH = 48
OUT_OF_SCOPE_PER_BATCH = 16
OUT_OF_SCOPE_ANCHORS = 8  # out-of-scope questions per batch that are anchors, each with its look-alike entry
ABSTAIN_COSINE = 0.6  # between the median best cosine of out-of-scope questions (0.59) and of answerable ones (0.81)
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


SEED = 7


def training_digest(without: set[str] | tuple[str, ...], seed: int = SEED) -> str:
    """The sha256 of what an adapter trained without ``without`` learns from: its anchors, the entries' phrasings,
    the out-of-scope questions, and the training settings."""
    anchors, phrasings, out_of_scope = training_data(set(without))
    settings = [RANK, ALPHA, EPOCHS, BATCH, OUT_OF_SCOPE_PER_BATCH, SCALE, LEARNING_RATE, MAX_TOKENS, TARGETS, seed]
    settings += [OUT_OF_SCOPE_ANCHORS, ABSTAIN_COSINE]
    payload = json.dumps([anchors, phrasings, out_of_scope, settings], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def train(model_dir: Path, out: Path, without: set[str], seed: int) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    random.seed(seed)
    torch.manual_seed(seed)
    digest = training_digest(without, seed)
    anchors, phrasings, out_of_scope = training_data(without)
    print(f"{len(anchors)} anchors, {len(out_of_scope)} out-of-scope questions, without {sorted(without)}")
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 (a token, not a password)
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
    look_alike = _look_alikes(model, embed, out_of_scope, phrasings)
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
            drawn = random.sample(out_of_scope, min(OUT_OF_SCOPE_PER_BATCH + OUT_OF_SCOPE_ANCHORS, len(out_of_scope)))
            refused, negatives = drawn[:OUT_OF_SCOPE_ANCHORS], drawn[OUT_OF_SCOPE_ANCHORS:]
            hard = [look_alike[q] for q in refused]  # (entry, phrasing) each out-of-scope anchor resembles
            candidates = positives + [p for _, p in hard] + negatives
            cosines = embed([a for a, _ in batch] + refused) @ embed(candidates).T
            abstain = torch.full((len(batch) + len(refused), 1), ABSTAIN_COSINE)
            logits = SCALE * torch.cat([cosines, abstain], dim=1)
            # another anchor's positive (or a look-alike phrasing) from the same entry is not a negative
            ids = torch.tensor([numbers[e] for _, e in batch])
            owners = torch.tensor([numbers[e] for _, e in batch] + [numbers[e] for e, _ in hard])
            mask = torch.zeros_like(logits, dtype=torch.bool)
            same = ids[:, None] == owners[None, :]
            same[:, : len(batch)] &= ~torch.eye(len(batch), dtype=torch.bool)
            mask[: len(batch), : len(owners)] = same
            targets = torch.tensor(list(range(len(batch))) + [logits.shape[1] - 1] * len(refused))
            loss = torch.nn.functional.cross_entropy(logits.masked_fill(mask, -1e4), targets)
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
        "out_of_scope_anchors": OUT_OF_SCOPE_ANCHORS,
        "abstain_cosine": ABSTAIN_COSINE,
        "torch": torch.__version__,
        "inputs": digest,
    }
    factors = {name: (m.a.detach().numpy(), m.b.detach().numpy()) for name, m in adapted.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    adapter_file.save(out, factors, ALPHA / RANK, settings)
    print(f"wrote {out} in {time.monotonic() - started:.0f} s")


@contextlib.contextmanager
def _evaluating(model: Any) -> Iterator[None]:
    """``model`` without dropout for the duration, then back in training mode."""
    model.eval()
    try:
        yield
    finally:
        model.train()


def _look_alikes(
    model: Any, embed: Any, questions: list[str], phrasings: dict[str, list[str]]
) -> dict[str, tuple[str, str]]:
    """For each out-of-scope question, (entry, phrasing): the phrasing ``model`` (``embed`` runs it; before
    training) finds closest."""
    import torch

    texts = [(entry, text) for entry, entry_phrasings in phrasings.items() for text in entry_phrasings]
    with torch.no_grad(), _evaluating(model):
        known = torch.cat([embed([t for _, t in texts[i : i + 256]]) for i in range(0, len(texts), 256)])
        asked = torch.cat([embed(questions[i : i + 256]) for i in range(0, len(questions), 256)])
        nearest = (asked @ known.T).argmax(dim=1).tolist()
    return {question: texts[n] for question, n in zip(questions, nearest, strict=True)}


def is_stale(path: Path, without: tuple[str, ...]) -> bool:
    """Whether the adapter at ``path`` is missing or was trained on other data or settings than today's."""
    if not path.exists():
        return True
    settings = adapter_file.Adapter.load(path).settings
    return settings.get("inputs") != training_digest(without) or sorted(without) != settings.get("without")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="the fetched all-MiniLM-L6-v2 (make model)")
    parser.add_argument("out", type=Path, nargs="?", help="the adapter file to write (not with --all)")
    parser.add_argument("--all", action="store_true", help="train every stale adapter: the shipped one and the folds")
    parser.add_argument("--without", default="", help="comma-separated splits to leave out (a fold)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    if args.all:
        wanted = adapters()
        for path in ADAPTER_FOLDS.glob("*.npz"):
            if path not in wanted:
                path.unlink()  # a fold that no longer exists: it would leave its splits out twice
        stale = {path: without for path, without in wanted.items() if is_stale(path, without)}
        print(f"{len(stale)} stale adapters: {', '.join(p.name for p in stale) or 'none'}", flush=True)
        for path, splits in stale.items():
            train(args.model_dir, path, set(splits), args.seed)
        return
    if args.out is None:
        parser.error("give the adapter file to write, or --all")
    train(args.model_dir, args.out, {s for s in args.without.split(",") if s}, args.seed)


if __name__ == "__main__":
    main()
