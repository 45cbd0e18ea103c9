#!/usr/bin/env bash
# sbatch launch/slurm_2nodes.sh stage=sft model=local model.pretrained_path=/models/Qwen2.5-VL-3B-Instruct ...
# Two nodes x 8 GPUs, one accelerate launcher per node, DDP over 16 processes (launch/accelerate/ddp_2nodes.yaml).
# FSDP2 instead of DDP: append trainer.parallelism=fsdp2 to the arguments.
#SBATCH --job-name=vst-vla
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --output=slurm-%j.out
set -euo pipefail
MAIN_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
# Each node's task runs one launcher; its arguments reach every process unchanged ("$@", no word splitting).
srun bash -c 'accelerate launch --config_file launch/accelerate/ddp_2nodes.yaml --machine_rank "$SLURM_NODEID" \
  --main_process_ip "$0" --main_process_port 29500 -m vst_vla.train "$@"' "$MAIN_ADDR" "$@"
