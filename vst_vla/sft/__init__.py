"""Spatial perception SFT and the CoT cold start (VST sections 3.2-3.3): the VLM stages before RL."""
