"""LeRobot policy plugin for vst-vla (type "vst_vla"): a thin adapter over vst_vla.vla.

LeRobot's ``register_third_party_plugins()`` imports this package (its name starts with ``lerobot_policy_``),
which registers the config under ``--policy.type=vst_vla`` and the post-processor's safety step, so saved
pipelines can be reloaded. The model code is imported lazily by LeRobot's ``get_policy_class`` (``modeling_*``
next to ``configuration_*``), keeping plugin discovery cheap for commands that never build a policy.
"""

from .configuration_vst_vla import VSTVLAConfig
from .processor_vst_vla import VSTVLAActionSafetyProcessorStep, make_vst_vla_pre_post_processors

__all__ = ["VSTVLAActionSafetyProcessorStep", "VSTVLAConfig", "make_vst_vla_pre_post_processors"]
