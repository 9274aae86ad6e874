//! Helpers shared by the integration tests.
#![allow(dead_code)]

use lariat::Runtime;

/// A runtime with `workers` workers (tests state the count they rely on).
pub fn runtime(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().expect("a test runtime")
}
