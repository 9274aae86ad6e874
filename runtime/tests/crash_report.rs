//! A process that dies abnormally with nobody to tell is reported through
//! `tracing`. (Its own test binary: it installs a global subscriber.)

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lariat::{Reason, Runtime};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_unwatched_crash_is_reported_and_a_normal_exit_is_not() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).init();
    let runtime = Runtime::builder().workers(1).build().unwrap();
    let crasher = runtime.spawn(|_cx| Err(Reason::error("disk_on_fire"))).unwrap();
    runtime.spawn(|_cx| Ok(())).unwrap();
    let mut text = String::new();
    for _ in 0..500 {
        text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        if text.contains("disk_on_fire") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(text.contains("disk_on_fire"), "no crash report in {text:?}");
    assert!(text.contains(&crasher.to_string()), "the report names the pid: {text:?}");
    assert_eq!(text.matches("exited abnormally").count(), 1, "only the crash is reported: {text:?}");
}
