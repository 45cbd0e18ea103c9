"""FSDP2 (``trainer.parallelism=fsdp2``) on CPUs: 2 processes (gloo, torchrun), each holding a shard of the weights
and optimizer state, against 1 process with the same global batch.

A sharded run writes what a single process writes: the same checkpoint files, the weights and AdamW state gathered
and numbered as one process numbers them, so any world size and either parallelism resumes it. The default run
keeps the VLA stage against DDP (two 2-process runs, about 60 s on 2 cores); the SFT stage against one process and
a resume across layouts are slow.
"""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vst_vla.train import run

from .test_data_parallel import PARITY_RTOL, _files, _layout, _losses, _sft, _torchrun, _vla


def _tensors(run_dir: Path, step: int, part: str) -> dict[str, torch.Tensor]:
    directory = run_dir / "checkpoints" / f"{step:06d}" / part
    return {name: tensor for file in sorted(directory.glob("*.safetensors")) if not file.name.startswith("rng")
            for name, tensor in load_file(str(file)).items()}


def _assert_same_tensors(one: dict[str, torch.Tensor], two: dict[str, torch.Tensor], rtol: float) -> None:
    """Each tensor within ``rtol`` of the other in norm (elementwise, AdamW's update of a parameter whose gradient
    is near 0 is lr x a ratio of two tiny numbers, which float-sum differences move by up to lr); a tensor numbered
    as another one's, or left ungathered, is off by ~100%."""
    assert one.keys() == two.keys()
    for name, tensor in one.items():
        assert two[name].shape == tensor.shape, name
        error = float((two[name].double() - tensor.double()).norm() / tensor.double().norm().clamp_min(1e-12))
        assert error < rtol, (name, error)


def test_fsdp2_trains_the_vla_as_ddp_does_and_saves_what_one_process_saves(tmp_path, tiny_lift_dataset):
    """Against DDP on the same 2 processes, with gradient accumulation: the same samples and noise draws per process,
    so the same gradients up to the order of float sums (DDP against one process is test_data_parallel.py's)."""
    root = tiny_lift_dataset.root
    accumulate = "trainer.grad_accum_steps=2"  # 2 per process x 2 processes x 2 micro-batches: a global batch of 8
    _torchrun([*_vla(root, tmp_path, "ddp", batch=2), accumulate], tmp_path)
    _torchrun([*_vla(root, tmp_path, "sharded", batch=2), accumulate, "trainer.parallelism=fsdp2"], tmp_path)
    ddp, sharded = tmp_path / "ddp", tmp_path / "sharded"

    assert _losses(ddp).keys() == _losses(sharded).keys() == {1, 2, 3, 4}
    for step, loss in _losses(ddp).items():
        assert _losses(sharded)[step] == pytest.approx(loss, rel=1e-5), step
    assert _layout(sharded, 4) == {"world_size": 2, "global_batch": 8}
    # The gathered weights and AdamW state, in the single-process layout (parameters numbered alike).
    for step in (2, 4):
        _assert_same_tensors(_tensors(ddp, step, "pretrained_model"), _tensors(sharded, step, "pretrained_model"),
                             rtol=1e-4)
        _assert_same_tensors(_tensors(ddp, step, "training_state"), _tensors(sharded, step, "training_state"),
                             rtol=1e-4)
    assert _files(sharded) == _files(ddp)  # only process 0 wrote, the same files


@pytest.mark.slow
def test_a_sharded_checkpoint_resumes_in_one_process(tmp_path, tiny_lift_dataset, compose_config):
    """FSDP2's step-2 checkpoint, resumed by one process to step 4, trains as the single-process run did."""
    root = tiny_lift_dataset.root
    one = Path(run(compose_config("train", _vla(root, tmp_path, "one", batch=8)))["run_dir"])
    _torchrun([*_vla(root, tmp_path, "sharded", batch=4, steps=2), "trainer.parallelism=fsdp2"], tmp_path)
    resumed = Path(run(compose_config("train", _vla(root, tmp_path, "sharded", batch=8)))["run_dir"])
    for step in (3, 4):
        assert _losses(resumed)[step] == pytest.approx(_losses(one)[step], rel=PARITY_RTOL), step


