#!/usr/bin/env bash
# LeRobot's own tools on the default run's policy as it is: lerobot-eval on simulated Lift, then
# lerobot-rollout against the simulated arm. Run from the repo root after `python -m vst_vla.train`:
#   ./scripts/run.sh bash experiments/lerobot_tools/run.sh [RUN_DIR] [EVAL_EPISODES] [ROLLOUT_SECONDS]
# Writes logs and summaries to experiments/lerobot_tools/results/.
set -euo pipefail
RUN_DIR=${1:-outputs/train/vla_lift}
EPISODES=${2:-10}
SECONDS_=${3:-120}
OUT=experiments/lerobot_tools/results
BIN=$(dirname "$(command -v python)")
mkdir -p "$OUT"
POLICY="$RUN_DIR/checkpoints/last/pretrained_model"  # a LeRobot policy directory already

rm -rf "$OUT/lerobot_eval"
"$BIN/lerobot-eval" --policy.path="$POLICY" --env.type=vst --env.task=lift \
  --eval.n_episodes="$EPISODES" --eval.batch_size=1 --eval.use_async_envs=false \
  --output_dir="$OUT/lerobot_eval" 2>&1 | tr '\r' '\n' | grep -v -E "Running rollout|Stepping through" \
  > "$OUT/lerobot_eval.log"
grep -E "'pc_success'" "$OUT/lerobot_eval.log" | tail -1
find "$OUT/lerobot_eval/videos" -name "eval_episode_*.mp4" ! -name "eval_episode_[01].mp4" -delete  # keep two

"$BIN/lerobot-rollout" --strategy.type=base --policy.path="$POLICY" \
  --robot.type=vst_sim --robot.task=lift --robot.summary_path="$OUT/rollout_summary.json" \
  --task="lift the red cube" --duration="$SECONDS_" --fps=20 2>&1 \
  | grep -v "Record loop is running slower" > "$OUT/lerobot_rollout.log"
grep -E "episode seed|episodes finished|Rollout finished" "$OUT/lerobot_rollout.log"
