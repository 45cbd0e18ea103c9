"""Skill registry, answer balancing and question formatting shared by every skill of the spatial QA engine.

VST-P (Yang et al. 2025, section 3) is built from many small *skills* (depth order, distances, 3D boxes,
relative direction, camera motion, correspondence, counting, ...), each asked with several phrasings. Here a
skill is a :class:`Skill` subclass registered in :data:`SKILLS`; ``generate(scene, rng)`` drafts up to
``max_per_scene`` questions about one scene and returns them as :class:`~vst_vla.spatial.schema.SpatialSample`.

Answers are kept balanced across a whole dataset, not only in expectation: an :class:`AnswerBalancer` (one per
generation run, shared by all scenes) hands out the least-used value of a key so far (the correct option's
letter, "left" vs "right", ...), so a model cannot learn a prior such as "the answer is usually A".

Every draft also carries its *reasoning*: 2-5 sentences composed from the same ground-truth quantities that
determined the answer (depths, positions, headings, first frames, ...), rounded as the answer is, and ending
with the conclusion. They are stored as ``meta_info["reasoning"]`` for the CoT cold start
(:func:`vst_vla.sft.cot.to_cot_sample`).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from vst_vla.registry import Registry
from vst_vla.spatial.schema import IMAGE_PLACEHOLDER, SpatialSample, Turn

if TYPE_CHECKING:
    from vst_vla.spatial.engine.scene import SceneBundle

T = TypeVar("T")

LETTERS = "ABCDEFGH"
DATA_SOURCE_PREFIX = "vst_sim"

# Closing instructions; the template index picks one so the phrasing varies with the stem.
CHOICE_INSTRUCTIONS = (
    "Answer with the option's letter from the given choices directly.",
    "Reply with the letter of the correct option.",
    "Respond with only the letter (A, B, ...) of your choice.",
)
NUMBER_INSTRUCTIONS = (
    "Answer with a single number in metres.",
    "Give the answer in metres as one number.",
    "Reply with just the value in metres.",
)
COUNT_INSTRUCTIONS = (
    "Answer with a single integer.",
    "Reply with the count only.",
    "Give the number as your answer.",
)


class AnswerBalancer:
    """Picks, per key, the value used least often so far (ties broken by the rng), and counts the pick.

    One balancer lives for a whole generation run, so counts carry across scenes; keys are prefixed with the
    skill's name, so one skill's balance never depends on which other skills run.
    """

    def __init__(self) -> None:
        self._counts: dict[str, Counter[str]] = defaultdict(Counter)

    def pick(self, key: str, values: Sequence[T], rng: np.random.Generator) -> T:
        """The least-used of ``values`` under ``key`` (only feasible values should be passed)."""
        if not values:
            raise ValueError(f"nothing to pick from for {key!r}")
        counts = self._counts[key]
        low = min(counts[str(v)] for v in values)
        tied = [v for v in values if counts[str(v)] == low]
        choice = tied[int(rng.integers(len(tied)))]
        counts[str(choice)] += 1
        return choice

    def counts(self, key: str) -> dict[str, int]:
        """How often each value of ``key`` was picked (for reports and tests)."""
        return dict(self._counts[key])


@dataclass
class Draft:
    """One drafted question before it becomes a sample.

    Attributes:
        key: identifies the question's content within the scene (duplicates are dropped).
        images: encoded PNG images, in question order.
        question: the question text without ``<image>`` placeholders (the sample type adds them).
        answer: the target answer text (the gpt turn).
        ground_truth: what metrics and rewards compare with (letter, number or list of box dicts).
        template: index of the phrasing used.
        query: the entities the question refers to (object names, cameras, 3D points, option meanings), enough
            to recompute the answer from the scene's ground truth.
        options: for choice questions, letter -> machine-readable option value.
        reasoning: the steps from the ground truth to the answer, one sentence each, the conclusion last.
    """

    key: str
    images: list[bytes]
    question: str
    answer: str
    ground_truth: Any
    template: int
    query: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] | None = None
    reasoning: list[str] = field(default_factory=list)


class Skill:
    """A spatial skill: subclasses set the class attributes and implement :meth:`draft`."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    sample_type: ClassVar[str] = "single_image"
    answer_kind: ClassVar[str] = "choice"
    num_templates: ClassVar[int] = 3
    max_per_scene: ClassVar[int] = 2
    attempts_per_sample: ClassVar[int] = 3
    # False for skills asked for by name only (the alignment captions), not by a default spatial QA run.
    in_default_mix: ClassVar[bool] = True

    def draft(self, scene: SceneBundle, rng: np.random.Generator, taken: set[str]) -> Draft | None:
        """One question about ``scene`` whose key is not in ``taken``, or None when the scene allows none."""
        raise NotImplementedError

    def generate(self, scene: SceneBundle, rng: np.random.Generator,
                 max_per_scene: int | None = None) -> list[SpatialSample]:
        """Up to ``max_per_scene`` (default: the skill's own) distinct samples about ``scene`` (possibly none)."""
        limit = self.max_per_scene if max_per_scene is None else max_per_scene
        samples: list[SpatialSample] = []
        taken: set[str] = set()
        # Drafts draw random views / points, so a failed draft (None) may succeed on another try.
        for _ in range(self.attempts_per_sample * limit):
            if len(samples) == limit:
                break
            draft = self.draft(scene, rng, taken)
            if draft is None or draft.key in taken:
                continue
            taken.add(draft.key)
            samples.append(self._sample(scene, draft, len(samples)))
        return samples

    def pick_template(self, scene: SceneBundle, rng: np.random.Generator, choices: Sequence[int] | None = None) -> int:
        """A template index, balanced across the run."""
        return scene.balancer.pick(f"{self.name}/template", list(choices or range(self.num_templates)), rng)

    def arrange(
        self, scene: SceneBundle, rng: np.random.Generator, correct: T, distractors: Sequence[T]
    ) -> tuple[list[T], str]:
        """Options with ``correct`` at a balanced letter and the distractors shuffled; returns (options, letter)."""
        n = 1 + len(distractors)
        position = scene.balancer.pick(f"{self.name}/letter{n}", list(range(n)), rng)
        others = [distractors[i] for i in rng.permutation(len(distractors))]
        others.insert(position, correct)
        return others, LETTERS[position]

    def _sample(self, scene: SceneBundle, draft: Draft, k: int) -> SpatialSample:
        n = len(draft.images)
        if not draft.reasoning:
            raise ValueError(f"skill {self.name!r} drafted a question without reasoning steps")
        # The images come after the question, so that a fixed run of tokens separates the last image from the
        # answer. Qwen2.5-VL's vision tower has no absolute position embedding: a small model reads where an object
        # is from the M-RoPE phase between the answer and the image tokens, which is stable only if the text in
        # between has a fixed length. With the question in between (its length varies with the object phrases), a
        # position probe stayed at chance for 800 steps; with the images last it was learned by step 300
        # (experiments/perception/README.md, "Where the image goes"). Pretrained Qwen2.5-VL reads either order.
        if self.sample_type == "single_image":
            images = f"\n{IMAGE_PLACEHOLDER}"
        elif self.sample_type == "multi_image":
            images = "".join(f"\nImage {i + 1}: {IMAGE_PLACEHOLDER}" for i in range(n))
        else:
            images = f"\nThe video has {n} frames, in time order." + "".join(
                f"\nFrame {i + 1}: {IMAGE_PLACEHOLDER}" for i in range(n)
            )
        meta: dict[str, Any] = {
            "skill": self.name,
            "family": self.family,
            "answer_kind": self.answer_kind,
            "ground_truth": draft.ground_truth,
            "template": draft.template,
            "scene": scene.meta(),
            "query": draft.query,
            "reasoning": [str(step) for step in draft.reasoning],
        }
        if draft.options is not None:
            meta["options"] = draft.options
        # A JSON round trip now turns numpy scalars into plain floats and proves meta_info is serialisable.
        meta = json.loads(json.dumps(meta, default=_json_default))
        return SpatialSample(
            id=f"{self.name}/{scene.dataset_seed}/{scene.scene_index}/{k}",
            data_source=f"{DATA_SOURCE_PREFIX}/{scene.env_type.split('_')[0]}",
            type=self.sample_type,
            images=tuple(draft.images),
            conversations=(Turn("human", draft.question + images), Turn("gpt", draft.answer)),
            meta_info=meta,
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


SKILLS: Registry[Skill] = Registry("spatial skill")


def default_skill_names() -> list[str]:
    """The skills a run without an explicit skill list asks (every registered one in the default mix)."""
    return [name for name in SKILLS.names() if SKILLS.get(name).in_default_mix]


def register_skill(cls: type[Skill]) -> type[Skill]:
    """Class decorator: register one instance of the skill under its ``name``."""
    if not cls.name or not cls.family:
        raise ValueError(f"{cls.__name__} must set name and family")
    SKILLS.register(cls.name)(cls())
    return cls


# --- text helpers ------------------------------------------------------------------------------------------


def choice_text(stem: str, options: Sequence[str], template: int) -> str:
    """The question with lettered options and a closing instruction."""
    lines = [stem, *(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))]
    lines.append(CHOICE_INSTRUCTIONS[template % len(CHOICE_INSTRUCTIONS)])
    return "\n".join(lines)


