"""The GRPO learner's rollouts in reuse travel with a checkpoint, so a run resumed mid-reuse stays on course."""

import io

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from vst_vla.rl.learner import GRPOConfig, GRPOLearner
from vst_vla.sft.model import SpatialVLM
from vst_vla.spatial.schema import SpatialSample, Turn
from vst_vla.vlm.backbone import BackboneConfig


def sample(i: int) -> SpatialSample:
    pixels = np.random.default_rng(i).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    return SpatialSample(f"s{i}", "test", "single_image", (png.getvalue(),),
                         (Turn("human", "<image>\nHow far apart are the cubes?"), Turn("gpt", "0.20 m")),
                         {"answer_kind": "number", "ground_truth": 0.2, "skill": "distance"})


def learner(seed: int) -> GRPOLearner:
    torch.manual_seed(seed)
    vlm = SpatialVLM.build(BackboneConfig(image_max_tokens=16))
    cfg = GRPOConfig(group_size=2, max_new_tokens=4, updates_per_rollout=2)
    return GRPOLearner(vlm, cfg, system_prompt="You are a helpful assistant.").train()


def test_rollouts_in_reuse_survive_a_checkpoint_round_trip(tmp_path):
    original = learner(seed=0)
    assert original.resume_state() == {}  # nothing sampled yet
    original(samples := [sample(0), sample(1)])  # samples a rollout batch and uses it once
    save_file(original.resume_state(), str(tmp_path / "learner_state.safetensors"))

    restored = learner(seed=0)
    restored.load_resume_state(load_file(str(tmp_path / "learner_state.safetensors")))
    # The second use of the batch: the restored learner must not sample again (its RNG is elsewhere on purpose).
    torch.manual_seed(123)
    loss_restored, logs_restored = restored(samples)
    torch.manual_seed(456)
    loss_original, logs_original = original(samples)
    assert torch.equal(loss_restored, loss_original) and logs_restored == logs_original
    # The same sampled sequences (a fresh sample under another seed would differ).
    assert torch.equal(restored._rollouts.inputs["input_ids"], original._rollouts.inputs["input_ids"])
    assert restored._uses == original._uses == 2
    restored.load_resume_state({})
    assert restored._rollouts is None and restored._uses == 0
