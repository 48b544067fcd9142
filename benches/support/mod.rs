//! Workloads shared by the benches (`mod support;`) and the report
//! (`benches/report/`, which includes this file with `#[path]`).

pub(crate) mod contention;
pub(crate) mod fanout;
pub(crate) mod nested;
pub(crate) mod topics;
