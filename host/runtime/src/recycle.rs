//! Recycled instances: the fresh mode's instances, reset and reused.
//!
//! A fresh check needs an instance in the state instantiation gives (the prepared
//! snapshot, for a 0.2.0 plugin). Making one and dropping it afterwards costs about
//! 10 µs; most of that is wasmtime's bookkeeping, not the state itself. So after a
//! check that ended well, the instance is reset instead of dropped — its memories to
//! their copy-on-write image and initial size (only the pages the check touched), its
//! globals to their initial values (`Store::reset_for_reuse`, seam's patch to
//! wasmtime) — and put on its plugin's shelf for the next check. What the next check
//! sees is exactly what a new instance would show it. A router's instances are
//! recycled the same way, route after route.
//!
//! An instance is put back only when that reset is complete: the component passed
//! [`vet::reusable`](super::vet::reusable) at load (no code that changes a table, no
//! start function, no segment that would have to be applied again); the check
//! answered without a trap, timeout, or error verdict; the host holds no resource for
//! it; and wasmtime could reset every one of its instances. Otherwise it is dropped,
//! as before. A plugin whose instances wasmtime refuses to reset stops trying.
//!
//! A shelf has one lane per core. An instance goes back on the lane of the core that
//! ran its check and is taken from there first, so the next check on that core finds
//! the instance's pages and bookkeeping in that core's cache; only an empty lane takes
//! from the others. (One shared lane let instances wander between cores: two threads
//! checking the same four gates made 70 000 handoffs/s where two unshared sets made
//! 96 000.)
//!
//! Shelved instances hold slots of the instance pool. A plugin keeps at most
//! [`PER_LANE`] of them per lane, the runtime at most half its slots, and a caller
//! that finds no free slot takes one from a shelf before it waits.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::Live;

/// Most idle instances one plugin keeps on one lane: enough for a call thread and a
/// caller's own thread on that core to find one each.
pub(crate) const PER_LANE: usize = 2;

/// A plugin's idle instances, one lane per core.
pub(crate) struct Shelf {
    lanes: Box<[Lane]>,
    /// Set when wasmtime refused to reset one of this plugin's instances: it would
    /// refuse every time, so the plugin goes back to making a new one per check.
    refused: AtomicBool,
    /// Resets told that no page was faulted in (see [`Plugin::quick_resets`]).
    ///
    /// [`Plugin::quick_resets`]: crate::Plugin::quick_resets
    quick: AtomicU64,
    shelves: Arc<Shelves>,
}

/// One core's idle instances, alone on its cache lines so that cores taking from
/// their own lanes do not contend.
#[repr(align(128))]
#[derive(Default)]
struct Lane(Mutex<Vec<Live>>);

/// Every plugin's shelf in a runtime, for the count and for taking back slots.
pub(crate) struct Shelves {
    all: Mutex<Vec<Weak<Shelf>>>,
    idle: AtomicUsize,
    /// Most idle instances in the whole runtime: half its pool.
    cap: usize,
    /// Lanes per shelf: the cores this process may run on.
    lanes: usize,
    /// Whether a thread's unchanged page-fault count proves that no new page of
    /// an instance's memory was touched ([`FaultMark`]).
    trust_fault_counts: bool,
}

impl Shelves {
    pub(crate) fn new(pool_slots: u32) -> Self {
        Shelves {
            all: Mutex::default(),
            idle: AtomicUsize::new(0),
            cap: pool_slots as usize / 2,
            lanes: std::thread::available_parallelism().map_or(1, |n| n.get().min(256)),
            trust_fault_counts: huge_pages_stay_put(),
        }
    }

    /// A new shelf for one loaded plugin.
    pub(crate) fn shelf(self: &Arc<Self>) -> Arc<Shelf> {
        let shelf = Arc::new(Shelf {
            lanes: (0..self.lanes).map(|_| Lane::default()).collect(),
            refused: AtomicBool::new(false),
            quick: AtomicU64::new(0),
            shelves: self.clone(),
        });
        let mut all = lock(&self.all);
        all.retain(|s| s.strong_count() > 0);
        all.push(Arc::downgrade(&shelf));
        shelf
    }

    /// Drops one idle instance of any plugin, freeing its pool slot; `false` when
    /// every shelf is empty.
    pub(crate) fn free_one(&self) -> bool {
        if self.idle.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let all: Vec<Arc<Shelf>> = lock(&self.all).iter().filter_map(Weak::upgrade).collect();
        for shelf in all {
            if let Some(live) = shelf.take() {
                drop(live);
                return true;
            }
        }
        false
    }
}

impl Shelf {
    /// Whether checks should go through this shelf.
    pub(crate) fn in_use(&self) -> bool {
        !self.refused.load(Ordering::Relaxed)
    }

    /// How many idle instances wait on this shelf.
    pub(crate) fn len(&self) -> usize {
        self.lanes.iter().map(|lane| lock(&lane.0).len()).sum()
    }

    /// How many resets were told that no page was faulted in.
    pub(crate) fn quick_resets(&self) -> u64 {
        self.quick.load(Ordering::Relaxed)
    }

