#!/bin/bash
# Row 66 sweep: runs scripts/lime_lm_experiment.py for each line of a jobs file (arguments), two at
# a time with OMP_NUM_THREADS=1 each; finished runs are skipped (their json exists).
#   scripts/lime_sweep.sh jobs.txt
cd "$(dirname "$0")/.."
xargs -P 2 -I{} sh -c "OMP_NUM_THREADS=1 .venv/bin/python scripts/lime_lm_experiment.py {} 2>&1 | tail -1" < "$1"
