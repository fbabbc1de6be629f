//! What a plugin call's deadline measures, and the machinery that enforces it.
//!
//! A call's deadline is a budget of **the call's own time**: the CPU time of the
//! threads while they run the call (its wasm code and every host call it makes; the
//! first moments of each poll, before the epoch callback first sees it, are charged by
//! wall-clock time capped at 2 ms, which spares short calls a system call) plus
//! the wall-clock time the call spends waiting on a request of its own (a sleep, a
//! `poll` on a clock). Time the call spends waiting for a CPU — because the machine is
//! busy with other work — is not counted, so a well-behaved gate gets the same verdict
//! on a loaded machine as on an idle one.
//!
//! A generous wall-clock **backstop** (see [`super::limits::WALL_BACKSTOP_FACTOR`])
//! stops a call that has been alive far longer than its deadline however it spent the
//! time, so a starved or pathological call still ends.
//!
//! Two places enforce the budget:
//! - the engine's epoch callback, run once per [`super::limits::EPOCH_TICK`] while wasm
//!   runs, interrupts code that computes past its budget;
//! - [`Metered`], the future wrapping the call, counts CPU time per poll and, while the
//!   call waits, arms a timer for the budget that is left, so a plugin blocked in a
//!   host call is stopped at its deadline too. A wait is charged until the call is
//!   woken, not until it is next polled: time queued for a thread is load, not the
//!   call's.
//!
//! This module must not decide what a timeout means: it reports [`DeadlinePassed`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// The longest stretch of a poll charged by wall-clock time, before the thread's CPU
/// clock is read (see [`Meter::in_poll`]).
const BEFORE_MARK_CAP: Duration = Duration::from_millis(2);

/// The CPU time the calling thread has used, in nanoseconds.
pub(crate) fn thread_cpu_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is supported
    // on every Linux and macOS this builds for. On failure `ts` stays zero, which only
    // makes the call look cheaper; the wall-clock backstop still holds.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Which of the two limits ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeadlinePassed {
    /// The call used its budget of running and waiting time.
    Budget,
    /// The call was alive longer than the wall-clock backstop.
    Backstop,
}

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeadlinePassed::Budget => f.write_str("the call used up its deadline"),
            DeadlinePassed::Backstop => f.write_str("the call passed its wall-clock backstop"),
        }
    }
}

impl std::error::Error for DeadlinePassed {}

/// The time a call has used, shared by the store's epoch callback and [`Metered`]
/// (both run on the thread that polls the call, never at once).
#[derive(Debug)]
pub(crate) struct Meter {
    budget_nanos: u64,
    started: Instant,
    backstop: Duration,
    /// Time counted so far, not including the poll in progress.
    used_nanos: AtomicU64,
    /// When the poll in progress began, in nanoseconds after `started`.
    poll_wall_start: AtomicU64,
    /// The polling thread's CPU clock when the epoch callback first ran in the poll in
    /// progress (0: not yet). Reading a thread's CPU clock is a system call (about
    /// 1 µs), so a poll too short to see a tick never reads it.
    cpu_mark: AtomicU64,
    /// What the poll in progress is charged for its part before `cpu_mark`.
    before_mark: AtomicU64,
    /// Which limit passed, once one has: 0 none, 1 budget, 2 backstop.
    passed: AtomicU8,
}

impl Meter {
    pub(crate) fn new(budget: Duration, backstop: Duration) -> Arc<Meter> {
        Arc::new(Meter {
            budget_nanos: budget.as_nanos().min(u64::MAX as u128) as u64,
            started: Instant::now(),
            backstop,
            used_nanos: AtomicU64::new(0),
            poll_wall_start: AtomicU64::new(0),
            cpu_mark: AtomicU64::new(0),
            before_mark: AtomicU64::new(0),
            passed: AtomicU8::new(0),
        })
    }

    /// Called by the epoch callback while wasm runs: has the call passed a limit?
    pub(crate) fn check_running(&self) -> Result<(), DeadlinePassed> {
        let used = self
            .used_nanos
            .load(Ordering::Relaxed)
            .saturating_add(self.in_poll());
        self.verdict(used)
    }

    /// Starts charging a poll.
    fn begin_poll(&self) {
        self.poll_wall_start
            .store(nanos(self.started.elapsed()), Ordering::Relaxed);
        self.cpu_mark.store(0, Ordering::Relaxed);
    }

    /// What the poll in progress has used so far: its CPU time since the epoch
    /// callback first ran in it, plus, for the part before, its wall-clock time capped at
    /// [`BEFORE_MARK_CAP`] (a poll runs at most about one tick of CPU time before the
    /// callback sees it; the cap keeps a preemption in that part from being charged).
    fn in_poll(&self) -> u64 {
        let mark = self.cpu_mark.load(Ordering::Relaxed);
        if mark != 0 {
            let cpu = thread_cpu_nanos().saturating_sub(mark);
            return self.before_mark.load(Ordering::Relaxed).saturating_add(cpu);
        }
        let wall = nanos(self.started.elapsed())
            .saturating_sub(self.poll_wall_start.load(Ordering::Relaxed));
        let before = wall.min(nanos(BEFORE_MARK_CAP));
        self.before_mark.store(before, Ordering::Relaxed);
        self.cpu_mark
            .store(thread_cpu_nanos().max(1), Ordering::Relaxed);
        before
    }

