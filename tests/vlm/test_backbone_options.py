"""Gradient checkpointing and the attention kernel change how the backbone computes, not what it computes."""

import dataclasses

import pytest
import torch

from vst_vla.config.parse import ConfigError
from vst_vla.policy.configuration_vst_vla import L1ChunkHeadConfig
from vst_vla.vlm.backbone import build_backbone
from vst_vla.vlm.config import BackboneConfig


def _loss_and_grads(policy, batch) -> tuple[float, dict[str, torch.Tensor]]:
    policy.train()
    loss, _ = policy(batch)
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in policy.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("head", [None, L1ChunkHeadConfig()], ids=["tokens", "l1_chunk"])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(head, make_policy, make_batch):
    batch = make_batch(2)
    plain_loss, plain = _loss_and_grads(make_policy(head=head), batch)
    checkpointed_policy = make_policy(head=head)
    checkpointed_policy.enable_gradient_checkpointing()
    assert checkpointed_policy.policy.backbone.is_gradient_checkpointing
    loss, grads = _loss_and_grads(checkpointed_policy, batch)
    assert loss == pytest.approx(plain_loss, rel=1e-6)
    assert grads.keys() == plain.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, plain[name], rtol=1e-4, atol=1e-6, msg=name)


def test_eager_attention_computes_what_sdpa_does(make_policy):
    sdpa, _ = build_backbone(BackboneConfig())
    torch.manual_seed(0)
    eager, _ = build_backbone(BackboneConfig(attn_implementation="eager"))
    assert eager.config._attn_implementation == "eager" and sdpa.config._attn_implementation == "sdpa"
    eager.load_state_dict(sdpa.state_dict())
    ids = torch.randint(0, 1000, (2, 12))
    torch.testing.assert_close(eager(input_ids=ids).logits, sdpa(input_ids=ids).logits, rtol=1e-4, atol=1e-5)


def test_bad_attention_settings_are_refused():
    with pytest.raises(ValueError, match="backbone.attn_implementation must be one of"):
        BackboneConfig(attn_implementation="flash")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="flash_attention_2 needs the flash-attn package and a CUDA GPU"):
            build_backbone(dataclasses.replace(BackboneConfig(), attn_implementation="flash_attention_2"))


def test_the_trainer_refuses_checkpointing_for_a_model_that_cannot(tmp_path):
    from vst_vla.training.config import TrainerConfig, WandbConfig
    from vst_vla.training.trainer import Trainer

    cfg = TrainerConfig(steps=1, batch_size=1, gradient_checkpointing=True, wandb=WandbConfig(mode="disabled"))
    with pytest.raises(ConfigError, match="trainer.gradient_checkpointing=true, but Linear cannot"):
        Trainer(cfg, tmp_path).fit(torch.nn.Linear(2, 2), [torch.zeros(2)])


def test_bf16_weights_build_load_and_train(tmp_path, make_policy, make_batch):
    from vst_vla.sft.model import SpatialVLM

    vlm = SpatialVLM.build(BackboneConfig(dtype="bfloat16"))
    assert {p.dtype for p in vlm.parameters()} == {torch.bfloat16}
    vlm.save_pretrained(tmp_path / "vlm")
    loaded = SpatialVLM.from_pretrained(tmp_path / "vlm", model=BackboneConfig(dtype="bfloat16"))
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in SpatialVLM.from_pretrained(tmp_path / "vlm").parameters()} == {torch.float32}
    # The rotary frequencies stay fp32 (in bf16 the phases at long positions would drift), built or loaded.
    for model in (vlm, loaded):
        assert {b.dtype for n, b in model.named_buffers() if n.endswith("inv_freq")} == {torch.float32}
    # A VLA whose backbone is bf16 and whose continuous head is fp32 trains without autocast.
    policy = make_policy(head=L1ChunkHeadConfig(), backbone=BackboneConfig(dtype="bfloat16", image_max_tokens=16))
    loss, grads = _loss_and_grads(policy, make_batch(2))
    assert torch.isfinite(torch.tensor(loss)) and grads
    assert all(torch.isfinite(g.float()).all() for g in grads.values())
    # Saved and loaded, it keeps its bf16 backbone (and so the dtype of the optimizer state it resumes).
    policy.save_pretrained(tmp_path / "policy")
    reloaded = type(policy).from_pretrained(tmp_path / "policy")
    assert next(reloaded.policy.backbone.parameters()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="backbone.dtype must be one of"):
        BackboneConfig(dtype="float16")
