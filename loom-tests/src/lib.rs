//! loom models of lariat's lock-free protocols, driving the runtime's own types
//! (compiled with `--cfg loom`, where `lariat::loom_api` exposes them).
//!
//! Run: `RUSTFLAGS="--cfg loom --cfg crossbeam_loom" cargo test -p lariat-loom --release --features models --target-dir target/loom`
//! (`LOOM_MAX_PREEMPTIONS=3` bounds the search as CI does). Each model names the
//! ordering it depends on and the `LARIAT_MUTATION=...` that weakens it,
//! with the failure loom printed when that mutation was run.
