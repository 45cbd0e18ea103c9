"""The plugin's processor module: the core policy's pipelines."""

from vst_vla.policy.processor_vst_vla import (
    VSTVLAActionSafetyProcessorStep,
    VSTVLANormalizedActionProcessorStep,
    make_vst_vla_pre_post_processors,
)

__all__ = ["VSTVLAActionSafetyProcessorStep", "VSTVLANormalizedActionProcessorStep",
           "make_vst_vla_pre_post_processors"]
