"""Action heads: how a VLA turns the backbone's state into actions.

Each is configured by an ``ActionHeadConfig`` subclass in :mod:`vst_vla.policy.configuration_vst_vla`.
"""
