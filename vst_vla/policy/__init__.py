"""The VLA policy in LeRobot's layout: ``configuration_vst_vla`` / ``modeling_vst_vla`` / ``processor_vst_vla``.

The one VLA policy of the project: ``python -m vst_vla.train stage=vla`` trains it and writes LeRobot
checkpoints, and LeRobot's own tools (``lerobot-train``, ``lerobot-eval``, ``lerobot-rollout``) drive it through
the ``lerobot_policy_vst_vla`` plugin, which re-exports these modules. :mod:`.processed` joins a policy to its
pre/post-processors for callers that act in env units (rollouts, evaluation, the VLA stage).
"""
