"""The plugin's configuration module: the core policy's config (LeRobot resolves its sibling modules)."""

from vst_vla.policy.configuration_vst_vla import VSTVLAConfig

__all__ = ["VSTVLAConfig"]
