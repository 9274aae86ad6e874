//! The runtime's panic hook stays quiet for process panics and chains to the
//! previous hook for every other thread. (Its own test binary: hooks are global.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lariat::{Reason, Runtime};

#[test]
fn process_panics_skip_the_previous_hook_and_other_threads_reach_it() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    std::panic::set_hook(Box::new(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    }));
    let runtime = Runtime::builder().workers(2).build().unwrap();
    for _ in 0..10 {
        let _ = runtime.block_on(|_cx| -> Result<(), Reason> { panic!("in a process") });
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "process panics must not reach the previous hook");
    let _ = std::thread::spawn(|| panic!("in a plain thread")).join();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a plain thread's panic must reach it");
}
