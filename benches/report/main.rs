//! The whole performance picture in one command, in about a minute and a
//! half per run:
//!
//! ```sh
//! cargo bench --bench report                        # one run
//! SIGWIRE_REPORT_RUNS=3 cargo bench --bench report  # three runs, medians
//! ```
//!
//! Runs a short version of every benchmark (emit cost by listener count,
//! asynchronous fan-out, emitters under contention, the writer's side,
//! memory per listener, nested emits, the bus) with a progress bar, prints
//! markdown tables and the goals as ratios against baselines measured in
//! the same run, writes them into `docs/benchmarks.md` (between the
//! `bench_report` markers; the hand-written analysis around them stays),
//! and draws `docs/emit.png` (ns per emit against listener count) and
//! `docs/fanout.png` (the asynchronous fan-out's delivered events per second
//! against listener count).
//!
//! With `SIGWIRE_REPORT_RUNS=N` it measures everything N times, one run
//! after the other: each figure in the tables is then the median over the
//! runs, and each goal the median over the runs of a ratio taken within one
//! run, with its range. The machine being noisy, that median is the figure
//! to quote.
//!
//! The figures are medians of short samples: quicker and rougher than the
//! criterion benches (`cargo bench --bench emit` and the others), which
//! remain the reference. Without `--bench` (`cargo test --benches`) it runs
//! once with tiny samples, to check that every part works, and writes
//! nothing. Drawing needs a TrueType font: DejaVu Sans or Liberation Sans
//! from the usual system paths, or the file named by `SIGWIRE_REPORT_FONT`.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[path = "../support/mod.rs"]
mod support;

mod measure;
mod plot;
mod tables;

use measure::{Run, STEPS, measure, median_run};

const REPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/benchmarks.md");
const PLOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/emit.png");
const FANOUT_PLOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/fanout.png");
const BEGIN: &str = "<!-- bench_report: begin -->";
const END: &str = "<!-- bench_report: end -->";

/// How long each part measures.
#[derive(Clone, Copy)]
struct Settings {
    /// Samples per figure; each figure is their median.
    samples: usize,
    /// About how long one sample takes.
    sample: Duration,
    /// Seconds per contention scenario and implementation.
    contention_secs: f64,
    /// Listeners connected for the memory figure.
    memory_listeners: usize,
}

const FULL: Settings = Settings {
    samples: 9,
    sample: Duration::from_millis(50),
    contention_secs: 1.0,
    memory_listeners: 10_000,
};

/// For `cargo test --benches`: every part runs, nothing is measured well.
const QUICK: Settings = Settings {
    samples: 3,
    sample: Duration::from_millis(1),
    contention_secs: 0.02,
    memory_listeners: 100,
};

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

/// `SIGWIRE_REPORT_RUNS`, or 1 run when it is not set.
fn runs() -> Result<usize, String> {
    let Ok(text) = std::env::var("SIGWIRE_REPORT_RUNS") else {
        return Ok(1);
    };
    match text.trim().parse::<usize>() {
        Ok(runs) if runs > 0 => Ok(runs),
        _ => Err(format!(
            "SIGWIRE_REPORT_RUNS is the number of runs, a whole number from 1 up, not {text:?}"
        )),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too:
    // keep that short and leave the docs alone.
    let quick = !std::env::args().any(|a| a == "--bench");
    let settings = if quick { QUICK } else { FULL };
    let runs = runs().unwrap_or_else(|message| {
        eprintln!("error: {message}");
        std::process::exit(2);
    });
    let started = Instant::now();
    let progress = if quick {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((STEPS * runs) as u64)
    };
    progress.set_style(
        ProgressStyle::with_template("{prefix} {elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
            .unwrap()
            .progress_chars("=> "),
    );
    let measured: Vec<Run> = (1..=runs)
        .map(|run| {
            progress.set_prefix(format!("run {run}/{runs}"));
            measure(settings, &progress)
        })
        .collect();
    progress.finish_with_message("done");

    let out = tables::report(&measured, started.elapsed());
    println!("\n{out}");
    if quick {
        println!(
            "a quick check (no `--bench`), tiny samples: {REPORT} and {PLOT} left as they were"
        );
        return;
    }
    match write_report(&out) {
        Ok(()) => println!("wrote {REPORT}"),
        Err(e) => eprintln!("could not write {REPORT}: {e}"),
    }
    let median = median_run(&measured);
    match plot::plot(&median.emit) {
        Ok(()) => println!("drew {PLOT}"),
        Err(e) => eprintln!("could not draw {PLOT}: {e}"),
    }
    match plot::plot_fanout(&median.fanout) {
        Ok(()) => println!("drew {FANOUT_PLOT}"),
        Err(e) => eprintln!("could not draw {FANOUT_PLOT}: {e}"),
    }
}