@pytest.mark.slow
def test_fsdp2_trains_the_sft_stage_as_one_process(tmp_path, compose_config):
    base = _sft(tmp_path)
    one = Path(run(compose_config("train", [*base, "run_name=one", "trainer.batch_size=2"]))["run_dir"])
    _torchrun([*base, "run_name=two", "trainer.batch_size=1", "trainer.parallelism=fsdp2"], tmp_path)
    two = tmp_path / "two"
    for step, loss in _losses(one).items():
        assert _losses(two)[step] == pytest.approx(loss, rel=PARITY_RTOL), step
    _assert_same_tensors(_tensors(one, 4, "pretrained_model"), _tensors(two, 4, "pretrained_model"), rtol=1e-2)


@pytest.mark.slow
def test_fsdp2_runs_the_rl_stage(tmp_path):
    """Each process generates its own rollouts from the sharded model (the decoding steps kept in lockstep); process
    0 evaluates the gathered copy and writes."""
    rl = ["experiment=rl_debug", f"output_root={tmp_path}", f"data.train_path={tmp_path}/train.parquet",
          f"data.eval_path={tmp_path}/eval.parquet", "trainer.batch_size=1", "trainer.precision=fp32",
          "eval.max_samples=2", "eval.ablations=[]"]
    _torchrun([*rl, "run_name=ddp"], tmp_path)
    _torchrun([*rl, "run_name=sharded", "trainer.parallelism=fsdp2"], tmp_path)
    ddp, sharded = tmp_path / "ddp", tmp_path / "sharded"
    assert _files(sharded) == _files(ddp)
    # The same rollouts (per-process seeds alike) and the same update, up to float sums.
    for step, loss in _losses(ddp).items():
        assert _losses(sharded)[step] == pytest.approx(loss, rel=1e-3, abs=1e-6), step
    _assert_same_tensors(_tensors(ddp, 2, "pretrained_model"), _tensors(sharded, 2, "pretrained_model"), rtol=1e-3)


@pytest.mark.slow
def test_fsdp2_in_bf16_gathers_bf16_and_keeps_fp32_master_weights(tmp_path, tiny_lift_dataset):
    """trainer.precision=bf16: the units are gathered in bf16 (torch's MixedPrecisionPolicy) and gradients reduced
    in fp32, while the shards stay fp32. Against DDP under bf16 autocast, which computes its matmuls in bf16 from
    fp32 weights too: the losses agree to bf16's precision, and the saved weights are fp32."""
    root = tiny_lift_dataset.root
    bf16 = "trainer.precision=bf16"
    _torchrun([*_vla(root, tmp_path, "ddp", batch=2), bf16], tmp_path)
    _torchrun([*_vla(root, tmp_path, "sharded", batch=2), bf16, "trainer.parallelism=fsdp2"], tmp_path)
    ddp, sharded = _losses(tmp_path / "ddp"), _losses(tmp_path / "sharded")
    assert ddp.keys() == sharded.keys() == {1, 2, 3, 4}
    for step, loss in ddp.items():
        assert sharded[step] == pytest.approx(loss, rel=2e-2), step
    weights = _tensors(tmp_path / "sharded", 4, "pretrained_model")
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}
    reference = _tensors(tmp_path / "ddp", 4, "pretrained_model")
    # The weight matrices within 1% in norm (measured: 0.25% at most). The biases start at 0, so after 4 steps
    # each is 4 AdamW moves of about lr, whose signs follow near-zero gradients that bf16 rounds differently (a
    # key bias's gradient is 0 in exact arithmetic); they are held to the size of those moves instead.
    _assert_same_tensors({k: v for k, v in reference.items() if v.dim() >= 2},
                         {k: v for k, v in weights.items() if v.dim() >= 2}, rtol=1e-2)
    assert max(float((weights[k] - v).abs().max()) for k, v in reference.items()) < 1e-3
