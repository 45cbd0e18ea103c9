"""LeRobot policy plugin for vst-vla (``--policy.type=vst_vla``): the core package's policy, as LeRobot finds it.

The policy itself lives in :mod:`vst_vla.policy` (``configuration_vst_vla`` / ``modeling_vst_vla`` /
``processor_vst_vla``); this distribution exists because LeRobot's ``register_third_party_plugins()`` imports
plugins by distribution name (``lerobot_policy_*``). Importing it registers the config under
``--policy.type=vst_vla`` and the processor steps (so saved pipelines reload); LeRobot then imports the model
code from the config class's sibling modules, only when a policy is built. So LeRobot's CLIs take it with no
extra flag::

    lerobot-train --policy.type=vst_vla --dataset.repo_id=local/my_so101 --dataset.root=/data/my_so101 \\
        --policy.device=cuda --policy.push_to_hub=false --policy.head.type=flow --policy.chunk_size=8 \\
        --policy.n_action_steps=8

and a checkpoint of ``python -m vst_vla.train stage=vla`` is already in this layout.
"""

from vst_vla.policy.configuration_vst_vla import VSTVLAConfig
from vst_vla.policy.processor_vst_vla import VSTVLAActionSafetyProcessorStep, make_vst_vla_pre_post_processors

__all__ = ["VSTVLAActionSafetyProcessorStep", "VSTVLAConfig", "make_vst_vla_pre_post_processors"]
