//! Workloads shared by the benches and `examples/bench_report.rs` (which
//! includes these files with `#[path]`).

pub(crate) mod contention;
pub(crate) mod fanout;
pub(crate) mod nested;
pub(crate) mod topics;