    /// Ends charging a poll; returns the time counted so far, the poll included.
    fn end_poll(&self) -> u64 {
        let spent = if self.cpu_mark.load(Ordering::Relaxed) != 0 {
            self.in_poll()
        } else {
            let wall = nanos(self.started.elapsed())
                .saturating_sub(self.poll_wall_start.load(Ordering::Relaxed));
            wall.min(nanos(BEFORE_MARK_CAP))
        };
        self.add(spent)
    }

    fn verdict(&self, used: u64) -> Result<(), DeadlinePassed> {
        let passed = if used >= self.budget_nanos {
            DeadlinePassed::Budget
        } else if self.started.elapsed() >= self.backstop {
            DeadlinePassed::Backstop
        } else {
            return Ok(());
        };
        let code = match passed {
            DeadlinePassed::Budget => 1,
            DeadlinePassed::Backstop => 2,
        };
        let _ = self
            .passed
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
        Err(passed)
    }

    /// The limit that passed first, if one has.
    pub(crate) fn passed(&self) -> Option<DeadlinePassed> {
        match self.passed.load(Ordering::Relaxed) {
            1 => Some(DeadlinePassed::Budget),
            2 => Some(DeadlinePassed::Backstop),
            _ => None,
        }
    }

    fn add(&self, nanos: u64) -> u64 {
        let used = self
            .used_nanos
            .load(Ordering::Relaxed)
            .saturating_add(nanos);
        self.used_nanos.store(used, Ordering::Relaxed);
        used
    }

    /// Wall-clock time the call may still wait before one of its limits passes.
    fn wait_allowance(&self, used: u64) -> Duration {
        let budget_left = Duration::from_nanos(self.budget_nanos.saturating_sub(used));
        let backstop_left = self.backstop.saturating_sub(self.started.elapsed());
        budget_left.min(backstop_left)
    }
}

/// Notes when a waiting call's own wait ended (its waker fired), so the time between
/// that wake-up and the next poll — time spent waiting for a thread, which load
/// decides — is not charged to the call.
struct WakeClock {
    woken: Mutex<Option<Instant>>,
    waker: Mutex<Option<Waker>>,
}

impl Wake for WakeClock {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        {
            let mut woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
            woken.get_or_insert_with(Instant::now);
        }
        if let Some(waker) = self
            .waker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            waker.wake_by_ref();
        }
    }
}

/// A plugin call, metered: it resolves to the call's output, or to [`DeadlinePassed`]
/// as soon as the call's time is used up — while it computes (through the epoch
/// callback) or while it waits (through its own timer, made the first time it waits).
pub(crate) struct Metered<F> {
    call: Pin<Box<F>>,
    meter: Arc<Meter>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    waiting_since: Option<Instant>,
    clock: Arc<WakeClock>,
    waker: Waker,
}

impl<F> Metered<F> {
    pub(crate) fn new(call: F, meter: Arc<Meter>) -> Self {
        let clock = Arc::new(WakeClock {
            woken: Mutex::new(None),
            waker: Mutex::new(None),
        });
        Metered {
            call: Box::pin(call),
            meter,
            timer: None,
            waiting_since: None,
            waker: Waker::from(clock.clone()),
            clock,
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = Result<F::Output, DeadlinePassed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let meter = &*this.meter;
        {
            // Forward wake-ups to whoever polls us now, and start a fresh wake clock.
            let mut waker = this.clock.waker.lock().unwrap_or_else(|e| e.into_inner());
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        let woken = this
            .clock
            .woken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(since) = this.waiting_since.take() {
            // The wait lasted until the call was woken (or until now, when our own
            // timer woke us: the budget ran out while it waited).
            let end = woken.unwrap_or_else(Instant::now);
            let used = meter.add(nanos(end.saturating_duration_since(since)));
            if let Err(passed) = meter.verdict(used) {
                return Poll::Ready(Err(passed));
            }
        }
        meter.begin_poll();
        let polled = this
            .call
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker));
        let used = meter.end_poll();
        // Host work done in this poll counts too, even when it finished the call.
        if let Err(passed) = meter.verdict(used) {
            return Poll::Ready(Err(passed));
        }
        if let Poll::Ready(out) = polled {
            return Poll::Ready(Ok(out));
        }
        // The call waits on a request of its own: that time counts, and a timer makes
        // sure the wait ends when the budget (or the backstop) does.
        let now = Instant::now();
        let allowance = meter.wait_allowance(used);
        let until = tokio::time::Instant::from_std(
            now.checked_add(allowance)
                .unwrap_or(now + Duration::from_secs(86_400)),
        );
        let timer = match &mut this.timer {
            Some(timer) => {
                timer.as_mut().reset(until);
                timer
            }
            None => this.timer.insert(Box::pin(tokio::time::sleep_until(until))),
        };
        if timer.as_mut().poll(cx).is_ready() {
            let used = meter.add(nanos(now.elapsed()));
            return Poll::Ready(Err(meter
                .verdict(used)
                .err()
                .unwrap_or(DeadlinePassed::Budget)));
        }
        this.waiting_since = Some(now);
        Poll::Pending
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}
