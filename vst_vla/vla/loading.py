"""Load a VLA checkpoint in either layout: vst_vla's own, or the LeRobot plugin's (``lerobot-train`` output).

Evaluation and rollouts call :func:`load_vla_policy`, so ``python -m vst_vla.eval policy_path=...`` takes a
checkpoint from ``lerobot-train --policy.type=vst_vla`` as it is. The LeRobot layout is read by the plugin's
converter (imported only then), which takes the statistics from the saved pre-processor.
"""

from __future__ import annotations

from pathlib import Path

from vst_vla.vla.modeling import VLAPolicy


def load_vla_policy(path: str | Path) -> VLAPolicy:
    """The :class:`VLAPolicy` stored at ``path`` (a ``pretrained_model`` directory of either layout), ready to act:
    a LoRA checkpoint's adapters are merged into its weights."""
    from lerobot_policy_vst_vla.conversion import is_lerobot_checkpoint, vla_policy_from_lerobot

    if is_lerobot_checkpoint(path):
        return vla_policy_from_lerobot(path)
    return VLAPolicy.from_pretrained(path).merge_lora()
