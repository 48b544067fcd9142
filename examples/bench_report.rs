//! The whole performance picture in one command, in a few minutes:
//!
//! ```sh
//! cargo run --release --example bench_report
//! ```
//!
//! Runs a short version of every benchmark (emit cost by listener count,
//! asynchronous fan-out, emitters under contention, the writer's side,
//! memory per listener, nested emits, the bus) with a progress bar, prints markdown
//! tables and the goals as ratios against baselines measured in the same
//! run, writes them into `docs/benchmarks.md` (between the
//! `bench_report` markers; the hand-written analysis around them stays),
//! and draws `docs/emit.png` (ns per emit against listener count).
//!
//! The figures are medians of short samples: quicker and rougher than the
//! criterion benches (`cargo bench`), which remain the reference.
//! Drawing needs a TrueType font: DejaVu Sans or Liberation Sans from the
//! usual system paths, or the file named by `SIGWIRE_REPORT_FONT`.

#[path = "../benches/support/contention.rs"]
mod contention;
#[path = "../benches/support/fanout.rs"]
mod fanout;
#[path = "../benches/support/nested.rs"]
mod nested_chain;
#[path = "../benches/support/topics.rs"]
mod topics_workload;

use std::alloc::System;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use signals2::{Connect1, Emit1};
use sigwire::SyncSignal;
use sigwire::bus::{EventBus, Topics};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

// Counts allocations for the memory section. It adds a few atomic
// additions to each allocation; no emit measured here allocates.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const COUNTS: [usize; 5] = [0, 1, 10, 100, 1000];
const EMIT_VARIANTS: [&str; 5] = [
    "direct loop",
    "RwLock",
    "signals2",
    "sigwire emit",
    "sigwire Emitter::emit",
];
/// Samples per figure; each figure is their median.
const SAMPLES: usize = 9;
const REPORT: &str = "docs/benchmarks.md";
const PLOT: &str = "docs/emit.png";
const BEGIN: &str = "<!-- bench_report: begin -->";
const END: &str = "<!-- bench_report: end -->";

type Listener = dyn Fn(&u64) + Send + Sync;

fn work(value: &u64, index: u64) {
    black_box(value.wrapping_mul(index));
}

