"""The blind prior: the best constant answer per question phrasing, fitted on training data without any image.

Chance (a uniform guess among the options) is a weak baseline: a phrasing whose answers cluster ("how long is the
longest side" of cubes that are all ~5 cm) or lean to one letter can be answered well without looking. The blind
prior measures that: per *template* (the skill's phrasing), the constant answer that scores best on the training
split, scored on the held-out split. A model whose score is near its blind prior has learnt the answer
distribution, not the skill.

- template key: ``(skill, meta_info["template"])``, the phrasing index the spatial engine records
  (:mod:`vst_vla.spatial.engine.base`); for samples without one (the released VST files, LLaVA JSON) the question
  text with image placeholders, option lines and numbers normalised away (object names cannot be recognised without
  a vocabulary, so such data gets finer templates, which the skill-level fallback below covers);
- numeric skills (MRA): the constant maximising the mean MRA over the template's training answers, searched over
  those answers' distinct values (a value scores MRA 1 on itself, which is why the optimum is usually one of them;
  a point between two values can occasionally score a little more, so this prior errs, if at all, on the low
  side); with more than :data:`MAX_CANDIDATES` distinct values their percentiles are searched; ties go to the
  candidate nearest the median, then the smaller;
- choice skills (letter match): the most frequent training letter of the template (ties: the earlier letter);
- a held-out template with no training sample falls back to the skill's constant fitted on all its templates;
- box and free-text skills get no prior.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vst_vla.spatial.metrics import MRA_THRESHOLDS, choice_correct, mean_relative_accuracy
from vst_vla.spatial.schema import IMAGE_PLACEHOLDER, SpatialSample

MAX_CANDIDATES = 512
PRIOR_KINDS = ("number", "choice")

_IMAGE_LABEL = re.compile(r"^\s*(?:(?:image|frame|view)\s*\d+\s*:\s*)?$", re.IGNORECASE)
_OPTION_LINE = re.compile(r"^\s*\(?[A-H][.)]\s")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def skill_of(sample: SpatialSample) -> str:
    """The skill a sample is scored under (``meta_info["skill"]``, else its answer kind), as the metrics do."""
    return sample.meta_info.get("skill", sample.meta_info.get("answer_kind", "text"))


def template_key(sample: SpatialSample) -> tuple[str, str]:
    """``(skill, phrasing)``: the engine's template index, else the question text normalised (see the module)."""
    template = sample.meta_info.get("template")
    if template is not None:
        return skill_of(sample), f"#{template}"
    lines = []
    for line in sample.question.split("\n"):
        text = line.replace(IMAGE_PLACEHOLDER, "")
        if _IMAGE_LABEL.match(text) or _OPTION_LINE.match(text):
            continue
        lines.append(" ".join(_NUMBER.sub("<n>", text).lower().split()))
    return skill_of(sample), "\n".join(lines)


def mra_matrix(candidates: np.ndarray, truths: np.ndarray) -> np.ndarray:
    """MRA of each constant answer against each truth, (len(candidates), len(truths)), as
    :func:`~vst_vla.spatial.metrics.mean_relative_accuracy` scores one pair (a zero truth needs an exact answer)."""
    c, y = candidates[:, None], truths[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(c - y) / np.abs(y)
    hits = np.stack([rel < 1.0 - t for t in MRA_THRESHOLDS]).mean(axis=0)
    return np.where(y == 0, (c == 0).astype(np.float64), hits)


def best_constant(truths: Sequence[float]) -> float:
    """The constant with the highest mean MRA on ``truths`` (candidates and ties as in the module docstring)."""
    y = np.asarray(truths, dtype=np.float64)
    candidates = np.unique(y)
    if candidates.size > MAX_CANDIDATES:
        candidates = np.unique(np.percentile(y, np.linspace(0, 100, MAX_CANDIDATES)))
    scores = mra_matrix(candidates, y).mean(axis=1)
    tied = candidates[np.isclose(scores, scores.max(), rtol=0, atol=1e-12)]
    median = float(np.median(y))
    return float(min(tied, key=lambda c: (abs(c - median), c)))


def most_frequent_letter(truths: Iterable[str]) -> str:
    """The most frequent answer letter (ties: the alphabetically first)."""
    counts = Counter(str(t).strip().upper() for t in truths)
    return min(counts, key=lambda letter: (-counts[letter], letter))


@dataclass(frozen=True)
class BlindPrior:
    """Fitted constant answers: per template, and per skill for templates unseen in training.

    Attributes:
        by_template: ``template_key`` -> constant (a float for numeric skills, a letter for choice skills).
        by_skill: skill -> constant fitted on all the skill's training answers.
        n_train: skill -> number of training answers the constants were fitted on.
    """

    by_template: dict[tuple[str, str], Any] = field(default_factory=dict)
    by_skill: dict[str, Any] = field(default_factory=dict)
    n_train: dict[str, int] = field(default_factory=dict)

    def guess(self, sample: SpatialSample) -> Any | None:
        """The constant answer for ``sample`` (None when its skill had no training answer)."""
        return self.by_template.get(template_key(sample), self.by_skill.get(skill_of(sample)))


def fit_blind_prior(train: Iterable[SpatialSample]) -> BlindPrior:
    """Fit the per-template constants on ``train`` (numeric and choice samples; others are ignored)."""
    truths: dict[tuple[str, str], list[Any]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for s in train:
        kind = s.meta_info.get("answer_kind")
        if kind in PRIOR_KINDS and s.meta_info.get("ground_truth") is not None:
            truth = s.meta_info["ground_truth"]
            truths[template_key(s)].append(float(truth) if kind == "number" else str(truth))
            kinds[skill_of(s)] = kind
    fit = lambda kind, values: best_constant(values) if kind == "number" else most_frequent_letter(values)  # noqa: E731
    pooled: dict[str, list[Any]] = defaultdict(list)
    for (skill, _), values in truths.items():
        pooled[skill] += values
    return BlindPrior(by_template={key: fit(kinds[key[0]], values) for key, values in truths.items()},
                      by_skill={skill: fit(kinds[skill], values) for skill, values in pooled.items()},
                      n_train={skill: len(values) for skill, values in pooled.items()})


def score_blind_prior(prior: BlindPrior, held_out: Iterable[SpatialSample]) -> dict[str, float | None]:
    """Per skill, the mean score of the prior's constant answers on ``held_out`` (MRA or letter match); skills the
    prior has no answer for are left out."""
    scores: dict[str, list[float]] = defaultdict(list)
    for s in held_out:
        kind, guess = s.meta_info.get("answer_kind"), prior.guess(s)
        if kind not in PRIOR_KINDS or guess is None:
            continue
        truth = s.meta_info["ground_truth"]
        if kind == "number":
            scores[skill_of(s)].append(mean_relative_accuracy(float(guess), float(truth)))
        else:
            scores[skill_of(s)].append(choice_correct(str(guess), str(truth)))
    return {skill: float(np.mean(v)) for skill, v in sorted(scores.items())}


def blind_prior_by_skill(train: Iterable[SpatialSample], held_out: Iterable[SpatialSample]) -> dict[str, float | None]:
    """Score on ``held_out`` of the blind prior fitted on ``train``, per numeric and choice skill."""
    return score_blind_prior(fit_blind_prior(train), held_out)