def choice_draft(*, key: str, images: list[bytes], stem: str, options: Sequence[str], letter: str, template: int,
                 query: dict[str, Any], reasoning: list[str], option_text: Any = str.capitalize) -> Draft:
    """A choice question's :class:`Draft`: lettered options (shown through ``option_text``), the correct letter as
    both answer and ground truth, and the letter -> option map that lets tests recompute the answer."""
    return Draft(key=key, images=images, question=choice_text(stem, [option_text(o) for o in options], template),
                 answer=letter, ground_truth=letter, template=template, query=query,
                 options={LETTERS[i]: o for i, o in enumerate(options)}, reasoning=reasoning)


def number_text(stem: str, template: int, count: bool = False) -> str:
    """The question with a closing instruction for a metric (or count) answer."""
    pool = COUNT_INSTRUCTIONS if count else NUMBER_INSTRUCTIONS
    return f"{stem} {pool[template % len(pool)]}"


def format_number(value: float, decimals: int = 3) -> tuple[str, float]:
    """``(answer text, ground truth)`` for a metric answer, rounded identically so a perfect answer scores 1."""
    rounded = round(float(value), decimals)
    text = f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")
    return text or "0", rounded


def object_phrase(obj: Any) -> str:
    """How questions name an object: "the red cube"."""
    return f"the {obj.color_name} {obj.category}"


