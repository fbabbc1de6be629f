//! A transient progress line on stderr for commands that can take a while (`bundle
//! build` compiling components, `report` over a large ledger): what is happening and for
//! how long, redrawn in place, cleared when the work ends. Only on a terminal, and only
//! once the work has taken longer than [`SHOW_AFTER`], so quick commands and piped
//! output look exactly as they did.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Work shorter than this shows no progress line at all.
pub const SHOW_AFTER: Duration = Duration::from_millis(300);
/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(100);

struct Shared {
    label: Mutex<String>,
    stop: AtomicBool,
    wake: Condvar,
}

/// The progress line of one piece of work; dropping it clears the line.
pub struct Activity {
    shared: Option<Arc<Shared>>,
    drawer: Option<JoinHandle<()>>,
}

impl Activity {
    /// Starts a line on stderr when stderr is a terminal; otherwise does nothing.
    pub fn start(label: impl Into<String>) -> Activity {
        if std::io::stderr().is_terminal() {
            Activity::on(Box::new(std::io::stderr()), SHOW_AFTER, label)
        } else {
            Activity {
                shared: None,
                drawer: None,
            }
        }
    }

    /// Draws on `out` once `after` has passed (tests pass a buffer and zero).
    pub fn on(mut out: Box<dyn Write + Send>, after: Duration, label: impl Into<String>) -> Self {
        let shared = Arc::new(Shared {
            label: Mutex::new(label.into()),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
        });
        let drawer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("seam-progress".into())
                .spawn(move || {
                    let started = Instant::now();
                    let mut drawn = false;
                    let mut label = shared.label.lock().unwrap_or_else(|e| e.into_inner());
                    // `stop` is set before `drop` takes the lock to wake this thread, so
                    // checking it under the lock before each wait loses no wake-up.
                    while !shared.stop.load(Ordering::Acquire) {
                        let wait = if drawn {
                            TICK
                        } else {
                            after
                                .saturating_sub(started.elapsed())
                                .max(Duration::from_millis(1))
                        };
                        label = shared
                            .wake
                            .wait_timeout(label, wait)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                        if shared.stop.load(Ordering::Acquire) {
                            break;
                        }
                        if started.elapsed() >= after {
                            let secs = started.elapsed().as_secs_f64();
                            let _ = write!(out, "\r\x1b[2K{label} … {secs:.1} s");
                            let _ = out.flush();
                            drawn = true;
                        }
                    }
                    if drawn {
                        let _ = write!(out, "\r\x1b[2K");
                        let _ = out.flush();
                    }
                })
                .ok()
        };
        Activity {
            shared: Some(shared),
            drawer,
        }
    }

    /// Says what the work is doing now.
    pub fn set(&self, label: impl Into<String>) {
        if let Some(shared) = &self.shared {
            *shared.label.lock().unwrap_or_else(|e| e.into_inner()) = label.into();
        }
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.stop.store(true, Ordering::Release);
            let _guard = shared.label.lock().unwrap_or_else(|e| e.into_inner());
            shared.wake.notify_all();
        }
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn draws_the_current_label_and_clears_the_line_when_dropped() {
        let buffer = Buffer::default();
        let activity = Activity::on(Box::new(buffer.clone()), Duration::ZERO, "compiling a");
        activity.set("compiling b (2/2)");
        // Waits for a drawing of the new label (a condition, not a duration).
        let deadline = Instant::now() + Duration::from_secs(30);
        while !buffer.text().contains("compiling b (2/2) … ") {
            assert!(
                Instant::now() < deadline,
                "never drawn: {:?}",
                buffer.text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(activity);
        let text = buffer.text();
        assert!(text.starts_with("\r\x1b[2K"), "{text:?}");
        assert!(
            text.ends_with(" s\r\x1b[2K"),
            "the line is cleared: {text:?}"
        );
    }

    #[test]
    fn quick_work_draws_nothing() {
        let buffer = Buffer::default();
        let activity = Activity::on(Box::new(buffer.clone()), Duration::from_secs(3600), "x");
        activity.set("y");
        drop(activity);
        assert_eq!(buffer.text(), "");
    }
}
