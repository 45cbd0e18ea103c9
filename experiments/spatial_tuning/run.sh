#!/usr/bin/env bash
# VST's recipe on the tiny VLM at a CPU budget: spatial SFT on 300 simulated scenes, CoT cold start, then GRPO,
# each evaluated on 40 held-out scenes. Run from the repo root:
#   ./scripts/run.sh bash experiments/spatial_tuning/run.sh
# About 1.75 hours on 2 cores. Per-skill tables land in outputs/train/<run>/skills.md, copied to results/.
set -euo pipefail
OUT=experiments/spatial_tuning/results
TRAIN=outputs/spatial/train300.parquet
EVAL=outputs/spatial/eval40.parquet
mkdir -p "$OUT"
[ -f "$TRAIN" ] || python -m vst_vla.spatial.generate --num-scenes 300 --seed 0 --out "$TRAIN"
[ -f "$EVAL" ] || python -m vst_vla.spatial.generate --num-scenes 40 --seed 100000 --out "$EVAL"
DATA="data.train_path=$TRAIN data.eval_path=$EVAL"

# 1. Spatial perception SFT from the random-init tiny VLM (the vision tower is random too: no lower LR for it).
python -m vst_vla.train stage=sft run_name=sft_spatial300 $DATA trainer.steps=2500 trainer.vision_lr=1e-3 \
  trainer.save_every=500 eval.max_samples=1271
python -m vst_vla.spatial.report outputs/train/sft_spatial300 --train "$TRAIN" --eval "$EVAL" > "$OUT/sft.md"

# 2. CoT cold start from the SFT checkpoint: <think>...</think> answers composed from the ground truth.
python -m vst_vla.train stage=cot run_name=cot_spatial300 $DATA model=local \
  model.pretrained_path=outputs/train/sft_spatial300/checkpoints/last/pretrained_model \
  trainer.steps=400 trainer.vision_lr=1e-3 trainer.save_every=400 eval.max_samples=200 \
  eval.max_new_tokens=256
cp outputs/train/cot_spatial300/skills.md "$OUT/cot.md"

# 3. GRPO (DAPO tricks) from the CoT checkpoint; before/after on the same 400 held-out questions. The CoT
#    targets of most skills are 90-220 tokens with the offline tokenizer (digits are costly), so rollouts and
#    evaluation get room for them; box detection (~780 tokens) stays out of reach at this budget.
python -m vst_vla.train stage=rl run_name=rl_spatial300 $DATA model=local \
  model.pretrained_path=outputs/train/cot_spatial300/checkpoints/last/pretrained_model \
  trainer.steps=200 trainer.lr=2e-4 trainer.vision_lr=2e-5 trainer.save_every=200 \
  rl.max_new_tokens=256 eval.max_samples=400 eval.max_new_tokens=256
cp outputs/train/rl_spatial300/skills.md "$OUT/rl.md"
cp outputs/train/rl_spatial300/reward_change.md "$OUT/rl_reward_change.md"

# 3b. The same with a KL term to the CoT model (low-variance estimator, 0.05) and a 4x lower learning rate, which
#     keeps the reasoning from collapsing into one short constant answer.
python -m vst_vla.train stage=rl run_name=rl_spatial300_kl $DATA model=local \
  model.pretrained_path=outputs/train/cot_spatial300/checkpoints/last/pretrained_model \
  trainer.steps=200 trainer.lr=5e-5 trainer.vision_lr=5e-6 trainer.save_every=200 \
  rl.max_new_tokens=256 rl.kl_coef=0.05 eval.max_samples=400 eval.max_new_tokens=256
cp outputs/train/rl_spatial300_kl/skills.md "$OUT/rl_kl.md"
cp outputs/train/rl_spatial300_kl/reward_change.md "$OUT/rl_kl_reward_change.md"
