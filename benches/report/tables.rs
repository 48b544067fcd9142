//! The report section: how it was made, the tables and the goals.

use std::fmt::Write as _;
use std::time::Duration;

use crate::measure::{COUNTS, EMIT_VARIANTS, Run, median, median_run};
use crate::support::contention::{self, Writer};

/// The figures of `run` as markdown tables.
fn tables(run: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### ns per emit\n");
    let _ = writeln!(out, "| listeners | {} |", EMIT_VARIANTS.join(" | "));
    let _ = writeln!(out, "|---:|{}", "---:|".repeat(EMIT_VARIANTS.len()));
    for (i, count) in COUNTS.iter().enumerate() {
        let cells: Vec<String> = run.emit.iter().map(|c| format!("{:.2}", c[i])).collect();
        let _ = writeln!(out, "| {count} | {} |", cells.join(" | "));
    }
    let _ = writeln!(
        out,
        "\nThe timing loop alone (the harness) took {:.2} ns per call.",
        run.harness
    );

    let _ = writeln!(
        out,
        "\n### Asynchronous fan-out, M events delivered per second\n"
    );
    let names: Vec<&str> = run.fanout[0].1.iter().map(|(n, _)| *n).collect();
    let _ = writeln!(out, "| listeners | {} |", names.join(" | "));
    let _ = writeln!(out, "|---:|{}", "---:|".repeat(names.len()));
    for (listeners, rates) in &run.fanout {
        let cells: Vec<String> = rates.iter().map(|(_, r)| format!("{r:.2}")).collect();
        let _ = writeln!(out, "| {listeners} | {} |", cells.join(" | "));
    }

    let _ = writeln!(out, "\n### Under contention (M emits/s; p99.9 ns)\n");
    let names: Vec<&str> = run.contention[0].2.iter().map(|(n, ..)| *n).collect();
    let _ = writeln!(out, "| scenario | emitters | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|---:|{}", "---:|".repeat(names.len()));
    for (writer, threads, outcomes) in &run.contention {
        let cells: Vec<String> = outcomes
            .iter()
            .map(|(_, rate, p999)| format!("{rate:.1}; {p999:.0}"))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {threads} | {} |",
            writer.label(),
            cells.join(" | ")
        );
    }

    let _ = writeln!(
        out,
        "\n### Writer's side, ns for one connect / one disconnect\n"
    );
    let _ = writeln!(out, "| implementation | 10 listeners | 1 000 listeners |");
    let _ = writeln!(out, "|---|---:|---:|");
    for (name, _) in contention::targets() {
        let cell = |n: usize| {
            (run.writer.iter())
                .find(|r| r.0 == name && r.1 == n)
                .map_or(String::new(), |r| format!("{:.0} / {:.0}", r.2, r.3))
        };
        let _ = writeln!(out, "| {name} | {} | {} |", cell(10), cell(1000));
    }

    let _ = writeln!(out, "\n### Nested emits, ns per top-level emit\n");
    let row = |f: &dyn Fn(&(usize, f64)) -> String| {
        run.nested.iter().map(f).collect::<Vec<_>>().join(" | ")
    };
    let _ = writeln!(out, "| depth | {} |", row(&|(d, _)| d.to_string()));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(run.nested.len()));
    let _ = writeln!(out, "| sigwire | {} |", row(&|(_, ns)| format!("{ns:.1}")));
    let _ = writeln!(
        out,
        "| per level | {} |",
        row(&|(d, ns)| format!("{:.1}", ns / *d as f64))
    );

    let bus = &run.bus;
    let _ = writeln!(out, "\n### The bus, ns per emit\n");
    let _ = writeln!(out, "| case | ns | baseline ns | ratio |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for (case, ns, base) in [
        (
            "4 listeners, `EventBus::signal` handle",
            bus.handle4,
            bus.bare4,
        ),
        ("4 listeners, counters on", bus.stats4, bus.bare4),
        (
            "100 patterns, 10 match, `Publisher`",
            bus.publisher,
            bus.bare10,
        ),
        (
            "100 patterns, 10 match, `Topics::emit`",
            bus.topic,
            bus.bare10,
        ),
    ] {
        let _ = writeln!(out, "| {case} | {ns:.2} | {base:.2} | {:.2} × |", ns / base);
    }
    out
}

