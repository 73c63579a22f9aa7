#!/usr/bin/env bash
# Regenerates every number in the README's results table: the shipped study
# configs/studies/replication.toml, i.e. the paper's network as SN2.8 trained it
# (20 seeds) and with LeNet-5's recipe (10 seeds), plain SGD, the paper's fully
# connected baseline, the 2022 replication's setup and its modern recipe on
# MNIST-16 and on the real USPS digits (5 seeds each), with one summary over all
# of them (about 10 minutes on 2 cores with the compiled engine, the default).
#
#   bash scripts/replicate.sh [--data-dir DIR] [--out DIR] [--jobs J] [any `lecun89 sweep` option]
#
# Data: the USPS and MNIST files under DIR (default: $LECUN89_DATA, else the
# user cache; see `lecun89 data list`). Results: OUT/summary.md (default OUT:
# runs/replication), one run directory with its report per config and seed,
# OUT/<config>/seed-<seed>/. Re-running the same command skips finished runs and
# resumes interrupted ones. On a Dask cluster: add --scheduler tcp://HOST:PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m lecun89 sweep replication --jobs 2 "$@"
