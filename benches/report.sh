#!/usr/bin/env bash
# Runs the emit benchmark RUNS times (default 3) and prints the tables of
# docs/benchmarks.md: ns per emit for each run, and the goals as the median
# over the runs of ratios each taken within one run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${RUNS:-3}
dirs=()
for i in $(seq 1 "$runs"); do
    echo "run $i of $runs" >&2
    cargo bench --bench emit >/dev/null 2>&1
    rm -rf "target/criterion-run$i"
    cp -r target/criterion "target/criterion-run$i"
    dirs+=("target/criterion-run$i")
done
python3 benches/summarize.py "${dirs[@]}"
