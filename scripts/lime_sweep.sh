#!/bin/bash
# Row 66 sweep: 3 lrs x 3 seeds x {lime, vanilla}, two runs at a time (OMP_NUM_THREADS=1 each).
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1200}
jobs_list=()
for seed in 0 1 2; do for lr in 3e-3 1.5e-3 6e-3; do for m in lime vanilla; do
  jobs_list+=("--model $m --lr $lr --seed $seed --steps $STEPS --eval-every 300 $EXTRA")
done; done; done
printf '%s\n' "${jobs_list[@]}" | xargs -P 2 -I{} sh -c "OMP_NUM_THREADS=1 .venv/bin/python scripts/lime_lm_experiment.py {} 2>&1 | tail -1"
