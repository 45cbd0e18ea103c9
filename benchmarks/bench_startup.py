"""Start-up at the real vocabulary size: build, save and load a tokens-head VLA policy on the Qwen2.5-VL-3B preset.

    python benchmarks/bench_startup.py [--num-layers 2] [--vision-depth 2] [--out results.json]

The backbone is the public Qwen2.5-VL-3B architecture (``vst_vla/vlm/presets``) with random weights, the real
151,665-entry offline tokenizer (151,936 embedding rows) and the language model / vision tower cut to their first
``--num-layers`` / ``--vision-depth`` blocks so that a CPU holds it (every width, the vocabulary and the embedding
stay real). Each phase is the library's own call, then split:

- build: ``ProcessedPolicy.build``, split into its ``build_backbone`` call (real-size tokenizer + random init),
  timed inside it, and the rest: wrapping the backbone as a ``VSTVLAPolicy`` (action and state tokens, head) and
  the processor pipelines; the tokenizer is timed again on its own, the random initialisation is the rest.
- save: ``ProcessedPolicy.save_pretrained`` (the LeRobot checkpoint: policy files and both pipelines); the
  weights' own I/O is a second ``safetensors`` write of the same state.
- load: ``ProcessedPolicy.from_pretrained``; the weights' own I/O is a second ``safetensors`` read into a freshly
  constructed policy.

"beyond weights" is the phase minus its weights part (random init for build, file I/O for save/load): the
start-up cost the code adds, which used to be 40-48 s (one full ``get_vocab()`` per action token). It is clipped
at 0 when timing noise makes the separately timed weights part look longer than the whole phase; the detail
column times the other parts (tokenizer, processor files) directly.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from unittest import mock

import torch
from safetensors.torch import load_model, save_model

from vst_vla.policy import modeling_vst_vla
from vst_vla.policy.configuration_vst_vla import TokenHeadConfig, VSTVLAConfig
from vst_vla.policy.modeling_vst_vla import WEIGHTS_FILENAME, VSTVLAPolicy
from vst_vla.policy.processed import ProcessedPolicy
from vst_vla.vlm.backbone import BackboneConfig
from vst_vla.vlm.tokenizer import build_real_size_tokenizer

logger = logging.getLogger(__name__)

CAMERA = "observation.images.agentview"
STATS = {"action": {"q01": [-1.0] * 7, "q99": [1.0] * 7}, "observation.state": {"q01": [-1.0] * 9, "q99": [1.0] * 9}}


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


@contextmanager
def _time_inside(module: ModuleType, name: str, seconds: list[float]) -> Iterator[None]:
    """Within it, every call of ``module.name`` appends its duration to ``seconds``: the policy makes these calls
    itself (``VSTVLAPolicy`` builds its own backbone and processor), so this is how one part of a library call is
    timed without doing it a second time."""
    original = getattr(module, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    with mock.patch.object(module, name, timed):
        yield


def policy_config(num_layers: int, vision_depth: int) -> VSTVLAConfig:
    """A tokens-head policy (chunk 4, one 128 px camera, Lift's 7-D actions and 9-D state) on the cut 3B preset."""
    backbone = BackboneConfig(preset="qwen2_5_vl_3b", preset_num_layers=num_layers, preset_vision_depth=vision_depth)
    config = VSTVLAConfig(backbone=backbone, head=TokenHeadConfig(), chunk_size=4, n_action_steps=4, device="cpu")
    return config.with_features({CAMERA: (3, 128, 128)}, action_dim=7, state_dim=9)


def run(num_layers: int = 2, vision_depth: int = 2, workdir: str | None = None) -> list[dict]:
    """Rows ``{phase, seconds, weights_seconds, beyond_weights_seconds, ...}`` for build, save and load."""
    torch.manual_seed(0)
    config = policy_config(num_layers, vision_depth)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        ckpt, weights_copy = Path(tmp) / "ckpt", Path(tmp) / "weights_again.safetensors"
        backbone_calls: list[float] = []
        with _time_inside(modeling_vst_vla, "build_backbone", backbone_calls):
            policy, build_s = _timed(lambda: ProcessedPolicy.build(config, STATS))
        (backbone_s,) = backbone_calls
        wrap_s = build_s - backbone_s
        _, tokenizer_s = _timed(build_real_size_tokenizer)
        params = sum(p.numel() for p in policy.parameters())
        vocab = len(policy.policy.encoder.tokenizer)
        init_s = max(backbone_s - tokenizer_s, 0.0)
        logger.info("built in %.1f s (random init %.1f s)", build_s, init_s)

        _, save_s = _timed(lambda: policy.save_pretrained(ckpt))
        # The weights file holds the inner policy's state (what from_pretrained loads), so the copy does too.
        _, save_weights_s = _timed(lambda: save_model(policy.policy, str(weights_copy)))
        _, save_processor_s = _timed(lambda: policy.policy.encoder.save(Path(tmp) / "processor_again"))
        weights_bytes = (ckpt / WEIGHTS_FILENAME).stat().st_size
        policy = None  # one copy of the weights in memory at a time
        gc.collect()
        logger.info("saved in %.1f s", save_s)

        loaded, load_s = _timed(lambda: ProcessedPolicy.from_pretrained(ckpt))
        _, vocab_call_s = _timed(loaded.policy.encoder.tokenizer.get_vocab)
        del loaded
        gc.collect()
        # The same steps as from_pretrained, one at a time: the weights' part is reading the file into a freshly
        # built (never touched) model, as from_pretrained does; the checkpoint's processor is loaded inside the
        # construction and timed there.
        processor_calls: list[float] = []
        with _time_inside(modeling_vst_vla, "load_hf_processor", processor_calls):
            empty, empty_s = _timed(lambda: VSTVLAPolicy(config, checkpoint_dir=ckpt))
        processor_load_s = sum(processor_calls)
        construct_s = max(empty_s - processor_load_s, 0.0)
        _, load_weights_s = _timed(lambda: load_model(empty, str(weights_copy)))
        empty = None
        gc.collect()
        logger.info("loaded in %.1f s", load_s)

    common = {"num_layers": num_layers, "vision_depth": vision_depth, "params_M": params / 1e6, "vocab": vocab,
              "weights_GB": weights_bytes / 1e9}
    return [
        {"phase": "build", "seconds": build_s, "weights_seconds": init_s,
         "beyond_weights_seconds": build_s - init_s, "weights_part": "random init",
         "detail": f"tokenizer {tokenizer_s:.2f} s, policy wrap (action/state tokens, head, processor pipelines) "
                   f"{wrap_s:.2f} s", **common},
        {"phase": "save", "seconds": save_s, "weights_seconds": save_weights_s,
         "beyond_weights_seconds": max(save_s - save_weights_s, 0.0), "weights_part": "safetensors write",
         "detail": f"processor (tokenizer) {save_processor_s:.2f} s", **common},
        {"phase": "load", "seconds": load_s, "weights_seconds": load_weights_s,
         "beyond_weights_seconds": max(load_s - load_weights_s, 0.0), "weights_part": "safetensors read",
         "detail": f"processor (tokenizer) {processor_load_s:.2f} s, empty model {construct_s:.2f} s; one "
                   f"get_vocab() call {vocab_call_s * 1e3:.0f} ms (the old code made 257 on every build and load)",
         **common},
    ]


def markdown_table(rows: list[dict]) -> str:
    lines = ["| phase | seconds | weights part | weights s | beyond weights s | detail |",
             "| --- | ---: | --- | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['phase']} | {r['seconds']:.2f} | {r['weights_part']} | {r['weights_seconds']:.2f} "
                     f"| {r['beyond_weights_seconds']:.2f} | {r['detail']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-layers", type=int, default=2, help="language-model layers kept (3B has 36)")
    parser.add_argument("--vision-depth", type=int, default=2, help="vision blocks kept (3B has 32)")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    # force: importing LeRobot (through vst_vla.policy) already gave the root logger a WARNING handler, which
    # would make this call a no-op and drop the progress lines.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
    rows = run(args.num_layers, args.vision_depth)
    r = rows[0]
    print(f"Qwen2.5-VL-3B preset cut to {r['num_layers']} LM layers / {r['vision_depth']} vision blocks: "
          f"{r['params_M']:.0f}M parameters, {r['weights_GB']:.2f} GB of weights, tokenizer {r['vocab']} entries; "
          f"{torch.get_num_threads()} torch threads")
    print(markdown_table(rows))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
