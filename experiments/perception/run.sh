#!/usr/bin/env bash
# What makes perception learnable for a tiny random-init Qwen2.5-VL? Controlled probes (vst_vla.spatial.probes),
# one lever at a time, then the project's spatial SFT on the engine's skills with the chosen recipe.
# Run from the repo root (about 4 hours on 2 cores; set STEPS / SFT_STEPS lower for a quicker look):
#   ./scripts/run.sh bash experiments/perception/run.sh
# Learning curves, the lever table and the SFT per-skill table (real / blank / shuffled images) go to results/.
set -euo pipefail
OUT=outputs/perception
RES=experiments/perception/results
STEPS=${STEPS:-300}
SFT_STEPS=${SFT_STEPS:-1200}
mkdir -p "$OUT" "$RES"

probe() {  # run name, then train_probe.py options
  local name=$1; shift
  [ -f "$OUT/$name/result.json" ] || python experiments/perception/train_probe.py --steps "$STEPS" --eval-every 100 \
    --out "$OUT/$name" "$@"
}
# 1. Content vs position, and the M-RoPE base (Qwen's 1e6, 20, 2).
probe colour_t1e6 --probe colour --rope-theta 1e6
probe lr_t1e6 --probe left_right --rope-theta 1e6
probe lr_t20 --probe left_right --rope-theta 20
probe lr_t2 --probe left_right --rope-theta 2
probe tb_t1e6 --probe top_bottom --rope-theta 1e6
# 2. The other properties with the chosen base.
probe relation_t1e6 --probe relation --rope-theta 1e6
probe relation_t2 --probe relation --rope-theta 2
probe count_t2 --probe count --rope-theta 2
probe size_t2 --probe size --rope-theta 2
python experiments/perception/plot_curves.py "$OUT" --out "$RES"

# 3. The engine's skills: spatial SFT of the default base (M-RoPE base 2) on 300 scenes, scored on 60 others
#    with real, blank and shuffled images.
TRAIN=outputs/spatial/train300x4.parquet
EVAL=outputs/spatial/eval60x6.parquet
[ -f "$EVAL" ] || python -m vst_vla.spatial.generate --num-scenes 60 --seed 100000 --max-per-scene 6 --out "$EVAL"
[ -f "$TRAIN" ] || python -m vst_vla.spatial.generate --num-scenes 300 --seed 0 --max-per-scene 4 --out "$TRAIN"
python -m vst_vla.train stage=sft run_name=sft_theta2 data.train_path=$TRAIN data.eval_path=$EVAL \
  trainer.steps="$SFT_STEPS" trainer.vision_lr=1e-3 trainer.save_every=400 eval.max_samples=400
CHOICE="depth_order_points closer_object left_right relative_direction gripper_above_below approach_direction
  closest_to_robot camera_motion point_correspondence multiview_object_relation appearance_order video_camera_turn"
NUMERIC="point_depth object_distance object_size gripper_height count_objects video_count"
python -m vst_vla.spatial.evaluate --model outputs/train/sft_theta2/checkpoints/last/pretrained_model --data "$EVAL" \
  --prior-data "$TRAIN" --skills $CHOICE $NUMERIC --max-samples 100000 --out "$RES/sft_theta2_eval"
# 4. Object size: the engine's cubes are small in the image (4 cm at ~0.95 m: ~7 px at 128 px, ~12 px at 224 px,
#    where a merged image token is 28 px). The left/right probe with smaller squares, then the alignment stage at
#    224 px with the free cameras at 45 degrees (the default) and zoomed to 25 degrees (cubes ~25 px), each scored
#    on object_location with real, blank and shuffled images (locate_error.py).
probe lr_t2_sq11 --probe left_right --rope-theta 2 --square 11
probe lr_t2_sq8 --probe left_right --rope-theta 2 --square 8
for FOV in 45 25; do
  A_TRAIN=outputs/spatial/align224fov${FOV}_train.parquet
  A_EVAL=outputs/spatial/align224fov${FOV}_eval40.parquet
  ALIGN="--image-size 224 --fovy $FOV --skills object_location scene_layout depth_ranking"
  [ -f "$A_EVAL" ] || python -m vst_vla.spatial.generate --num-scenes 40 --seed 100000 $ALIGN --out "$A_EVAL"
  [ -f "$A_TRAIN" ] || python -m vst_vla.spatial.generate --num-scenes 800 --seed 0 $ALIGN --out "$A_TRAIN"
  python -m vst_vla.train stage=align run_name=align224fov$FOV data.image_size=224 data.train_path=$A_TRAIN \
    data.eval_path=$A_EVAL trainer.steps=1000 trainer.save_every=250 eval.max_samples=60
  for STEP in 000250 000500 000750 001000; do
    python experiments/perception/locate_error.py --data "$A_EVAL" --max-questions 100 \
      --model outputs/train/align224fov$FOV/checkpoints/$STEP/pretrained_model --out "$OUT/locate_fov${FOV}_$STEP"
  done