def short_phrase(obj: Any) -> str:
    """How captions and lists name an object: "red cube"."""
    return f"{obj.color_name} {obj.category}"


def distinguishing_names(objs: Sequence[Any]) -> list[str]:
    """The shortest names that tell ``objs`` apart: the colour alone ("red") when no two share one, else colour and
    shape. Reasoning lists use them: a word a small model can act on at once (the mark after it, a lookup of it)
    rather than a second token to wait for (experiments/perception, sixth session)."""
    colours = [obj.color_name for obj in objs]
    return colours if len(set(colours)) == len(colours) else [short_phrase(obj) for obj in objs]


def marked_order(order: list[str], subject: str, reference: str) -> tuple[str, str]:
    """``order`` (names by :func:`distinguishing_names`) as one list with the two named objects marked in the order
    met ("purple, yellow first, blue second"), and the subject's mark.

    The reasoning of the pairwise order skills (left_right, closer_object) is built on it: each mark needs only the
    question's names and whether a "first" was written, and restating the subject's mark is one lookup by content
    (experiments/perception: the only kinds of lookup a small model learned to chain).
    """
    marks = iter(("first", "second"))
    mark = {name: next(marks) for name in order if name in (subject, reference)}
    return ", ".join(f"{name} {mark[name]}" if name in mark else name for name in order), mark[subject]


def metres(value: float, decimals: int = 2) -> str:
    """A length for reasoning sentences: ``"0.62 m"``."""
    return f"{round(float(value), decimals) + 0.0:.{decimals}f} m"


def vector(values: Sequence[float], decimals: int = 3) -> str:
    """A point or offset for reasoning sentences: ``"(0.120, -0.050, 0.830)"``."""
    return "(" + ", ".join(f"{round(float(v), decimals) + 0.0:.{decimals}f}" for v in values) + ")"


def conclusion(letter: str, text: str) -> str:
    """The last reasoning sentence of a choice question."""
    return f"The answer is {letter} ({text})."


def surface_phrase(scene: SceneBundle, surface: str) -> str:
    """How reasoning names a marked point's surface: "the table top" or "the top of the red cube"."""
    return "the table top" if surface == "table" else f"the top of {object_phrase(scene.gt.object(surface))}"
