//! Stacks a user does not trip over (issue 22): the default stack holds
//! ordinary recursive code, the same in every build.

mod common;

use lariat::{DEFAULT_STACK_SIZE, Reason};

/// Recurses until the stack is `bytes` deeper than at `top` (frames of at
/// least 1 KiB each, however the build lays them out); returns the depth.
#[inline(never)]
fn recurse(top: usize, bytes: usize) -> u64 {
    let frame = std::hint::black_box([1u8; 1024]);
    let here = frame.as_ptr() as usize;
    if top - here >= bytes {
        return 1;
    }
    recurse(top, bytes) + std::hint::black_box(frame[1023]) as u64
}

#[test]
fn the_default_stack_is_the_same_in_every_build_and_holds_200_kib_of_recursion() {
    assert_eq!(DEFAULT_STACK_SIZE, 256 * 1024);
    let runtime = common::runtime(2);
    let depth = runtime
        .block_on(|_| {
            let top = std::hint::black_box(0u8);
            Ok::<_, Reason>(recurse(&top as *const u8 as usize, 200 * 1024))
        })
        .unwrap();
    assert!(depth > 1, "it recursed");
}
