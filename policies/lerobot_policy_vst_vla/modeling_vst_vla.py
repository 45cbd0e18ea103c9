"""The plugin's modeling module: the core policy class."""

from vst_vla.policy.modeling_vst_vla import VSTVLAPolicy

__all__ = ["VSTVLAPolicy"]