/// Median ns per call of `f`, over `samples` samples of about `sample` each.
fn time_per_call(mut f: impl FnMut(u64), samples: usize, sample: Duration) -> f64 {
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for i in 0..batch {
            f(i);
        }
        if start.elapsed() >= sample / 4 || batch >= 1 << 30 {
            break;
        }
        batch *= 2;
    }
    batch *= 4;
    let mut per_call: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for i in 0..batch {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    median(&mut per_call)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// ns per emit, `[variant][count]`.
fn emit_costs(progress: &ProgressBar) -> Vec<Vec<f64>> {
    let mut costs = vec![Vec::new(); EMIT_VARIANTS.len()];
    for count in COUNTS {
        let n = count as u64;
        let direct: Vec<Box<Listener>> = (0..n)
            .map(|i| Box::new(move |v: &u64| work(v, i)) as Box<Listener>)
            .collect();
        let rwlock: RwLock<Vec<Arc<Listener>>> = RwLock::new(
            (0..n)
                .map(|i| Arc::new(move |v: &u64| work(v, i)) as Arc<Listener>)
                .collect(),
        );
        let signals2: signals2::Signal<(u64,)> = signals2::Signal::new();
        let _s2: Vec<_> = (0..n)
            .map(|i| signals2.connect(move |v: u64| work(&v, i)))
            .collect();
        let signal = SyncSignal::<u64>::new();
        let _conns: Vec<_> = (0..n)
            .map(|i| signal.connect(move |v: &u64| work(v, i)))
            .collect();
        let mut emitter = signal.emitter();
        let sample = Duration::from_millis(50);
        progress.set_message(format!("emit, {count} listeners"));
        costs[0].push(time_per_call(
            |i| direct.iter().for_each(|f| f(&black_box(i))),
            SAMPLES,
            sample,
        ));
        costs[1].push(time_per_call(
            |i| rwlock.read().unwrap().iter().for_each(|f| f(&black_box(i))),
            SAMPLES,
            sample,
        ));
        costs[2].push(time_per_call(
            |i| {
                black_box(signals2.emit(black_box(i)));
            },
            SAMPLES,
            sample,
        ));
        costs[3].push(time_per_call(
            |i| signal.emit(&black_box(i)),
            SAMPLES,
            sample,
        ));
        costs[4].push(time_per_call(
            |i| emitter.emit(&black_box(i)),
            SAMPLES,
            sample,
        ));
        progress.inc(1);
    }
    costs
}

/// Delivered M events per second, end to end, `[variant]` for `listeners`.
fn fanout_rates(listeners: usize) -> Vec<(&'static str, f64)> {
    fanout::variants(listeners)
        .into_iter()
        .map(|(name, variant)| {
            variant.drain();
            let mut rates: Vec<f64> = (0..SAMPLES)
                .map(|_| {
                    let start = Instant::now();
                    for value in 0..fanout::BURST {
                        variant.emit(value);
                    }
                    variant.drain();
                    fanout::BURST as f64 / start.elapsed().as_secs_f64() / 1e6
                })
                .collect();
            (name, median(&mut rates))
        })
        .collect()
}

/// Bytes held per listener after connecting `listeners` capture-less ones.
fn bytes_per_listener(listeners: usize) -> f64 {
    let signal = SyncSignal::<u64>::new();
    let region = Region::new(GLOBAL);
    for _ in 0..listeners {
        // The connection handle is dropped: the listener stays connected.
        drop(signal.connect(|v: &u64| {
            black_box(v);
        }));
    }
    let extra = signal.connect(|_: &u64| {});
    let _ = extra.disconnect_wait(); // a scan frees retired lists
    drop(extra);
    let change = region.change();
    let held = change.bytes_allocated as isize - change.bytes_deallocated as isize
        + change.bytes_reallocated;
    held as f64 / listeners as f64
}

/// ns per emit of the bus cases, each next to its bare baseline.
struct BusCosts {
    /// 4 listeners: a bare `SyncSignal`, an `EventBus::signal` handle, a
    /// bare signal with its counters on.
    bare4: f64,
    handle4: f64,
    stats4: f64,
    /// 100 patterns subscribed, 10 match: a bare signal with the 10
    /// listeners, a `Publisher`, `Topics::emit`.
    bare10: f64,
    publisher: f64,
    topic: f64,
}

fn bus_costs() -> BusCosts {
    let sample = Duration::from_millis(50);
    let bare = SyncSignal::<u64>::new();
    let counted = SyncSignal::<u64>::new();
    counted.enable_stats();
    let bus = EventBus::new();
    let handle = bus.signal::<u64>();
    for i in 0..4 {
        for signal in [&bare, &counted, &*handle] {
            std::mem::forget(signal.connect(move |v: &u64| work(v, i)));
        }
    }
    let topics = Topics::<u64>::new();
    let matching = SyncSignal::<u64>::new();
    topics_workload::subscribe_100(&topics, &matching);
    let mut publisher = topics
        .publisher(topics_workload::TOPIC)
        .expect("a valid topic");
    BusCosts {
        bare4: time_per_call(|i| bare.emit(&black_box(i)), SAMPLES, sample),
        handle4: time_per_call(|i| handle.emit(&black_box(i)), SAMPLES, sample),
        stats4: time_per_call(|i| counted.emit(&black_box(i)), SAMPLES, sample),
        bare10: time_per_call(|i| matching.emit(&black_box(i)), SAMPLES, sample),
        publisher: time_per_call(|i| publisher.emit(&black_box(i)), SAMPLES, sample),
        topic: time_per_call(
            |i| {
                let _ = topics.emit(black_box(topics_workload::TOPIC), &black_box(i));
            },
            SAMPLES,
            sample,
        ),
    }
}

/// ns per top-level emit through `depth` nested signals.
fn nested(depth: usize) -> f64 {
    let signals = nested_chain::signal_chain(depth);
    time_per_call(
        |i| signals[0].emit(&black_box(i)),
        SAMPLES,
        Duration::from_millis(50),
    )
}

/// Finds a TrueType font to draw with.
fn font() -> Option<&'static [u8]> {
    let candidates = [
        std::env::var("SIGWIRE_REPORT_FONT").unwrap_or_default(),
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into(),
        "/usr/share/fonts/TTF/DejaVuSans.ttf".into(),
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf".into(),
        "/Library/Fonts/Arial.ttf".into(),
        "C:\\Windows\\Fonts\\arial.ttf".into(),
    ];
    candidates
        .iter()
        .filter(|path| !path.is_empty())
        .find_map(|path| std::fs::read(path).ok())
        .map(|bytes| &*Box::leak(bytes.into_boxed_slice()))
}

