"""The tiny VLA: loss on action tokens only, constrained generation, the action queue, save/load, refusals."""

import json

import pytest
import torch
from safetensors.torch import load_file

from vst_vla.policy.processed import POSTPROCESSOR_FILE, PREPROCESSOR_FILE, ProcessedPolicy
from vst_vla.vla.errors import UnsafeActionError
from vst_vla.vla.normalization import MissingStatsError


def test_forward_backward_reduces_loss(tiny_policy, make_batch):
    batch = make_batch(4)
    optimizer = torch.optim.AdamW(tiny_policy.parameters(), lr=3e-3)
    first, _ = tiny_policy(batch)
    assert first.ndim == 0 and torch.isfinite(first)
    for _ in range(15):
        loss, _ = tiny_policy(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first.item() * 0.7
    grads = [p.grad for p in tiny_policy.policy.backbone.model.visual.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "the vision tower must receive gradients"


def test_loss_only_counts_action_tokens_and_masks_padding(tiny_policy, make_batch):
    batch = make_batch(2)
    loss_full, _ = tiny_policy(batch)
    # Changing a padded step's target must not change the loss; changing a real step's target must.
    padded = dict(batch, action_is_pad=torch.tensor([[False, True], [False, True]]))
    changed_pad = dict(padded, action=padded["action"].clone())
    changed_pad["action"][:, 1] = -changed_pad["action"][:, 1]
    assert torch.allclose(tiny_policy(padded)[0], tiny_policy(changed_pad)[0])
    changed_real = dict(padded, action=padded["action"].clone())
    changed_real["action"][:, 0] = -changed_real["action"][:, 0]
    assert not torch.allclose(tiny_policy(padded)[0], tiny_policy(changed_real)[0])
    assert torch.isfinite(loss_full)


def test_predicts_chunk_in_range_and_queues(tiny_policy, make_batch):
    batch = make_batch(3)
    chunk = tiny_policy.predict_action_chunk(batch)
    assert chunk.shape == (3, 2, 7)
    assert (chunk >= -1).all() and (chunk <= 1).all()  # stats q01=-1, q99=1
    tiny_policy.reset()
    single = {k: v[:1] for k, v in batch.items()}
    first = tiny_policy.select_action(single)
    second = tiny_policy.select_action(single)
    assert first.shape == (1, 7)
    expected = tiny_policy.predict_action_chunk(single)[0]
    assert torch.equal(first[0], expected[0]) and torch.equal(second[0], expected[1])


def test_save_load_gives_identical_actions(tiny_policy, tmp_path, make_batch):
    batch = make_batch(2, seed=3)
    before = tiny_policy.predict_action_chunk(batch)
    path = tiny_policy.save_pretrained(tmp_path / "ckpt")
    written = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", PREPROCESSOR_FILE, POSTPROCESSOR_FILE, "env.json",
            "processor"} <= written
    assert json.loads((path / "config.json").read_text())["type"] == "vst_vla"
    assert not list(tmp_path.glob(".ckpt.*")), "no temporary directory may be left behind"
    loaded = ProcessedPolicy.from_pretrained(path)
    assert torch.equal(before, loaded.predict_action_chunk(batch))
    assert loaded.env_metadata == {"env": {"type": "lift", "image_size": 64}}


def test_the_model_holds_no_statistics(tiny_policy, tmp_path):
    # Normalization belongs to the processor pipelines: no buffer of the module, no tensor of its weights file.
    path = tiny_policy.save_pretrained(tmp_path / "ckpt")
    names = set(load_file(str(path / "model.safetensors")))
    assert not [n for n in names if any(w in n for w in ("q01", "q99", "stats", "normaliz"))]
    assert len(list(tmp_path.glob("ckpt/policy_preprocessor_step_*_normalizer_processor.safetensors"))) == 1


def test_checkpoint_without_pipelines_is_refused(tiny_policy, tmp_path):
    path = tiny_policy.save_pretrained(tmp_path / "ckpt")
    (path / PREPROCESSOR_FILE).unlink()
    with pytest.raises(MissingStatsError, match="no processor pipelines"):
        ProcessedPolicy.from_pretrained(path)


def test_statistics_of_another_action_size_are_refused(make_policy, tiny_stats):
    from vst_vla.policy.processor_vst_vla import make_vst_vla_pre_post_processors

    config = make_policy().config
    stats = dict(tiny_stats, action={"q01": [-1.0] * 6, "q99": [1.0] * 6})
    with pytest.raises(MissingStatsError, match="have 6 dimensions but the policy's action has 7"):
        make_vst_vla_pre_post_processors(config, stats)


def test_refuses_nan_actions(tiny_policy, make_batch):
    with torch.no_grad():
        tiny_policy.policy.backbone.lm_head.weight.fill_(float("nan"))
    with pytest.raises(UnsafeActionError):
        tiny_policy.predict_action_chunk(make_batch(1))


def test_missing_camera_is_named(make_policy, make_batch):
    policy = make_policy()
    batch = make_batch(1)
    del batch["observation.images.agentview"]
    with pytest.raises(KeyError, match="observation.images.agentview"):
        policy.predict_action_chunk(batch)
