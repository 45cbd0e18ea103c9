"""CoT cold start targets (VST-R section 3.3): ``<think>reasoning</think> answer`` from ground-truth steps.

The spatial engine records, per sample, the reasoning steps that lead from the scene's ground truth to the answer
(``meta_info["reasoning"]``: a list of sentences). The cold start trains on answers that spell them out inside a
think block, so that RL starts from a model that already produces the rewarded format.
"""

from __future__ import annotations

import dataclasses

from vst_vla.spatial.schema import GPT, SampleError, SpatialSample, Turn


def think_answer(reasoning: list[str] | str, answer: str) -> str:
    """The cold-start target text."""
    steps = reasoning if isinstance(reasoning, str) else " ".join(s.strip() for s in reasoning)
    return f"<think>{steps.strip()}</think> {answer.strip()}"


def to_cot_sample(sample: SpatialSample) -> SpatialSample:
    """The same sample with its final answer rewritten as ``<think>…</think> answer``."""
    reasoning = sample.meta_info.get("reasoning")
    if not reasoning:
        raise SampleError(
            f"sample {sample.id!r} has no meta_info.reasoning; the CoT stage needs reasoning steps "
            "(the spatial engine writes them) or data whose answers already contain <think>...</think>"
        )
    if sample.conversations[-1].speaker != GPT:
        raise SampleError(f"sample {sample.id!r} does not end with an answer turn")
    if "<think>" in sample.answer:
        return sample
    turns = (*sample.conversations[:-1], Turn(GPT, think_answer(reasoning, sample.answer)))
    return dataclasses.replace(sample, conversations=turns)
