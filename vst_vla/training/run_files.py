"""The names of what a training run writes into its directory ``<output_root>/<run_name>/``.

Checkpoints follow :mod:`vst_vla.training.checkpoint`; beside them every stage writes its resolved config, the
commands that ran it and its summary, and the VLA stage its evaluations and LeRobot export. Stdlib only, so
tools that only read a run (e.g. :mod:`vst_vla.hub`) name its files without importing the training stack.
"""

RUN_CONFIG = "run_config.json"  # the stage's resolved config (dataclass as JSON)
RUN_SUMMARY = "run_summary.json"  # the stage's returned summary: steps, losses, evaluation results
EVAL_BEFORE = "eval_before.json"  # VLM stages: the starting model's evaluation, kept for a resumed run's summary
COMMANDS_FILE = "commands.jsonl"  # one line per invocation: the exact command (vst_vla.hub.command)
EVAL_DIR = "eval"  # VLA stage: the final evaluation; image ablations in eval_<ablation>/
REWARD_CHANGE = "reward_change.md"  # RL stage: accuracy / format reward before vs after, paired
EVAL_DURING_DIR = "eval_during"  # VLA stage with eval.every_steps: one step_<N>/ per evaluation during training
LEARNING_CURVE = "learning_curve.png"  # VLA stage: training loss and success rates over steps