    /// An idle instance, if there is one: from this core's lane first.
    pub(crate) fn take(&self) -> Option<Live> {
        let home = self.lane();
        let n = self.lanes.len();
        let live = (0..n).find_map(|i| lock(&self.lanes[(home + i) % n].0).pop());
        if live.is_some() {
            self.shelves.idle.fetch_sub(1, Ordering::Relaxed);
        }
        live
    }

    /// The lane of the core this thread runs on.
    fn lane(&self) -> usize {
        current_core() % self.lanes.len()
    }

    /// Resets `live` after a check that ended well, and shelves it if the reset is
    /// complete and there is room; otherwise drops it.
    pub(crate) fn put_back(&self, mut live: Live) {
        if live.store.data().holds_resources() {
            return;
        }
        let mark = FaultMark::here();
        let no_new_pages = self.shelves.trust_fault_counts
            && !live.waited
            && mark.is_some()
            && live.reset_at == mark;
        live.reset_at = mark;
        match live.store.reset_for_reuse(no_new_pages) {
            Ok(true) if no_new_pages => {
                self.quick.fetch_add(1, Ordering::Relaxed);
            }
            Ok(true) => {}
            Ok(false) => {
                self.refused.store(true, Ordering::Relaxed);
                return;
            }
            Err(_) => return,
        }
        if self.shelves.idle.load(Ordering::Relaxed) >= self.shelves.cap {
            return;
        }
        let mut idle = lock(&self.lanes[self.lane()].0);
        if idle.len() < PER_LANE {
            idle.push(live);
            self.shelves.idle.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Shelf {
    fn drop(&mut self) {
        let n = self.len();
        self.shelves.idle.fetch_sub(n, Ordering::Relaxed);
    }
}

/// A thread and its count of page faults so far: two equal marks mean nothing
/// running on that thread in between faulted a page in.
///
/// This is what lets a reset skip the kernel's page scan (about 1.2 µs a memory):
/// after a reset, an instance's memory holds the pages the reset rewrote, and
/// otherwise only holes, pages of its image file, or the shared zero page — and a
/// write to any of those takes a page fault. So when the check ran start to end on
/// the thread that reset the instance last (it never waited, so no other thread
/// polled it) and that thread's fault count has not moved since, the check can only
/// have written pages the last reset rewrote, and rewriting those again restores
/// everything. Any fault at all on the thread, by anything, means a full scan:
/// counting is conservative, never the other way.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct FaultMark {
    thread: std::thread::ThreadId,
    faults: u64,
}

impl FaultMark {
    /// This thread's mark, where the system counts faults per thread.
    #[cfg(target_os = "linux")]
    pub(crate) fn here() -> Option<Self> {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: `getrusage` fills the `rusage` it is given and nothing else.
        #[allow(unsafe_code)]
        let usage = unsafe {
            if libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) != 0 {
                return None;
            }
            usage.assume_init()
        };
        let minor = u64::try_from(usage.ru_minflt).ok()?;
        let major = u64::try_from(usage.ru_majflt).ok()?;
        Some(FaultMark {
            thread: std::thread::current().id(),
            faults: minor + major,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn here() -> Option<Self> {
        None
    }
}

/// Whether the kernel can fill holes of an instance's memory without a fault. Only
/// khugepaged does that, when it collapses small anonymous pages into a huge page,
/// which it does to memory nobody asked about only when transparent huge pages are
/// `always` on. Anything unreadable counts as yes.
pub(crate) fn huge_pages_stay_put() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let dir = std::path::Path::new("/sys/kernel/mm/transparent_hugepage");
    let chosen = |path: &std::path::Path| -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        let start = text.find('[')? + 1;
        let end = start + text[start..].find(']')?;
        Some(text[start..end].to_string())
    };
    let Some(top) = chosen(&dir.join("enabled")) else {
        return false;
    };
    let calm = |mode: &str| matches!(mode, "never" | "madvise");
    if !calm(&top) {
        return false;
    }
    // Per-size settings (mTHP) may turn collapsing on for some sizes; a size with no
    // `enabled` of its own has no anonymous huge pages.
    let Ok(sizes) = std::fs::read_dir(dir) else {
        return true;
    };
    sizes.flatten().all(|entry| {
        let enabled = entry.path().join("enabled");
        let is_size = entry
            .file_name()
            .to_string_lossy()
            .starts_with("hugepages-");
        !is_size
            || !enabled.exists()
            || chosen(&enabled).is_some_and(|mode| calm(&mode) || mode == "inherit")
    })
}

/// The core this thread runs on (a hint: the thread may move right after).
#[cfg(target_os = "linux")]
fn current_core() -> usize {
    // SAFETY: `sched_getcpu` takes no arguments and touches no memory of ours.
    #[allow(unsafe_code)]
    usize::try_from(unsafe { libc::sched_getcpu() }).unwrap_or(0)
}

/// Without a cheap way to ask for the core, each thread keeps the lane it was given.
#[cfg(not(target_os = "linux"))]
fn current_core() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static LANE: usize = NEXT.fetch_add(1, Ordering::Relaxed));
    LANE.with(|lane| *lane)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
