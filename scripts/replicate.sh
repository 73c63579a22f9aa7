#!/usr/bin/env bash
# Regenerates every number in the README's results table: the paper's network
# (SDLM and plain SGD), the paper's fully connected baseline, the 2022
# replication's setup and its modern recipe on MNIST-16 and on the real USPS
# digits (as shipped and with a tuned learning rate), 5 seeds each, as one
# sweep (about 18 minutes on 2 cores).
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
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
exec python -m lecun89 sweep \
    configs/lecun1989.toml configs/lecun1989-sgd.toml configs/fc-baseline.toml \
    configs/karpathy2022.toml configs/modern.toml configs/modern-usps.toml configs/modern-usps-tuned.toml \
    --seeds 5 --jobs 2 --out "$out" "${args[@]+"${args[@]}"}"
