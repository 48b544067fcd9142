#!/usr/bin/env python3
"""Turn the text output of `cargo bench --bench emit` into markdown tables.

Usage:
    cargo bench --bench emit 2>&1 | tee /tmp/emit-bench.txt
    python3 benches/summarize.py /tmp/emit-bench.txt

Reads criterion's result lines, e.g.

    emit/1/direct           time:   [1.0 ns 1.1 ns 1.2 ns]

(a long id puts `time:` on the next line), keeps the middle value (the
median estimate) of each, and prints two tables: ns per emit for every
variant and listener count, and the goals of docs/benchmarks.md as ratios
from that same run. Python 3 standard library only.
"""

import re
import sys

VARIANTS = ["direct", "rwlock", "signals2", "sigwire_emit", "sigwire_emitter"]
UNITS = {"ps": 1e-3, "ns": 1.0, "us": 1e3, "\u00b5s": 1e3, "\u03bcs": 1e3, "ms": 1e6, "s": 1e9}
TIME = re.compile(r"time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]")
ID = re.compile(r"^(emit/\d+/\w+)\b")


def parse(lines):
    """Map (count, variant) to the median in nanoseconds."""
    results = {}
    last_id = None
    for line in lines:
        line = line.rstrip("\n")
        head = ID.match(line)
        if head:
            last_id = head.group(1)
        elif line.strip() and not line.startswith(" "):
            last_id = None  # "Benchmarking ...", "Found ... outliers", etc.
        m = TIME.search(line)
        if m and last_id:
            value, unit = m.group(3), m.group(4)
            _, count, variant = last_id.split("/")
            results[(int(count), variant)] = float(value) * UNITS[unit]
            last_id = None
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
    rows.append(("`emit`, no listeners", "≤ 1 ns", f"{fmt_ns(x)} ns", verdict(x <= 1.0)))
    x = get(1, "signals2") / get(1, "sigwire_emit")
    y = get(1, "signals2") / get(1, "sigwire_emitter")
    rows.append(("vs signals2, 1 listener", "emit ≥ 2 × faster; Emitter::emit ≥ 10 × faster",
                 f"signals2 ÷ emit = {x:.2f}; signals2 ÷ Emitter::emit = {y:.2f}",
                 f"{verdict(x >= 2)}; {verdict(y >= 10)}"))
    out = ["| goal | target | measured | verdict |", "|---|---|---|---|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/emit-bench.txt"
    with open(path, encoding="utf-8") as f:
        results = parse(f)
    if not results:
        sys.exit(f"no criterion results found in {path}")
    print("ns per emit (criterion median):\n")
    print(times_table(results))
    print()
    try:
        print(goals_table(results))
    except KeyError as missing:
        sys.exit(f"missing result for the goals: {missing}")


if __name__ == "__main__":
    main()
