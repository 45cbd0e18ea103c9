"""Does the model use the images? Per-skill scores with real, blank and shuffled images, and the image gain.

The image gain of a skill is ``real − max(blank, shuffled)``: what the real images add over the better of the two
ways of taking them away (:mod:`vst_vla.spatial.ablation`). Taking the better ablation matters: a model can do
well on grey images by answering from the text, or well on shuffled ones because any tabletop scene looks alike.

Its 95% interval comes from a paired bootstrap over questions: each resample draws questions with replacement
and keeps, for each drawn question, its three scores together (the conditions answer the same questions, so
pairing removes the question-difficulty variance), then recomputes the whole statistic, the ``max`` included.
Choosing the better ablation once on the full data and bootstrapping only its difference would ignore that the
choice itself is noisy and make the interval optimistic; recomputing the max in every resample does not. The
interval is the percentile interval of 10 000 resamples with a fixed seed, so a report is reproducible.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from vst_vla.spatial.ablation import SHUFFLE_SEED, ablate
from vst_vla.spatial.metrics import evaluate_predictions, score_answer
from vst_vla.spatial.schema import SpatialSample

logger = logging.getLogger(__name__)

REAL = "real"


def image_gain(real: Sequence[float], ablated: Mapping[str, Sequence[float]], n_resamples: int = 10_000,
               seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """``mean(real) − max over ablations of mean(ablated)`` on paired per-question scores, with a bootstrap interval.

    Args:
        real: per-question scores with the real images, (n,).
        ablated: ablation name -> per-question scores on the same questions in the same order, each (n,).
        n_resamples, seed, level: the paired percentile bootstrap (see the module docstring).

    Returns:
        ``{"gain", "ci_low", "ci_high", "n", "vs"}``; ``vs`` names the ablation with the higher mean on all
        questions (the first given on a tie).
    """
    r = np.asarray(real, dtype=np.float64)
    if r.ndim != 1 or r.size == 0 or not ablated:
        raise ValueError(f"need a non-empty score list and at least one ablation; got shape {r.shape}, {list(ablated)}")
    names = list(ablated)
    lengths = {name: len(ablated[name]) for name in names}
    if any(n != r.size for n in lengths.values()):
        raise ValueError(f"every ablation needs {r.size} paired scores, got {lengths}")
    a = np.asarray([ablated[name] for name in names], dtype=np.float64)  # (k, n)
    best = int(np.argmax(a.mean(axis=1)))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, r.size, size=(n_resamples, r.size))
    gains = r[idx].mean(axis=1) - a[:, idx].mean(axis=2).max(axis=0)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(gains, [tail, 1.0 - tail])
    return {"gain": float(r.mean() - a[best].mean()), "ci_low": float(low), "ci_high": float(high),
            "n": int(r.size), "vs": names[best]}


def score_conditions(samples: Sequence[SpatialSample], answers: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Per-skill tables of every condition and each skill's image gain.

    Args:
        samples: the questions, in the order every condition answered them.
        answers: ``{"real": [...], <ablation>: [...], ...}``, one answer per sample each.

    Returns:
        ``{"after": per-skill rows of the real condition, "ablations": {name: per-skill rows},
        "image_gain": {skill: image_gain(...)}}`` (rows as :func:`~vst_vla.spatial.metrics.evaluate_predictions`);
        without ablations only ``after``, with the other two empty.
    """
    metas = [s.meta_info for s in samples]
    for name, texts in answers.items():
        if len(texts) != len(metas):
            raise ValueError(f"condition {name!r} has {len(texts)} answers for {len(metas)} questions")
    per_skill: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name, texts in answers.items():
        for meta, text in zip(metas, texts, strict=True):
            per_skill[meta.get("skill", meta.get("answer_kind", "text"))][name].append(score_answer(text, meta))
    ablations = [name for name in answers if name != REAL]
    return {
        "after": evaluate_predictions(zip(metas, answers[REAL], strict=True)),
        "ablations": {name: evaluate_predictions(zip(metas, answers[name], strict=True)) for name in ablations},
        "image_gain": {skill: image_gain(scores[REAL], {name: scores[name] for name in ablations})
                       for skill, scores in sorted(per_skill.items())} if ablations else {},
    }


def score_with_ablations(answer: Callable[[list[SpatialSample]], list[str]], samples: Sequence[SpatialSample],
                         ablations: Sequence[str], seed: int = SHUFFLE_SEED,
                         real_answers: Sequence[str] | None = None) -> dict[str, Any]:
    """Answer ``samples`` with their real images and under each ablation, and score them (:func:`score_conditions`).

    ``answer`` maps samples to one answer each (e.g. greedy decoding by the model under test); ``real_answers``,
    when the caller already has them, saves answering the real condition again. Shuffled images are drawn from
    ``samples`` themselves, so score the same subset every condition sees.
    """
    samples = list(samples)
    answers = {REAL: list(real_answers) if real_answers is not None else answer(samples)}
    for name in ablations:
        logger.info("answering %d questions with %s images", len(samples), name)
        answers[name] = answer(ablate(samples, name, seed))
    return score_conditions(samples, answers)