done

# 5. Where the image goes (third session). The probes above ask one fixed question; the engine's questions vary in
#    length (object phrases, templates). The left/right probe with 0-8 random filler words before the question,
#    the image first (as the engine wrote it) and last (as it writes it now), then with shuffled option letters.
PL=$OUT/placement
pprobe() { local name=$1; shift; [ -f "$PL/$name/result.json" ] || python experiments/perception/train_probe.py \
  --probe left_right --rope-theta 2 --eval-every 100 --out "$PL/$name" "$@"; }
pprobe lr_t2_bf16 --steps 300
pprobe lr_t2_jit8_s800 --steps 800 --question-jitter 8
pprobe lr_t2_jit8_last_s800 --steps 800 --question-jitter 8 --image-last
pprobe lr_t2_jit8_last_shuf --steps 600 --question-jitter 8 --image-last --shuffle-options
pprobe lr_t2_jit8_seed1 --steps 500 --question-jitter 8 --seed 1
pprobe lr_t2_jit8_last_seed1 --steps 500 --question-jitter 8 --image-last --seed 1
python experiments/perception/plot_curves.py "$PL" --out "$RES/placement"

# 6. The engine's single-image choice skills with the images last (224 px, free cameras at 25 degrees), through the
#    project's SFT stage: as generated (shuffled option letters), and with the options in one fixed order
#    (canonical_options.py), each scored by the stage with real, blank and shuffled images.
SK="left_right closer_object depth_order_points gripper_above_below approach_direction closest_to_robot relative_direction"
C_TRAIN=outputs/spatial/choice1_train600.parquet
C_EVAL=outputs/spatial/choice1_eval100.parquet
CHOICE1="--image-size 224 --fovy 25 --max-per-scene 4 --skills $SK"
[ -f "$C_EVAL" ] || python -m vst_vla.spatial.generate --num-scenes 100 --seed 100000 $CHOICE1 --out "$C_EVAL"
[ -f "$C_TRAIN" ] || python -m vst_vla.spatial.generate --num-scenes 600 --seed 0 $CHOICE1 --out "$C_TRAIN"
for F in "$C_TRAIN" "$C_EVAL"; do
  [ -f "${F%.parquet}_fixed.parquet" ] || python experiments/perception/canonical_options.py "$F" "${F%.parquet}_fixed.parquet"
done
for RUN in last fixed; do
  SUFFIX=$([ "$RUN" = fixed ] && echo _fixed || true)
  python -m vst_vla.train stage=sft run_name=sft_choice1_$RUN data.image_size=224 \
    data.train_path=${C_TRAIN%.parquet}$SUFFIX.parquet data.eval_path=${C_EVAL%.parquet}$SUFFIX.parquet \
    trainer.steps=1200 trainer.vision_lr=1e-3 trainer.save_every=400 eval.max_samples=350
  mkdir -p "$RES/engine"
  cp outputs/train/sft_choice1_$RUN/skills.md "$RES/engine/sft_choice1_${RUN}_skills.md"
  cp outputs/train/sft_choice1_$RUN/train_log.jsonl "$RES/engine/sft_choice1_${RUN}_train_log.jsonl"
done
# The same with left_right alone (no skill mix, fixed options), 600 steps.
python -m vst_vla.train stage=sft run_name=sft_lr_fixed data.image_size=224 'data.skills=[left_right]' \
  data.train_path=${C_TRAIN%.parquet}_fixed.parquet data.eval_path=${C_EVAL%.parquet}_fixed.parquet \
  trainer.steps=600 trainer.vision_lr=1e-3 trainer.save_every=600 eval.max_samples=200
