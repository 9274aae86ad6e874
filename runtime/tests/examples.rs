//! The README's examples run to their end here (each asserts what it shows;
//! the seed scenarios' outcomes are checked line by line in
//! `bench/tests/seed.rs`). The TCP server runs in `bridge.rs` (it needs the
//! `tokio` feature), `abort_report` in `.ci/run` (it aborts by design).

#[path = "../examples/ping_pong.rs"]
mod ping_pong;
#[path = "../examples/seed_links.rs"]
mod seed_links;
#[path = "../examples/selective_receive.rs"]
mod selective_receive;
#[path = "../examples/worker_pool.rs"]
mod worker_pool;

#[test]
fn ping_pong_returns_every_throw_once() {
    ping_pong::main().unwrap();
}

#[test]
fn selective_receive_takes_the_answers_in_its_order_and_keeps_the_logs() {
    selective_receive::main().unwrap();
}

#[test]
fn worker_pool_retries_the_job_that_crashed_its_worker() {
    worker_pool::main().unwrap();
}

#[test]
fn seed_links_runs_every_scenario() {
    seed_links::main().unwrap();
}