/// The most or the least a goal's figure may be.
#[derive(Clone, Copy)]
enum Bound {
    AtMost(f64),
    AtLeast(f64),
}

impl Bound {
    fn met(self, figure: f64) -> bool {
        match self {
            Bound::AtMost(bound) => figure <= bound,
            Bound::AtLeast(bound) => figure >= bound,
        }
    }
}

/// One goal of issues 2 to 5 and 13: its name, its target as shown, the figure
/// measured, how it is shown (digits after the point, unit) and its bound.
type Goal = (&'static str, &'static str, f64, usize, &'static str, Bound);

/// The goals, with the figures of one run.
fn goals(run: &Run) -> Vec<Goal> {
    use Bound::{AtLeast, AtMost};
    let at = |variant: usize, count: usize| {
        run.emit[variant][COUNTS.iter().position(|c| *c == count).unwrap()]
    };
    let rate = |listeners: usize, name: &str| {
        (run.fanout.iter())
            .find(|r| r.0 == listeners)
            .and_then(|r| r.1.iter().find(|v| v.0 == name))
            .map_or(0.0, |v| v.1)
    };
    let churn = |name: &str| {
        (run.contention.iter())
            .find(|r| r.0 == Writer::TightLoop && r.1 == 2)
            .and_then(|r| r.2.iter().find(|o| o.0 == name))
            .map(|&(_, rate, p999)| (rate, p999))
            .unwrap()
    };
    let (sw, std_lock, pl) = (
        churn("sigwire"),
        churn("std RwLock"),
        churn("parking_lot RwLock"),
    );
    let connect_1000 = (run.writer.iter())
        .find(|r| r.0 == "sigwire" && r.1 == 1000)
        .map_or(0.0, |r| r.2);
    let bus = &run.bus;
    let x = " ×";
    vec![
        (
            "`Emitter::emit`, 1 listener",
            "≤ 1.5 × direct loop",
            at(4, 1) / at(0, 1),
            2,
            x,
            AtMost(1.5),
        ),
        (
            "`emit`, 1 listener",
            "≤ 1.0 × rwlock",
            at(3, 1) / at(1, 1),
            2,
            x,
            AtMost(1.0),
        ),
        (
            "`emit`, 1 listener (stretch)",
            "≤ 3 × direct",
            at(3, 1) / at(0, 1),
            2,
            x,
            AtMost(3.0),
        ),
        (
            "`emit`, 100 listeners",
            "≤ 1.3 × direct",
            at(3, 100) / at(0, 100),
            2,
            x,
            AtMost(1.3),
        ),
        (
            "`emit`, no listeners",
            "≤ 1 ns (above the harness)",
            at(3, 0) - run.harness,
            2,
            " ns",
            AtMost(1.0),
        ),
        (
            "`emit` vs signals2, 1 listener",
            "≥ 2 × faster",
            at(2, 1) / at(3, 1),
            2,
            x,
            AtLeast(2.0),
        ),
        (
            "`Emitter::emit` vs signals2",
            "≥ 10 × faster",
            at(2, 1) / at(4, 1),
            2,
            x,
            AtLeast(10.0),
        ),
        (
            "async e2e, 4 listeners, vs `rayon::spawn`",
            "≥ 2 ×",
            rate(4, "sigwire") / rate(4, "rayon_spawn"),
            1,
            x,
            AtLeast(2.0),
        ),
        (
            "async e2e, 4 listeners, vs crossbeam (issue 13: ≥ 2 ×)",
            "≥ 2 ×",
            rate(4, "sigwire") / rate(4, "crossbeam"),
            1,
            x,
            AtLeast(2.0),
        ),
        (
            "async e2e, 4 listeners, vs tokio broadcast (issue 13)",
            "≥ 5 ×",
            rate(4, "sigwire") / rate(4, "broadcast"),
            1,
            x,
            AtLeast(5.0),
        ),
        (
            "subscriptions, 4, vs tokio broadcast receivers (issue 13)",
            "≥ 1.5 ×",
            rate(4, "subscription") / rate(4, "broadcast"),
            1,
            x,
            AtLeast(1.5),
        ),
        (
            "2 emitters + writer: throughput vs std RwLock",
            "≥ 2 ×",
            sw.0 / std_lock.0,
            1,
            x,
            AtLeast(2.0),
        ),
        (
            "2 emitters + writer: throughput vs parking_lot",
            "≥ 1.5 ×",
            sw.0 / pl.0,
            1,
            x,
            AtLeast(1.5),
        ),
        (
            "2 emitters + writer: p99.9 vs std RwLock",
            "≤ 0.5 ×",
            sw.1 / std_lock.1,
            2,
            x,
            AtMost(0.5),
        ),
        (
            "connect at 1 000 listeners",
            "≤ 20 µs",
            connect_1000 / 1e3,
            1,
            " µs",
            AtMost(20.0),
        ),
        (
            "memory per listener beyond the closure",
            "≤ 64 bytes",
            run.memory.round(),
            0,
            " bytes (rounded)",
            AtMost(64.0),
        ),
        (
            "emit through a bus handle vs a bare signal",
            "≤ 1.05 ×",
            bus.handle4 / bus.bare4,
            2,
            x,
            AtMost(1.05),
        ),
        (
            "cached topic, `Publisher`, vs a bare signal",
            "≤ 1.5 ×",
            bus.publisher / bus.bare10,
            2,
            x,
            AtMost(1.5),
        ),
        (
            "cached topic, `Topics::emit`, vs a bare signal",
            "≤ 1.5 ×",
            bus.topic / bus.bare10,
            2,
            x,
            AtMost(1.5),
        ),
    ]
}

/// The goals table: each goal's median over `runs` of the figure taken
/// within one run, with its range when there are several runs.
fn goals_table(runs: &[Run]) -> String {
    let per_run: Vec<Vec<Goal>> = runs.iter().map(goals).collect();
    let mut out = String::new();
    let _ = writeln!(out, "| goal | target | measured | verdict |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (i, &(goal, target, _, digits, unit, bound)) in per_run[0].iter().enumerate() {
        let mut figures: Vec<f64> = per_run.iter().map(|goals| goals[i].2).collect();
        let mid = median(&mut figures);
        let mut measured = format!("{mid:.digits$}{unit}");
        if runs.len() > 1 {
            let (lo, hi) = (figures[0], figures[figures.len() - 1]);
            let _ = write!(measured, " ({lo:.digits$}–{hi:.digits$})");
        }
        let verdict = if bound.met(mid) { "met" } else { "**not met**" };
        let _ = writeln!(out, "| {goal} | {target} | {measured} | {verdict} |");
    }
    out
}

/// The whole report section: how it was made, the tables, the goals.
pub(crate) fn report(runs: &[Run], took: Duration) -> String {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let secs = took.as_secs_f64();
    let mut out = String::new();
    if runs.len() == 1 {
        let _ = writeln!(
            out,
            "Made by `cargo bench --bench report` at commit `{commit}` on {cores} core(s), in \
             {secs:.0} s. Medians of short samples, rougher than the criterion benches; every \
             ratio compares figures of this one run.\n"
        );
    } else {
        let n = runs.len();
        let _ = writeln!(
            out,
            "Made by `SIGWIRE_REPORT_RUNS={n} cargo bench --bench report` at commit `{commit}` \
             on {cores} core(s), in {secs:.0} s: {n} runs, one after the other. Each figure is \
             the median over the runs of a median of short samples, rougher than the criterion \
             benches; each goal is the median over the runs of a figure taken within one run, \
             with its range.\n"
        );
    }
    let _ = writeln!(out, "![ns per emit by listener count](emit.png)\n");
    out += &tables(&median_run(runs));
    let title = if runs.len() == 1 {
        "this run"
    } else {
        "median of the runs (range)"
    };
    let _ = writeln!(out, "\n### Goals (issues 2 to 5 and 13), {title}\n");
    out += &goals_table(runs);
    out
}
