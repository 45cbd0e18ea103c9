"""Demonstration data: collecting scripted-expert episodes into LeRobot datasets and loading them for training.

Import from the submodules: ``vst_vla.data.config`` (plain dataclasses), ``vst_vla.data.collect`` (needs the
simulator) and ``vst_vla.data.dataset`` (training-time loading; never imports the simulator).
"""
