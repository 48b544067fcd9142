#!/usr/bin/env python3
"""Turn the results of `cargo bench --bench emit` into markdown tables.

Usage:
    cargo bench --bench emit
    python3 benches/summarize.py [target/criterion ...]

Several criterion directories (copies of `target/criterion` from repeated
runs) give one times table per run and the goals as the median, over the
runs, of ratios each taken within one run.

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


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def ratios(r):
    """The goals' measured quantities for one run, by name."""
    return {
        "emitter/direct": r[(1, "sigwire_emitter")] / r[(1, "direct")],
        "emit/rwlock": r[(1, "sigwire_emit")] / r[(1, "rwlock")],
        "emit/direct": r[(1, "sigwire_emit")] / r[(1, "direct")],
        "emit100/direct": r[(100, "sigwire_emit")] / r[(100, "direct")],
        "empty": r[(0, "sigwire_emit")] - r[(0, "direct")],
        "signals2/emit": r[(1, "signals2")] / r[(1, "sigwire_emit")],
        "signals2/emitter": r[(1, "signals2")] / r[(1, "sigwire_emitter")],
    }


def goals_table(runs):
    """One row per goal: the median over the runs, and the range."""
    per_run = [ratios(r) for r in runs]

    def m(key):
        values = [run[key] for run in per_run]
        return median(values), min(values), max(values)

    def show(key, unit, digits=2):
        mid, lo, hi = m(key)
        text = f"{mid:.{digits}f}{unit}"
        if len(per_run) > 1:
            text += f" ({lo:.{digits}f}–{hi:.{digits}f})"
        return text

    def verdict(ok):
        return "met" if ok else "**not met**"

    rows = [
        ("`Emitter::emit`, 1 listener", "≤ 1.5 × direct",
         show("emitter/direct", " × direct"), verdict(m("emitter/direct")[0] <= 1.5)),
        ("`emit`, 1 listener", "≤ 1.0 × rwlock; stretch ≤ 3 × direct",
         show("emit/rwlock", " × rwlock") + "; " + show("emit/direct", " × direct"),
         f"{verdict(m('emit/rwlock')[0] <= 1.0)}; stretch {verdict(m('emit/direct')[0] <= 3.0)}"),
        ("`emit`, 100 listeners", "≤ 1.3 × direct",
         show("emit100/direct", " × direct"), verdict(m("emit100/direct")[0] <= 1.3)),
        ("`emit`, no listeners", "≤ 1 ns",
         show("empty", " ns") + " above the harness (`direct`, no listeners)",
         verdict(m("empty")[0] <= 1.0)),
        ("vs signals2, 1 listener", "emit ≥ 2 × faster; Emitter::emit ≥ 10 × faster",
         "emit " + show("signals2/emit", " × faster") + "; Emitter::emit "
         + show("signals2/emitter", " × faster"),
         f"{verdict(m('signals2/emit')[0] >= 2)}; {verdict(m('signals2/emitter')[0] >= 10)}"),
    ]
    out = ["| goal | target | measured: median of runs (range) | verdict |", "|---|---|---|---|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def main():
    roots = sys.argv[1:] or ["target/criterion"]
    runs = []
    for root in roots:
        results = parse(root)
        if not results:
            sys.exit(f"no criterion results found under {root}")
        runs.append(results)
    for root, results in zip(roots, runs):
        print(f"ns per emit (criterion median), {root}:\n")
        print(times_table(results))
        print()
    try:
        print(f"Goals, from {len(runs)} run(s); each ratio is taken within one run:\n")
        print(goals_table(runs))
    except KeyError as missing:
        sys.exit(f"missing result for the goals: {missing}")


if __name__ == "__main__":
    main()
