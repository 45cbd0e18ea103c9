#!/usr/bin/env bash
# Rebuild step 14's model, committed as results/models/sft_robot_curriculum, with run.sh's own commands on its line
# only (step 11's colour files, step 12's probe, step 13's files, probe and SFT run, step 14's files and SFT run), without
# the step scores. About 83 minutes on 2 cores; deterministic on one machine (results/models/README.md).
#   ./scripts/run.sh bash experiments/perception/rebuild_step14_model.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RES=experiments/perception/results
CU=outputs/perception/curriculum
SK8="object_inventory object_order left_right"
C_EVAL=outputs/spatial/colour_eval100.parquet
C_TRAIN=outputs/spatial/colour_train600.parquet
echo "== start $(date)"
[ -f "$C_EVAL" ] || python -m vst_vla.spatial.generate --num-scenes 100 --seed 100000 --image-size 224 --fovy 25 --skills $SK8 --out "$C_EVAL"
[ -f "$C_TRAIN" ] || python -m vst_vla.spatial.generate --num-scenes 600 --seed 0 --image-size 224 --fovy 25 --skills $SK8 --out "$C_TRAIN"
echo "== colour files $(date)"
[ -f "$CU/engine_probe/result.json" ] || python experiments/perception/train_probe.py --probe relation_crowd \
  --reason engine --rope-theta 2 --image-last --steps 3000 --eval-every 500 --out "$CU/engine_probe"
echo "== engine probe $(date)"
D_EVAL=outputs/spatial/depth_eval100.parquet
D_TRAIN=outputs/spatial/depth_train600.parquet
[ -f "$D_EVAL" ] || python -m vst_vla.spatial.generate --num-scenes 100 --seed 100000 --image-size 224 --fovy 25 \
  --skills closer_object depth_ranking --out "$D_EVAL"
[ -f "$D_TRAIN" ] || python -m vst_vla.spatial.generate --num-scenes 600 --seed 0 --image-size 224 --fovy 25 \
  --skills closer_object depth_ranking --out "$D_TRAIN"
for S in eval100 train600; do
  [ -f "outputs/spatial/depth_${S}_reason.parquet" ] || python experiments/perception/canonical_options.py \
    "outputs/spatial/colour_${S}.parquet" "outputs/spatial/depth_${S}.parquet" "outputs/spatial/depth_${S}_reason.parquet" \
    --keep-order closer_object --reason left_right closer_object
done
echo "== depth files $(date)"
[ -f "$CU/depth_probe/result.json" ] || python experiments/perception/train_probe.py --probe relation_crowd \
  depth_crowd --reason engine --rope-theta 2 --image-last --steps 2000 --eval-every 500 \
  --init "$CU/engine_probe/model" --out "$CU/depth_probe"
echo "== depth probe $(date)"
sft() {  # name train eval steps skills, then overrides (run.sh's engine_reason without the step scores)
  local name=$1 train=$2 eval=$3 steps=$4 skills=$5; shift 5
  [ -f outputs/train/$name/skills.md ] || python -m vst_vla.train stage=sft run_name=$name data.image_size=224 \
    "data.skills=[$skills]" data.train_path="$train" data.eval_path="$eval" trainer.steps=$steps trainer.vision_lr=1e-3 \
    trainer.save_every=500 eval.max_samples=2000 eval.max_new_tokens=96 "$@"
}
sft sft_depth_curriculum outputs/spatial/depth_train600_reason.parquet outputs/spatial/depth_eval100_reason.parquet 4000 \
  object_inventory,object_order,depth_ranking,left_right,closer_object model=local model.pretrained_path="$CU/depth_probe/model"
echo "== sft 13 $(date)"
for S in "eval100 100 100000" "train600 600 0"; do
  set -- $S
  [ -f "outputs/spatial/robot_$1.parquet" ] || python -m vst_vla.spatial.generate --num-scenes $2 --seed $3 \
    --image-size 224 --fovy 25 --skills closest_to_robot --out "outputs/spatial/robot_$1.parquet"
  [ -f "outputs/spatial/robot_$1_reason.parquet" ] || python experiments/perception/canonical_options.py \
    "outputs/spatial/colour_$1.parquet" "outputs/spatial/depth_$1.parquet" "outputs/spatial/robot_$1.parquet" \
    "outputs/spatial/robot_$1_reason.parquet" --keep-order closer_object --reason left_right closer_object \
    closest_to_robot
done
echo "== robot files $(date)"
sft sft_robot_curriculum outputs/spatial/robot_train600_reason.parquet outputs/spatial/robot_eval100_reason.parquet 2000 \
  object_inventory,object_order,depth_ranking,left_right,closer_object,closest_to_robot \
  model=local model.pretrained_path=outputs/train/sft_depth_curriculum/checkpoints/last/pretrained_model
echo "== sft 14 done $(date)"
rm -rf "$RES/models/sft_robot_curriculum"
mkdir -p "$RES/models"
cp -r outputs/train/sft_robot_curriculum/checkpoints/last/pretrained_model "$RES/models/sft_robot_curriculum"
sha256sum "$RES/models/sft_robot_curriculum/model.safetensors"
