#!/usr/bin/env bash
# Why do the spatial SFT runs stay at chance on choice skills? A focused probe with 15x more questions per skill:
# four two-option choice skills (left / right, nearer object, depth order of marked points, camera turn), six
# questions per skill and scene from 1,500 scenes (35.8k samples), held out on 60 other scenes (1,435).
#   1. the tiny VLM with Qwen2.5-VL's M-RoPE base (1e6), where image columns barely turn the rotary angles;
#   2. the same with a base of 20 (see vst_vla.vlm.backbone.BackboneConfig.rope_theta);
#   3. the 7x larger model=mini (4 language layers, 4 vision blocks, base 20) on the two colour-binding skills;
#   4. synthetic controls (position_probe.py): one square, asked which half it is in (options shuffled, or fixed
#      "A. Left / B. Right" under three M-RoPE bases), or asked its colour (red or blue).
# Run from the repo root (about 3 hours on 2 cores):
#   ./scripts/run.sh bash experiments/spatial_choice/run.sh
# Per-skill tables and training logs are copied to results/, with a loss plot against two-option guessing.
set -euo pipefail
OUT=experiments/spatial_choice/results
SKILLS="left_right closer_object depth_order_points camera_motion"
TRAIN=outputs/spatial/choice1500.parquet
EVAL=outputs/spatial/choice_eval60.parquet
mkdir -p "$OUT"
[ -f "$TRAIN" ] || python -m vst_vla.spatial.generate --num-scenes 1500 --seed 200000 --max-per-scene 6 \
  --skills $SKILLS --out "$TRAIN"
[ -f "$EVAL" ] || python -m vst_vla.spatial.generate --num-scenes 60 --seed 100000 --max-per-scene 6 \
  --skills $SKILLS --out "$EVAL"
DATA="data.train_path=$TRAIN data.eval_path=$EVAL eval.max_samples=2000 trainer.vision_lr=1e-3"

run() {  # run_name, then overrides
  local name=$1; shift
  python -m vst_vla.train stage=sft run_name="$name" $DATA "$@"
  cp "outputs/train/$name/skills.md" "$OUT/$name.md"
  cp "outputs/train/$name/train_log.jsonl" "$OUT/${name}_train_log.jsonl"
}
run choice_theta1e6 model.rope_theta=1000000.0 trainer.steps=1500 trainer.save_every=500
run choice_theta20 model.rope_theta=20.0 trainer.steps=1500 trainer.save_every=500
run choice_mini model=mini "data.skills=[left_right,closer_object]" trainer.steps=1200 trainer.save_every=400
P=outputs/spatial
python experiments/spatial_choice/position_probe.py --out $P/position_probe
python experiments/spatial_choice/position_probe.py --fixed-options --out $P/position_probe_fixed
python experiments/spatial_choice/position_probe.py --colour --out $P/colour_probe
DATA="trainer.vision_lr=1e-3 trainer.save_every=600"
run position_probe_tiny data.train_path=$P/position_probe/train.parquet \
  data.eval_path=$P/position_probe/eval.parquet trainer.steps=600
for theta in 1e6:1000000.0 20:20.0 2:2.0; do
  run "position_fixed_theta${theta%%:*}" model.rope_theta=${theta##*:} data.train_path=$P/position_probe_fixed/train.parquet \
    data.eval_path=$P/position_probe_fixed/eval.parquet trainer.steps=$([ "${theta%%:*}" = 2 ] && echo 400 || echo 600)
done
run colour_probe data.train_path=$P/colour_probe/train.parquet data.eval_path=$P/colour_probe/eval.parquet \
  trainer.steps=300
python experiments/spatial_choice/plot_loss.py --out "$OUT/loss.png" \
  "tiny 4 skills, base 1e6=$OUT/choice_theta1e6_train_log.jsonl" \
  "tiny 4 skills, base 20=$OUT/choice_theta20_train_log.jsonl" \
  "mini 2 skills, base 20=$OUT/choice_mini_train_log.jsonl" \
  "square side, fixed options=$OUT/position_fixed_theta1e6_train_log.jsonl" "square colour=$OUT/colour_probe_train_log.jsonl"
