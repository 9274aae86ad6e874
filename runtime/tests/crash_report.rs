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

fn captured() -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).init();
        captured
    })
}

fn wait_for(needle: &str) -> String {
    let mut text = String::new();
    for _ in 0..500 {
        text = String::from_utf8_lossy(&captured().0.lock().unwrap()).into_owned();
        if text.contains(needle) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    text
}

#[test]
fn a_process_holding_its_worker_too_long_is_reported() {
    let _ = captured();
    let runtime = Runtime::builder().workers(2).build().unwrap();
    let hog = runtime
        .spawn(|_cx| {
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_millis(2500) {
                std::hint::spin_loop();
            }
            Ok(())
        })
        .unwrap();
    let text = wait_for("held its worker");
    let line =
        text.lines().find(|line| line.contains("held its worker")).unwrap_or_else(|| panic!("no report in {text:?}"));
    assert!(line.contains(&hog.to_string()), "the report names the pid: {line}");
    assert!(line.contains("yield_now"), "the report says what to do: {line}");
}

#[test]
fn an_unwatched_crash_is_reported_and_a_normal_exit_is_not() {
    let captured = captured();
    let runtime = Runtime::builder().workers(1).build().unwrap();
    let crasher = runtime.spawn(|_cx| Err(Reason::error("disk_on_fire"))).unwrap();
    runtime.spawn(|_cx| Ok(())).unwrap();
    let _ = captured;
    let text = wait_for("disk_on_fire");
    assert!(text.contains("disk_on_fire"), "no crash report in {text:?}");
    assert!(text.contains(&crasher.to_string()), "the report names the pid: {text:?}");
    assert_eq!(text.matches("exited abnormally").count(), 1, "only the crash is reported: {text:?}");
}
