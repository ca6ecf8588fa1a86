"""How the FAQ ranker's artefacts are made, in the order ``make retrain`` and ``make refit`` run them:

1. :mod:`tools.answers.finetune` trains the encoder adapter (``bot/answers/encoder_adapter.npz``) and the fold
   adapters (``tools/answers/adapter_folds/``, one per fold of :data:`tools.answers.folds.FOLDS`, each trained without
   some splits so that those can be measured as unseen). Needs PyTorch, in a separate environment (``make retrain``).
2. ``make model`` writes the encoder graph with the shipped adapter and the programme FAQ's prebuilt vectors.
3. :mod:`tools.answers.fit_confidence` fits the confidence model and its threshold
   (``bot/answers/confidence_model.json``).

Each artefact records the sha256 of what it was made from (:func:`tools.answers.finetune.training_digest`,
:func:`tools.answers.fit_confidence.fitted_from`; the confidence model also that of the ranker's code, by its syntax),
so a stale one can be told from a fresh one on any machine, without running the model.
:mod:`tools.answers.sweep_threshold` prints the lexical fallback's threshold sweep (chosen by hand) and
:mod:`tools.answers.make_minilm_reference` writes the encoder's reference vectors (from sentence-transformers).
"""