cp outputs/train/sft_lr_fixed/skills.md "$RES/engine/sft_lr_fixed_skills.md"
cp outputs/train/sft_lr_fixed/train_log.jsonl "$RES/engine/sft_lr_fixed_train_log.jsonl"

# 7. Binding a word to the image (fourth session). The probes that learn ask about a fixed colour pair or answer
#    from the image alone; the engine's questions name their objects. The relation probe with any two named colours
#    (relation_named), and the simplest binding question, "is there a <colour> square?" (exists), each alone, with
#    more steps, and mixed half and half with captions that are a function of the image alone (the colours present,
#    alphabetically), first 1500 steps then 1500 more from that model. (relation_ctrl, named, named_dense and the
#    first exists row of the README ran with the offline vocabulary of before the spatial words; these rerun them
#    with the current one.)
WK=$OUT/walk
wprobe() { local name=$1; shift; [ -f "$WK/$name/result.json" ] || python experiments/perception/train_probe.py \
  --rope-theta 2 --image-last --eval-every 100 --out "$WK/$name" "$@"; }
wprobe relation_ctrl --probe relation --steps 600
wprobe named --probe relation_named --steps 600
wprobe named_dense --probe relation_named --steps 1500 --dense-frac 0.5 --caption full
wprobe exists_tok --probe exists --steps 600
wprobe exists_long --probe exists --steps 3000
wprobe exists_captions --probe exists --steps 1500 --dense-frac 0.5 --caption colours
wprobe exists_captions_more --probe exists --steps 1500 --dense-frac 0.5 --caption colours \
  --init "$WK/exists_captions/model"
python experiments/perception/plot_curves.py "$WK" --out "$RES/walk"
# What the spatial words in the offline vocabulary change: tokens and split words on 30 scenes' questions.
V30=outputs/spatial/vocab30.parquet
[ -f "$V30" ] || python -m vst_vla.spatial.generate --num-scenes 30 --seed 555 --out "$V30"
python experiments/perception/token_counts.py "$V30"

# 8. The same recipe on the engine: left_right (fixed options) mixed with the image-only captions object_inventory
#    and object_order from the same 600 scenes, through the project's SFT stage: 500 steps, then 1500 more from that
#    checkpoint, then 1500 more (the probes' captions took a second schedule to pay off), each scored on every
#    held-out question of 100 other scenes with real, blank and shuffled images.
SK8="object_inventory object_order left_right"
engine_views() {  # eval file, train file: 100 held-out scenes (seed 100000) and 600 training scenes (seed 0)
  [ -f "$1" ] || python -m vst_vla.spatial.generate --num-scenes 100 --seed 100000 --image-size 224 --fovy 25 \
    --skills $SK8 --out "$1"
  [ -f "$2" ] || python -m vst_vla.spatial.generate --num-scenes 600 --seed 0 --image-size 224 --fovy 25 \
    --skills $SK8 --out "$2"
}
I_TRAIN=outputs/spatial/inv_train600.parquet
I_EVAL=outputs/spatial/inv_eval100.parquet
engine_views "$I_EVAL" "$I_TRAIN"
for F in "$I_TRAIN" "$I_EVAL"; do
  [ -f "${F%.parquet}_fixed.parquet" ] || python experiments/perception/canonical_options.py "$F" "${F%.parquet}_fixed.parquet"
done
FROM=()
for RUN in "sft_lr_captions 500" "sft_lr_captions_more 1500" "sft_lr_captions_3 1500"; do
  set -- $RUN
  python -m vst_vla.train stage=sft run_name=$1 data.image_size=224 "data.skills=[object_inventory,object_order,left_right]" \
    data.train_path=${I_TRAIN%.parquet}_fixed.parquet data.eval_path=${I_EVAL%.parquet}_fixed.parquet \
    trainer.steps=$2 trainer.vision_lr=1e-3 trainer.save_every=500 eval.max_samples=1000 "${FROM[@]}"
  cp outputs/train/$1/skills.md "$RES/engine/$1_skills.md"
  cp outputs/train/$1/train_log.jsonl "$RES/engine/$1_train_log.jsonl"
  FROM=(model=local model.pretrained_path=outputs/train/$1/checkpoints/last/pretrained_model)
done

