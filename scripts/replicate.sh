#!/usr/bin/env bash
# Regenerates every number in the README's results table: the paper's network
# as SN2.8 trained it (20 seeds) and with LeNet-5's recipe (10 seeds), plain
# SGD, the paper's fully connected baseline, the 2022 replication's setup and
# its modern recipe on MNIST-16 and on the real USPS digits (5 seeds each),
# then one summary over all of them (about 60 minutes on 2 cores).
#
#   bash scripts/replicate.sh [--data-dir DIR] [--out DIR] [--jobs J]
#
# Data: the USPS and MNIST files under DIR (default: $LECUN89_DATA, else the
# user cache; see `lecun89 data list`). Results: OUT/summary.md (default OUT:
# runs/replication), one run directory with its report per config and seed.
# Re-running the same command skips finished runs and resumes interrupted ones.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/replication
data=()
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        --data-dir) data=(--data-dir "$2"); shift 2 ;;
        --data-dir=*) data=(--data-dir "${1#--data-dir=}"); shift ;;
        *) args+=("$1"); shift ;;
    esac
done
sweep() { python -m lecun89 sweep "$@" --jobs 2 --out "$out" "${data[@]+"${data[@]}"}" "${args[@]+"${args[@]}"}"; }
sweep lecun1989 --seeds 20
sweep lecun1989-lenet5 --seeds 10
sweep lecun1989-sgd fc-baseline karpathy2022 modern modern-usps modern-usps-tuned --seeds 5
python -m lecun89 report "$out" "${data[@]+"${data[@]}"}"    # one summary.md over every run above
