"""The wrap-unit declaration FSDP needs: accelerate's transformer-based wrap policy (the one LeRobot's FSDP launch
uses) picks every Qwen2.5-VL decoder layer and vision block of the VLA policy and of the spatial VLM, and torch's
FSDP2 shards the backbone along those units and trains it on 2 CPU processes (gloo)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from accelerate.utils import FullyShardedDataParallelPlugin
from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy

from vst_vla.sft.model import SpatialVLM
from vst_vla.vlm.config import BackboneConfig


def _wrapped(model) -> list[str]:
    policy = fsdp2_prepare_auto_wrap_policy(
        FullyShardedDataParallelPlugin(fsdp_version=2, auto_wrap_policy="transformer_based_wrap"), model)
    return sorted(type(m).__name__ for m in model.modules() if policy(m))


def test_accelerate_wraps_each_decoder_layer_and_vision_block(make_policy):
    cfg = BackboneConfig(num_layers=3, vision_depth=2)
    expected = ["Qwen2_5_VLDecoderLayer"] * 3 + ["Qwen2_5_VLVisionBlock"] * 2
    assert _wrapped(SpatialVLM.build(cfg)) == expected
    assert _wrapped(make_policy(backbone=cfg).policy) == expected


FSDP2_SCRIPT = textwrap.dedent("""
    import torch, torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    from vst_vla.sft.model import SpatialVLM
    from vst_vla.vlm.config import BackboneConfig
    dist.init_process_group("gloo")
    torch.manual_seed(0)
    vlm = SpatialVLM.build(BackboneConfig())
    units = [m for m in vlm.modules() if type(m).__name__ in vlm._no_split_modules]
    for unit in units:
        fully_shard(unit)
    fully_shard(vlm.backbone)
    optimizer = torch.optim.AdamW(vlm.parameters(), lr=1e-3)
    ids = torch.randint(0, 500, (1, 16), generator=torch.Generator().manual_seed(dist.get_rank()))
    losses = []
    for _ in range(3):
        loss = vlm.backbone(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    print("rank", dist.get_rank(), "units", len(units), "losses", losses, flush=True)
    dist.destroy_process_group()
""")


@pytest.mark.slow
def test_fsdp2_trains_the_backbone_sharded_along_the_declared_units(tmp_path):
    script = tmp_path / "fsdp2.py"
    script.write_text(FSDP2_SCRIPT)
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line.split() for line in out.stdout.splitlines() if line.startswith("rank")]
    assert len(lines) == 2 and all(line[3] == "4" for line in lines)  # 2 decoder layers + 2 vision blocks
    first, last = (float(x.strip("[],")) for x in (lines[0][5], lines[0][-1]))
    assert last < first  # each process trains on its own tokens; the shared, sharded weights learn
