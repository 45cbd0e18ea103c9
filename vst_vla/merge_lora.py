"""``python -m vst_vla.merge_lora CHECKPOINT OUT``: fold a LoRA run's adapters into its weights, as a plain checkpoint.

CHECKPOINT is what ``vst-vla train ... lora.enabled=true`` wrote (a frozen base and peft adapters, see
:mod:`vst_vla.vlm.lora`): a ``pretrained_model`` directory, a step directory holding one, or the run directory
(its last checkpoint). OUT gets what the next step takes: for a VLM stage (align / sft / cot / rl) a plain Hugging
Face Qwen2.5-VL directory (``model=local model.pretrained_path=OUT``); for the VLA stage a VLA checkpoint in
LeRobot's layout (``vst-vla eval policy_path=OUT``, ``lerobot-eval --policy.path=OUT``). OUT is written atomically.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vst_vla.errors import MissingInputError, exit_on_user_error
from vst_vla.io import check_writable_destination
from vst_vla.training.checkpoint import CHECKPOINTS_DIR, LAST_LINK, PRETRAINED_DIR
from vst_vla.vlm.lora import ADAPTER_DIR, is_lora_checkpoint

logger = logging.getLogger(__name__)

# What tells a VLA checkpoint from a VLM one (vst_vla.policy.modeling_vst_vla.BACKBONE_CONFIG_FILENAME; not
# imported here, so that --help stays light).
VLA_MARKER = "backbone_config.json"


def find_lora_checkpoint(path: str | Path) -> Path:
    """The LoRA ``pretrained_model`` directory that ``path`` names (itself, a step directory's, a run's last).

    Raises:
        MissingInputError: ``path`` holds no LoRA checkpoint (a plain one needs no merging), saying which it is.
    """
    path = Path(path)
    for candidate in (path, path / PRETRAINED_DIR, path / CHECKPOINTS_DIR / LAST_LINK / PRETRAINED_DIR):
        if is_lora_checkpoint(candidate):
            return candidate
    if not path.exists():
        raise MissingInputError(f"checkpoint {path} does not exist")
    raise MissingInputError(f"{path} holds no LoRA checkpoint (no {ADAPTER_DIR}/adapter_config.json in it, in "
                            f"{PRETRAINED_DIR}/ or in {CHECKPOINTS_DIR}/{LAST_LINK}/{PRETRAINED_DIR}/); a checkpoint "
                            "trained without lora.enabled is plain already and needs no merging")


def merge_checkpoint(source: str | Path, destination: str | Path) -> Path:
    """Merge the LoRA checkpoint ``source`` (a ``pretrained_model`` directory) into the plain checkpoint
    ``destination`` (written atomically); returns ``destination``."""
    source = Path(source)
    if (source / VLA_MARKER).is_file():
        from vst_vla.policy.processed import ProcessedPolicy

        model = ProcessedPolicy.from_pretrained(source)
    else:
        from vst_vla.sft.model import SpatialVLM

        model = SpatialVLM.from_pretrained(source)
    out = model.merge_lora().save_pretrained(destination)
    logger.info("merged %s into the plain checkpoint %s", source, out)
    return out


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m vst_vla.merge_lora",
        description=__doc__.split("\n\n")[0],
        epilog="examples:\n"
        "  python -m vst_vla.merge_lora outputs/train/sft_spatial outputs/sft_merged\n"
        "  python -m vst_vla.train stage=cot model=local model.pretrained_path=outputs/sft_merged\n"
        "  python -m vst_vla.merge_lora outputs/train/vla_lift/checkpoints/last/pretrained_model outputs/vla_merged\n"
        "  python -m vst_vla.eval policy_path=outputs/vla_merged",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", type=Path,
                        help="a LoRA run's pretrained_model directory, step directory or run directory")
    parser.add_argument("out", type=Path, help="where to write the merged checkpoint (must not exist)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.out.exists():
        parser.error(f"out {args.out} already exists; choose a new directory")
    with exit_on_user_error():
        check_writable_destination(args.out, "out")
        return merge_checkpoint(find_lora_checkpoint(args.checkpoint), args.out)


if __name__ == "__main__":
    main()
