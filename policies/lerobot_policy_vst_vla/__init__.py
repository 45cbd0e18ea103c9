"""LeRobot policy plugin for vst-vla (type "vst_vla"): a thin adapter over vst_vla.vla.

Importing this package registers the config under ``--policy.type=vst_vla`` and the post-processor's safety
step (so saved pipelines reload). The model code is imported lazily by LeRobot's ``get_policy_class``
(``modeling_*`` next to ``configuration_*``), keeping plugin discovery cheap for commands that never build a
policy.

It installs as its own distribution (a uv workspace member), which LeRobot's ``register_third_party_plugins()``
imports by name, so LeRobot's CLIs take it with no extra flag::

    lerobot-train --policy.type=vst_vla --dataset.repo_id=local/my_so101 --dataset.root=/data/my_so101 \\
        --policy.device=cuda --policy.push_to_hub=false --policy.head_type=flow --policy.chunk_size=8 \\
        --policy.n_action_steps=8

``conversion`` moves checkpoints between this layout and vst_vla's (``python -m vst_vla.convert``).
"""

from .configuration_vst_vla import VSTVLAConfig
from .processor_vst_vla import VSTVLAActionSafetyProcessorStep, make_vst_vla_pre_post_processors

__all__ = ["VSTVLAActionSafetyProcessorStep", "VSTVLAConfig", "make_vst_vla_pre_post_processors"]