/// Draws ns per emit against listener count (1 to 1000, log-log).
fn plot(costs: &[Vec<f64>]) -> Result<(), Box<dyn std::error::Error>> {
    let font = font().ok_or("no TrueType font found; set SIGWIRE_REPORT_FONT to a .ttf file")?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| "the font could not be read")?;
    let root = BitMapBackend::new(PLOT, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = costs.iter().flatten().copied().fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "ns per emit by listener count (lower is better)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((1f64..1000f64).log_scale(), (0.5f64..max * 2.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("listeners")
        .y_desc("ns per emit")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .label_style(("sans-serif", 14))
        .draw()?;
    let colors = [
        BLACK,
        RGBColor(150, 150, 150),
        RGBColor(200, 120, 0),
        BLUE,
        RGBColor(0, 150, 80),
    ];
    for (variant, color) in EMIT_VARIANTS.iter().zip(colors) {
        let index = EMIT_VARIANTS.iter().position(|v| v == variant).unwrap();
        let points: Vec<(f64, f64)> = COUNTS
            .iter()
            .zip(&costs[index])
            .filter(|(count, _)| **count > 0)
            .map(|(count, ns)| (*count as f64, ns.max(0.5)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*variant)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Replaces the text between the markers in `docs/benchmarks.md` (or adds
/// a section with them at the end).
fn write_report(section: &str) -> std::io::Result<()> {
    let old = std::fs::read_to_string(REPORT).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            format!("{}{BEGIN}\n{section}{}", &old[..begin], &old[end..])
        }
        _ => format!("{old}\n## One-command report\n\n{BEGIN}\n{section}{END}\n"),
    };
    std::fs::write(REPORT, new)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

fn main() {
    let started = Instant::now();
    // emit counts, fan-out at 3 sizes, contention 3 x 2, writer 2, memory,
    // nested, bus
    let steps = COUNTS.len() as u64 + 3 + 6 + 2 + 1 + 1 + 1;
    let progress = ProgressBar::new(steps);
    progress.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
            .unwrap()
            .progress_chars("=> "),
    );

    // The timing loop itself, with the value passed through `black_box` as
    // every emit variant does: what "no listeners" is measured above.
    let harness = time_per_call(
        |i| {
            black_box(i);
        },
        SAMPLES,
        Duration::from_millis(50),
    );
    let costs = emit_costs(&progress);

    let mut fanout_rows = Vec::new();
    for listeners in [1, 4, 16] {
        progress.set_message(format!("asynchronous fan-out, {listeners} listeners"));
        fanout_rows.push((listeners, fanout_rates(listeners)));
        progress.inc(1);
    }

    let targets = contention::targets();
    for (_, target) in &targets {
        for i in 0..contention::LISTENERS {
            std::mem::forget(target.connect(i as u64));
        }
    }
    let mut contention_rows = Vec::new();
    for writer in [
        contention::Writer::None,
        contention::Writer::TightLoop,
        contention::Writer::Every100us,
    ] {
        for threads in [1, 2] {
            progress.set_message(format!("{threads} emitter(s), {}", writer.label()));
            let outcomes: Vec<_> = targets
                .iter()
                .map(|(name, target)| {
                    (
                        *name,
                        contention::run(target.as_ref(), threads, writer, 1.0),
                    )
                })
                .collect();
            contention_rows.push((writer, threads, outcomes));
            progress.inc(1);
        }
    }

    let mut writer_rows = Vec::new();
    for existing in [10, 1000] {
        progress.set_message(format!("writer's side, {existing} listeners"));
        for (name, target) in contention::targets() {
            let (connect, disconnect) = contention::writer_cost(target.as_ref(), existing);
            writer_rows.push((name, existing, connect, disconnect));
        }
        progress.inc(1);
    }

    progress.set_message("memory");
    let memory = bytes_per_listener(10_000);
    progress.inc(1);

    progress.set_message("nested emits");
    let nested_rows: Vec<(usize, f64)> = [1, 8, 9, 16, 32]
        .into_iter()
        .map(|d| (d, nested(d)))
        .collect();
    progress.inc(1);

    progress.set_message("bus");
    let bus = bus_costs();
    progress.inc(1);
    progress.finish_with_message("done");

    // ------------------------------------------------------------ tables --
    let mut out = String::new();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "Made by `cargo run --release --example bench_report` at commit `{commit}` on {cores} \
         core(s), in {:.0} s. Medians of short samples, rougher than the criterion benches; \
         every ratio compares figures of this one run.\n",
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(out, "![ns per emit by listener count](emit.png)\n");

    let _ = writeln!(out, "### ns per emit\n");
    let _ = writeln!(out, "| listeners | {} |", EMIT_VARIANTS.join(" | "));
    let _ = writeln!(out, "|---:|{}", "---:|".repeat(EMIT_VARIANTS.len()));
    for (i, count) in COUNTS.iter().enumerate() {
        let cells: Vec<String> = costs.iter().map(|c| format!("{:.2}", c[i])).collect();
        let _ = writeln!(out, "| {count} | {} |", cells.join(" | "));
    }

    let _ = writeln!(
        out,
        "\n### Asynchronous fan-out, M events delivered per second\n"
    );
    let names: Vec<&str> = fanout_rows[0].1.iter().map(|(n, _)| *n).collect();
    let _ = writeln!(out, "| listeners | {} |", names.join(" | "));
    let _ = writeln!(out, "|---:|{}", "---:|".repeat(names.len()));
    for (listeners, rates) in &fanout_rows {
        let cells: Vec<String> = rates.iter().map(|(_, r)| format!("{r:.2}")).collect();
        let _ = writeln!(out, "| {listeners} | {} |", cells.join(" | "));
    }

    let _ = writeln!(out, "\n### Under contention (M emits/s; p99.9 ns)\n");
    let names: Vec<&str> = contention_rows[0].2.iter().map(|(n, _)| *n).collect();
    let _ = writeln!(out, "| scenario | emitters | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|---:|{}", "---:|".repeat(names.len()));
    for (writer, threads, outcomes) in &contention_rows {
        let cells: Vec<String> = outcomes
            .iter()
            .map(|(_, o)| {
                format!(
                    "{:.1}; {}",
                    o.emits_per_sec / 1e6,
                    o.latency.value_at_quantile(0.999)
                )
            })
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
            writer_rows
                .iter()
                .find(|r| r.0 == name && r.1 == n)
                .map_or(String::new(), |r| format!("{:.0} / {:.0}", r.2, r.3))
        };
        let _ = writeln!(out, "| {name} | {} | {} |", cell(10), cell(1000));
    }

    let _ = writeln!(out, "\n### Nested emits, ns per top-level emit\n");
    let _ = writeln!(
        out,
        "| depth | {} |",
        nested_rows
            .iter()
            .map(|(d, _)| d.to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---:|".repeat(nested_rows.len()));
    let _ = writeln!(
        out,
        "| sigwire | {} |",
        nested_rows
            .iter()
            .map(|(_, ns)| format!("{ns:.1}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        out,
        "| per level | {} |",
        nested_rows
            .iter()
            .map(|(d, ns)| format!("{:.1}", ns / *d as f64))
            .collect::<Vec<_>>()
            .join(" | ")
    );

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

    // ------------------------------------------------------------- goals --
    let at = |variant: usize, count: usize| {
        costs[variant][COUNTS.iter().position(|c| *c == count).unwrap()]
    };
    let rate = |listeners: usize, name: &str| {
        fanout_rows
            .iter()
            .find(|r| r.0 == listeners)
            .and_then(|r| r.1.iter().find(|v| v.0 == name))
            .map_or(0.0, |v| v.1)
    };
    let churn = contention_rows
        .iter()
        .find(|r| r.0 == contention::Writer::TightLoop && r.1 == 2)
        .map(|r| &r.2)
        .unwrap();
    let churn_of = |name: &str| churn.iter().find(|o| o.0 == name).map(|o| &o.1).unwrap();
    let (sw, std_lock, pl) = (
        churn_of("sigwire"),
        churn_of("std RwLock"),
        churn_of("parking_lot RwLock"),
    );
    let p999 = |o: &contention::Outcome| o.latency.value_at_quantile(0.999) as f64;
    let connect_1000 = writer_rows
        .iter()
        .find(|r| r.0 == "sigwire" && r.1 == 1000)
        .map_or(0.0, |r| r.2);
    let goals: Vec<(&str, &str, String, bool)> = vec![
        (
            "`Emitter::emit`, 1 listener",
            "≤ 1.5 × direct loop",
            format!("{:.2} ×", at(4, 1) / at(0, 1)),
            at(4, 1) / at(0, 1) <= 1.5,
        ),
        (
            "`emit`, 1 listener",
            "≤ 1.0 × rwlock",
            format!("{:.2} ×", at(3, 1) / at(1, 1)),
            at(3, 1) / at(1, 1) <= 1.0,
        ),
        (
            "`emit`, 1 listener (stretch)",
            "≤ 3 × direct",
            format!("{:.2} ×", at(3, 1) / at(0, 1)),
            at(3, 1) / at(0, 1) <= 3.0,
        ),
        (
            "`emit`, 100 listeners",
            "≤ 1.3 × direct",
            format!("{:.2} ×", at(3, 100) / at(0, 100)),
            at(3, 100) / at(0, 100) <= 1.3,
        ),
        (
            "`emit`, no listeners",
            "≤ 1 ns (above the harness)",
            format!(
                "{:.2} ns ({:.2} ns with the harness)",
                at(3, 0) - harness,
                at(3, 0)
            ),
            at(3, 0) - harness <= 1.0,
        ),
        (
            "`emit` vs signals2, 1 listener",
            "≥ 2 × faster",
            format!("{:.2} ×", at(2, 1) / at(3, 1)),
            at(2, 1) / at(3, 1) >= 2.0,
        ),
        (
            "`Emitter::emit` vs signals2",
            "≥ 10 × faster",
            format!("{:.2} ×", at(2, 1) / at(4, 1)),
            at(2, 1) / at(4, 1) >= 10.0,
        ),
        (
            "async e2e, 4 listeners, vs `rayon::spawn`",
            "≥ 2 ×",
            format!("{:.1} ×", rate(4, "sigwire") / rate(4, "rayon_spawn")),
            rate(4, "sigwire") / rate(4, "rayon_spawn") >= 2.0,
        ),
        (
            "async e2e, 4 listeners, vs crossbeam",
            "≥ 1 ×",
            format!("{:.1} ×", rate(4, "sigwire") / rate(4, "crossbeam")),
            rate(4, "sigwire") / rate(4, "crossbeam") >= 1.0,
        ),
        (
            "2 emitters + writer: throughput vs std RwLock",
            "≥ 2 ×",
            format!("{:.1} ×", sw.emits_per_sec / std_lock.emits_per_sec),
            sw.emits_per_sec / std_lock.emits_per_sec >= 2.0,
        ),
        (
            "2 emitters + writer: throughput vs parking_lot",
            "≥ 1.5 ×",
            format!("{:.1} ×", sw.emits_per_sec / pl.emits_per_sec),
            sw.emits_per_sec / pl.emits_per_sec >= 1.5,
        ),
        (
            "2 emitters + writer: p99.9 vs std RwLock",
            "≤ 0.5 ×",
            format!("{:.2} ×", p999(sw) / p999(std_lock)),
            p999(sw) / p999(std_lock) <= 0.5,
        ),
        (
            "connect at 1 000 listeners",
            "≤ 20 µs",
            format!("{:.1} µs", connect_1000 / 1e3),
            connect_1000 <= 20_000.0,
        ),
        (
            "memory per listener beyond the closure",
            "≤ 64 bytes",
            format!("{memory:.1} bytes (rounded: {:.0})", memory.round()),
            memory.round() <= 64.0,
        ),
        (
            "emit through a bus handle vs a bare signal",
            "≤ 1.05 ×",
            format!("{:.2} ×", bus.handle4 / bus.bare4),
            bus.handle4 / bus.bare4 <= 1.05,
        ),
        (
            "cached topic, `Publisher`, vs a bare signal",
            "≤ 1.5 ×",
            format!("{:.2} ×", bus.publisher / bus.bare10),
            bus.publisher / bus.bare10 <= 1.5,
        ),
        (
            "cached topic, `Topics::emit`, vs a bare signal",
            "≤ 1.5 ×",
            format!("{:.2} ×", bus.topic / bus.bare10),
            bus.topic / bus.bare10 <= 1.5,
        ),
    ];
    let _ = writeln!(out, "\n### Goals (issues 2 to 5), this run\n");
    let _ = writeln!(out, "| goal | target | measured | verdict |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (goal, target, measured, met) in &goals {
        let _ = writeln!(
            out,
            "| {goal} | {target} | {measured} | {} |",
            verdict(*met)
        );
    }

    println!("\n{out}");
    match write_report(&out) {
        Ok(()) => println!("wrote {REPORT}"),
        Err(e) => eprintln!("could not write {REPORT}: {e}"),
    }
    match plot(&costs) {
        Ok(()) => println!("drew {PLOT}"),
        Err(e) => eprintln!("could not draw {PLOT}: {e}"),
    }
}