# 9. Reasoning through an image-only caption (fifth session). The named relation probes answer with a reasoning
#    step first, "<think>the colours from left to right</think> letter": the step is a caption of the image alone
#    (a first-order target, as the captions of step 7), and the letter then follows from the step and the question's
#    words without the image. Scored on generated answers (the step is the model's own), real and blank images.
RS=$OUT/reason
rprobe() { local name=$1; shift; [ -f "$RS/$name/result.json" ] || python experiments/perception/train_probe.py \
  --rope-theta 2 --image-last --eval-every 100 --out "$RS/$name" "$@"; }
rprobe named_reason --probe relation_named --steps 1500 --reason order
rprobe crowd_reason --probe relation_crowd --steps 1500 --reason order
rprobe crowd_reason_more --probe relation_crowd --steps 1500 --reason order --init "$RS/crowd_reason/model"
rprobe crowd_marked_more --probe relation_crowd --steps 1500 --reason marked --init "$RS/crowd_reason/model"
rprobe crowd_marked_pair --probe relation_crowd --steps 1500 --reason marked_pair --init "$RS/crowd_marked_more/model"
rprobe crowd_restated --probe relation_crowd --steps 1500 --reason restated --init "$RS/crowd_marked_more/model"
rprobe crowd_numbered --probe relation_crowd --steps 1500 --reason numbered
rprobe crowd --probe relation_crowd --steps 1500
python experiments/perception/plot_curves.py "$RS" --out "$RES/reason"
for R in "$RS"/*/; do cp "$R/curve.jsonl" "$RES/reason/$(basename "$R")_curve.jsonl"; done
# The engine: left_right answers through the same kind of step (its reasoning is now the view's object_order
# caption, then the side; regenerate step 8's files if they predate that), mixed with object_inventory and
# object_order, one 3000-step schedule from the random-init base.
R_TRAIN=${I_TRAIN%.parquet}_reason.parquet
R_EVAL=${I_EVAL%.parquet}_reason.parquet
[ -f "$R_TRAIN" ] || python experiments/perception/canonical_options.py "$I_TRAIN" "$R_TRAIN" --reason left_right
[ -f "$R_EVAL" ] || python experiments/perception/canonical_options.py "$I_EVAL" "$R_EVAL" --reason left_right
python -m vst_vla.train stage=sft run_name=sft_lr_reason data.image_size=224 \
  "data.skills=[object_inventory,object_order,left_right]" data.train_path="$R_TRAIN" data.eval_path="$R_EVAL" \
  trainer.steps=3000 trainer.vision_lr=1e-3 trainer.save_every=500 eval.max_samples=1000 \
  eval.max_new_tokens=96
cp outputs/train/sft_lr_reason/skills.md "$RES/engine/sft_lr_reason_skills.md"
cp outputs/train/sft_lr_reason/train_log.jsonl "$RES/engine/sft_lr_reason_train_log.jsonl"
# Each step of its left_right answers scored on its own: the list, the side read off it, the letter.
python experiments/perception/reasoning_steps.py outputs/train/sft_lr_reason/checkpoints/last/pretrained_model \
  "$R_EVAL" --out "$RES/engine/sft_lr_reason_steps.json"
# (Step 9's engine run above was measured with left_right's reasoning of that session, the plain list; with the
#  current engine its files get the marked format of step 10.)

# 10. The restated format on the engine (sixth session): left_right's reasoning marks the two named objects in the
#     list and restates the subject's mark (engine/relation.py left_right_steps). Fresh files from the engine (the
#     same scene seeds as step 8), 2000 steps from step 9's model, scored by the stage (real / blank / shuffled) and
#     step by step, on the held-out scenes and on 200 training questions (is a step learned, or only remembered?).
#     Measured with the list naming objects by colour and shape (git: the commit "Perception: the restated format
#     on the engine"); run at a later commit, this trains the current format.
N_EVAL=outputs/spatial/restated_eval100.parquet
N_TRAIN=outputs/spatial/restated_train600.parquet
engine_views "$N_EVAL" "$N_TRAIN"
engine_reason() {  # run name, train file, eval file, steps, then model overrides: the SFT run and its step scores
  local name=$1 train=$2 eval=$3 steps=$4; shift 4
  python -m vst_vla.train stage=sft run_name=$name data.image_size=224 \
    "data.skills=[${ENGINE_SKILLS:-object_inventory,object_order,left_right}]" data.train_path="$train" \
    data.eval_path="$eval" trainer.steps=$steps trainer.vision_lr=1e-3 trainer.save_every=500 eval.max_samples=2000 \
    eval.max_new_tokens=96 "$@"
  cp outputs/train/$name/skills.md "$RES/engine/${name}_skills.md"
  cp outputs/train/$name/train_log.jsonl "$RES/engine/${name}_train_log.jsonl"
  local skill suffix
  for skill in ${STEP_SKILLS:-left_right}; do  # each reasoned skill's steps (left_right's files keep their names)
    suffix=$([ "$skill" = left_right ] || echo "_$skill")
    python experiments/perception/reasoning_steps.py outputs/train/$name/checkpoints/last/pretrained_model \
      "$eval" --skill "$skill" --out "$RES/engine/${name}_steps$suffix.json"
    python experiments/perception/reasoning_steps.py outputs/train/$name/checkpoints/last/pretrained_model \
      "$train" --skill "$skill" --limit 200 --out "$RES/engine/${name}_train_steps$suffix.json"
  done
}
reason_files() {  # the given files with fixed options and left_right's reasoning, as <file>_reason.parquet
  for F in "$@"; do
    [ -f "${F%.parquet}_reason.parquet" ] || python experiments/perception/canonical_options.py "$F" \
      "${F%.parquet}_reason.parquet" --reason left_right
  done
}
reason_files "$N_EVAL" "$N_TRAIN"
engine_reason sft_lr_restated "${N_TRAIN%.parquet}_reason.parquet" "${N_EVAL%.parquet}_reason.parquet" 2000 \
  model=local model.pretrained_path=outputs/train/sft_lr_reason/checkpoints/last/pretrained_model

# 11. Colour names, from the random-init base (seventh session). The list names each object by its colour alone
#     when the colour is unique in the scene ("From left to right: purple, yellow first, blue second. Asked: yellow
#     first."), so a mark follows its colour word directly (engine/base.py distinguishing_names). The same files'
#     scenes as step 10, one 3000-step schedule from the random-init base as step 9's sft_lr_reason (whose list
#     named colour and shape, without marks): the 2-layer tiny model, then the same with 4 language layers (is
#     reading the side off the list a matter of depth?).
C_EVAL=outputs/spatial/colour_eval100.parquet
C_TRAIN=outputs/spatial/colour_train600.parquet
engine_views "$C_EVAL" "$C_TRAIN"
reason_files "$C_EVAL" "$C_TRAIN"
engine_reason sft_lr_colour "${C_TRAIN%.parquet}_reason.parquet" "${C_EVAL%.parquet}_reason.parquet" 3000
engine_reason sft_lr_colour_deep "${C_TRAIN%.parquet}_reason.parquet" "${C_EVAL%.parquet}_reason.parquet" 3000 \
  model.num_layers=4
# (In the seventh session the 4-layer run was stopped at step 1500 for time; both runs were compared at their
#  step-1500 checkpoints, halfway through the same schedule:)
for RUN in sft_lr_colour sft_lr_colour_deep; do
  python experiments/perception/reasoning_steps.py outputs/train/$RUN/checkpoints/001500/pretrained_model \
    "${C_EVAL%.parquet}_reason.parquet" --out "$RES/engine/${RUN}_1500_steps.json"
done

# 12. A curriculum from the probes (eighth session). The engine's own left_right text (its three stems and closing
#     instructions, fixed options, and its reasoning: the marked list, the restated mark, the side, the letter) on
#     the relation_crowd probe's squares on a grey canvas (train_probe.py --reason engine), fresh images every step,
#     3000 steps from the random-init base; then step 11's SFT schedule on the rendered scenes from that model instead
#     of from the random init (the same files, mixture, steps and scoring as sft_lr_colour).
CU=$OUT/curriculum
[ -f "$CU/engine_probe/result.json" ] || python experiments/perception/train_probe.py --probe relation_crowd \
  --reason engine --rope-theta 2 --image-last --steps 3000 --eval-every 500 --out "$CU/engine_probe"
mkdir -p "$RES/curriculum"
cp "$CU/engine_probe/curve.jsonl" "$RES/curriculum/engine_probe_curve.jsonl"
engine_reason sft_lr_curriculum "${C_TRAIN%.parquet}_reason.parquet" "${C_EVAL%.parquet}_reason.parquet" 3000 \
  model=local model.pretrained_path="$CU/engine_probe/model"

# 13. The curriculum for a second skill (ninth session): closer_object reasons as left_right does, along depth
#     ("From nearest to farthest: purple, yellow first, blue second. Asked: yellow first. So the yellow cube is closer
#     than the blue cube."; engine/depth.py nearer_steps), its options in the engine's own order (the stem names
#     them in that order, so option A is the object named first). The probe: depth_crowd (squares in distinct rows,
#     larger the lower they sit) in closer_object's form, mixed evenly with relation_crowd, 2000 steps from step 12's
#     probe model. Then the SFT schedule on the same scenes with closer_object and depth_ranking (its caption) added.
D_EVAL=outputs/spatial/depth_eval100.parquet
D_TRAIN=outputs/spatial/depth_train600.parquet
[ -f "$D_EVAL" ] || python -m vst_vla.spatial.generate --num-scenes 100 --seed 100000 --image-size 224 --fovy 25 \
  --skills closer_object depth_ranking --out "$D_EVAL"
[ -f "$D_TRAIN" ] || python -m vst_vla.spatial.generate --num-scenes 600 --seed 0 --image-size 224 --fovy 25 \
  --skills closer_object depth_ranking --out "$D_TRAIN"
for S in eval100 train600; do  # step 11's scenes and these, one file: left_right fixed, closer_object as written
  [ -f "outputs/spatial/depth_${S}_reason.parquet" ] || python experiments/perception/canonical_options.py \
    "outputs/spatial/colour_${S}.parquet" "outputs/spatial/depth_${S}.parquet" "outputs/spatial/depth_${S}_reason.parquet" \
    --keep-order closer_object --reason left_right closer_object
done
[ -f "$CU/depth_probe/result.json" ] || python experiments/perception/train_probe.py --probe relation_crowd \
  depth_crowd --reason engine --rope-theta 2 --image-last --steps 2000 --eval-every 500 \
  --init "$CU/engine_probe/model" --out "$CU/depth_probe"
cp "$CU/depth_probe/curve.jsonl" "$RES/curriculum/depth_probe_curve.jsonl"
ENGINE_SKILLS=object_inventory,object_order,depth_ranking,left_right,closer_object STEP_SKILLS="left_right closer_object" \
  engine_reason sft_depth_curriculum \
  outputs/spatial/depth_train600_reason.parquet outputs/spatial/depth_eval100_reason.parquet "${DEPTH_SFT_STEPS:-4000}" \
  model=local model.pretrained_path="$CU/depth_probe/model"

# 14. A third skill with no probe of its own (ninth session): closest_to_robot reasons through the cubes' order from
#     the robot ("From nearest the robot to farthest: red, orange, yellow, green. So the red cube is closest to the
#     robot."; engine/robot.py robot_order_steps), options sorted by text. Step 13's files plus 600 + 100 scenes of
#     it (the same scene seeds), 2000 steps from step 13's final model.
for S in "eval100 100 100000" "train600 600 0"; do
  set -- $S
  [ -f "outputs/spatial/robot_$1.parquet" ] || python -m vst_vla.spatial.generate --num-scenes $2 --seed $3 \
    --image-size 224 --fovy 25 --skills closest_to_robot --out "outputs/spatial/robot_$1.parquet"
  [ -f "outputs/spatial/robot_$1_reason.parquet" ] || python experiments/perception/canonical_options.py \
    "outputs/spatial/colour_$1.parquet" "outputs/spatial/depth_$1.parquet" "outputs/spatial/robot_$1.parquet" \
    "outputs/spatial/robot_$1_reason.parquet" --keep-order closer_object --reason left_right closer_object \
    closest_to_robot
done
ENGINE_SKILLS=object_inventory,object_order,depth_ranking,left_right,closer_object,closest_to_robot \
  STEP_SKILLS="left_right closer_object closest_to_robot" engine_reason sft_robot_curriculum \
  outputs/spatial/robot_train600_reason.parquet outputs/spatial/robot_eval100_reason.parquet "${ROBOT_SFT_STEPS:-2000}" \
  model=local model.pretrained_path=outputs/train/sft_depth_curriculum/checkpoints/last/pretrained_model
# Step 14's model; a checkout without outputs/ has it as committed (results/models/, rebuilt from these commands).
ROBOT_MODEL=outputs/train/sft_robot_curriculum/checkpoints/last/pretrained_model
[ -d "$ROBOT_MODEL" ] || ROBOT_MODEL=$RES/models/sft_robot_curriculum
# closest_to_robot on n >= 200: the 100 held-out scenes give 84 questions, so 300 more scenes (a seed no file uses).
[ -f outputs/spatial/robot_eval300_reason.parquet ] || { python -m vst_vla.spatial.generate --num-scenes 300 \
  --seed 200000 --image-size 224 --fovy 25 --skills closest_to_robot --out outputs/spatial/robot_eval300.parquet \
  && python experiments/perception/canonical_options.py outputs/spatial/robot_eval300.parquet \
  outputs/spatial/robot_eval300_reason.parquet --reason closest_to_robot; }
python -m vst_vla.spatial.evaluate --model "$ROBOT_MODEL" \
  --data outputs/spatial/robot_eval300_reason.parquet --prior-data outputs/spatial/robot_train600_reason.parquet \
  --max-new-tokens 96 --out outputs/eval/robot_eval300
cp outputs/eval/robot_eval300/skills.md "$RES/engine/sft_robot_curriculum_eval300_skills.md"

# 15. Two more skills (tenth session). depth_order_points reasons in the caption form ("From nearest to farthest:
#     point 2, point 1. So point 2 is closer to the camera."; engine/depth.py point_order_steps): its probe,
#     points_crowd, draws the engine's own labelled markers on the canvas (reading the labels is the new part), first
#     mixed with the two earlier probes from step 14's model, then with depth_crowd alone. multiview_object_relation's
#     left-of and nearer-than forms list each image in turn, marked, as left_right and closer_object do
#     (engine/multiview.py relation_steps); no probe of its own. The SFT run adds both to step 14's six skills.
for S in "eval100 100 100000" "train600 600 0"; do
  set -- $S
  for K in "points depth_order_points" "mv multiview_object_relation"; do
    set -- $S $K
    [ -f "outputs/spatial/$4_$1.parquet" ] || python -m vst_vla.spatial.generate --num-scenes $2 --seed $3 \
      --image-size 224 --fovy 25 --skills $5 --out "outputs/spatial/$4_$1.parquet"
  done
  set -- $S
  [ -f "outputs/spatial/mv_$1_reason.parquet" ] || python experiments/perception/canonical_options.py \
    "outputs/spatial/colour_$1.parquet" "outputs/spatial/depth_$1.parquet" "outputs/spatial/robot_$1.parquet" \
    "outputs/spatial/points_$1.parquet" "outputs/spatial/mv_$1.parquet" "outputs/spatial/mv_$1_reason.parquet" \
    --keep-order closer_object --reason left_right closer_object closest_to_robot depth_order_points \
    multiview_object_relation
done
# Does the probe's rule (the lower mark is nearer) answer the engine's questions? Ground truth only, no model.
python experiments/perception/point_depth_rule.py outputs/spatial/points_eval100.parquet \
  > "$RES/engine/point_depth_rule.txt"
[ -f "$CU/points_probe/result.json" ] || python experiments/perception/train_probe.py --probe relation_crowd \
  depth_crowd points_crowd --reason engine --rope-theta 2 --image-last --steps 1500 --eval-every 500 \
  --init "$ROBOT_MODEL" --out "$CU/points_probe"
[ -f "$CU/points_probe2/result.json" ] || python experiments/perception/train_probe.py --probe points_crowd \
  depth_crowd --reason engine --rope-theta 2 --image-last --steps 3000 --eval-every 500 \
  --init "$CU/points_probe/model" --out "$CU/points_probe2"
cp "$CU/points_probe/curve.jsonl" "$RES/curriculum/points_probe_curve.jsonl"
cp "$CU/points_probe2/curve.jsonl" "$RES/curriculum/points_probe2_curve.jsonl"
ENGINE_SKILLS=object_inventory,object_order,depth_ranking,left_right,closer_object,closest_to_robot,depth_order_points,multiview_object_relation \
  STEP_SKILLS="left_right closer_object closest_to_robot depth_order_points multiview_object_relation" \
  engine_reason sft_views_curriculum outputs/spatial/mv_train600_reason.parquet outputs/spatial/mv_eval100_reason.parquet \
  "${VIEWS_SFT_STEPS:-3000}" eval.max_samples=3000 eval.max_new_tokens=128 \
  model=local model.pretrained_path="$CU/points_probe2/model"
