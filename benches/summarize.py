#!/usr/bin/env python3
"""Turn the results of `cargo bench --bench emit` into markdown tables.

Usage:
    cargo bench --bench emit
    python3 benches/summarize.py [target/criterion]

Reads the median of every `emit/<listeners>/<variant>` benchmark from
criterion's `target/criterion/emit_<n>/<variant>/new/estimates.json` (the
run that was just made) and prints two tables: ns per emit for every variant
and listener count, and the goals of docs/benchmarks.md as ratios from that
same run. Python 3 standard library only.
"""

import json
import os
import sys

VARIANTS = ["direct", "rwlock", "signals2", "sigwire_emit", "sigwire_emitter"]


def parse(root):
    """Map (count, variant) to the median in nanoseconds."""
    results = {}
    for group in sorted(os.listdir(root)):
        if not group.startswith("emit_"):
            continue
        count = int(group.split("_", 1)[1])
        for variant in VARIANTS:
            path = os.path.join(root, group, variant, "new", "estimates.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    results[(count, variant)] = json.load(f)["median"]["point_estimate"]
    return results


def fmt_ns(ns):
    if ns < 10:
        return f"{ns:.2f}"
    if ns < 100:
        return f"{ns:.1f}"
    return f"{ns:,.0f}"


def times_table(results):
    counts = sorted({c for c, _ in results})
    out = ["| listeners | " + " | ".join(f"`{v}`" for v in VARIANTS) + " |",
           "|---:|" + "---:|" * len(VARIANTS)]
    for c in counts:
        cells = [fmt_ns(results[(c, v)]) if (c, v) in results else "–" for v in VARIANTS]
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def goals_table(r):
    def get(c, v):
        return r[(c, v)]

    def verdict(ok):
        return "met" if ok else "**not met**"

    rows = []
    x = get(1, "sigwire_emitter") / get(1, "direct")
    rows.append(("`Emitter::emit`, 1 listener", "≤ 1.5 × direct",
                 f"{x:.2f} × direct", verdict(x <= 1.5)))
    x = get(1, "sigwire_emit") / get(1, "rwlock")
    y = get(1, "sigwire_emit") / get(1, "direct")
    rows.append(("`emit`, 1 listener", "≤ 1.0 × rwlock; stretch ≤ 3 × direct",
                 f"{x:.2f} × rwlock; {y:.2f} × direct",
                 f"{verdict(x <= 1.0)}; stretch {verdict(y <= 3.0)}"))
    x = get(100, "sigwire_emit") / get(100, "direct")
    rows.append(("`emit`, 100 listeners", "≤ 1.3 × direct",
                 f"{x:.2f} × direct", verdict(x <= 1.3)))
    x = get(0, "sigwire_emit")
    floor = get(0, "direct")
    rows.append(("`emit`, no listeners", "≤ 1 ns",
                 f"{fmt_ns(x)} ns in all; {fmt_ns(x - floor)} ns above the harness "
                 f"(`direct` with no listeners: {fmt_ns(floor)} ns)",
                 verdict(x - floor <= 1.0)))
    x = get(1, "signals2") / get(1, "sigwire_emit")
    y = get(1, "signals2") / get(1, "sigwire_emitter")
    rows.append(("vs signals2, 1 listener", "emit ≥ 2 × faster; Emitter::emit ≥ 10 × faster",
                 f"signals2 ÷ emit = {x:.2f}; signals2 ÷ Emitter::emit = {y:.2f}",
                 f"{verdict(x >= 2)}; {verdict(y >= 10)}"))
    out = ["| goal | target | measured | verdict |", "|---|---|---|---|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    results = parse(root)
    if not results:
        sys.exit(f"no criterion results found under {root}")
    print("ns per emit (criterion median):\n")
    print(times_table(results))
    print()
    try:
        print(goals_table(results))
    except KeyError as missing:
        sys.exit(f"missing result for the goals: {missing}")


if __name__ == "__main__":
    main()
