#!/usr/bin/env bash
# Instructions per emit, counted by callgrind (repeatable, unlike timings on
# a shared machine): for each variant and listener count, the difference of
# two runs (40 000 and 20 000 emits) divided by 20 000. Needs valgrind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "instructions" and m.get("executable"):
        print(m["executable"])')
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 \
        | sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}
# One table row: instructions per emit of each variant, for $1 listeners.
row() {
    local listeners=$1 row="| $1 |" a b
    shift
    for variant in "$@"; do
        a=$(count "$variant" 20000 "$listeners")
        b=$(count "$variant" 40000 "$listeners")
        row="$row $(((b - a) / 20000)) |"
    done
    echo "$row"
}
echo "| listeners | direct | emit | Emitter::emit | emit, stats on | emit, a filter | emit, fallible listeners | bus handle | Topics::emit | Publisher::emit |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for listeners in 1 10 100; do
    row "$listeners" direct emit emitter stats filter fallible held topic publisher
done
# Subscriptions, beside the same signal's plain emit (1 and 10 listeners).
echo
echo "| listeners | emit | emit + a subscription's try_recv | emit, a subscription that never reads |"
echo "|---:|---:|---:|---:|"
for listeners in 1 10; do
    row "$listeners" emit subscribed subscribed_idle
done
