//! Recycled instances: the fresh mode's instances, reset and reused.
//!
//! A fresh check needs an instance in the state instantiation gives (the prepared
//! snapshot, for a 0.2.0 plugin). Making one and dropping it afterwards costs about
//! 10 µs; most of that is wasmtime's bookkeeping, not the state itself. So after a
//! check that ended well, the instance is reset instead of dropped — its memories to
//! their copy-on-write image and initial size (only the pages the check touched), its
//! globals to their initial values (`Store::reset_for_reuse`, seam's patch to
//! wasmtime) — and put on its plugin's shelf for the next check. What the next check
//! sees is exactly what a new instance would show it.
//!
//! An instance is put back only when that reset is complete: the component passed
//! [`vet::reusable`](super::vet::reusable) at load (no code that changes a table, no
//! start function, no segment that would have to be applied again); the check
//! answered without a trap, timeout, or error verdict; the host holds no resource for
//! it; and wasmtime could reset every one of its instances. Otherwise it is dropped,
//! as before. A plugin whose instances wasmtime refuses to reset stops trying.
//!
//! Shelved instances hold slots of the instance pool. A plugin keeps at most
//! [`PER_PLUGIN`] of them, the runtime at most half its slots, and a caller that finds
//! no free slot takes one from a shelf before it waits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::Live;

/// Most idle instances one plugin keeps: enough for every call thread and a caller's
/// own thread to find one.
pub(crate) const PER_PLUGIN: usize = 4;

/// A plugin's idle instances.
pub(crate) struct Shelf {
    idle: Mutex<Vec<Live>>,
    /// Set when wasmtime refused to reset one of this plugin's instances: it would
    /// refuse every time, so the plugin goes back to making a new one per check.
    refused: AtomicBool,
    shelves: Arc<Shelves>,
}

/// Every plugin's shelf in a runtime, for the count and for taking back slots.
pub(crate) struct Shelves {
    all: Mutex<Vec<Weak<Shelf>>>,
    idle: AtomicUsize,
    /// Most idle instances in the whole runtime: half its pool.
    cap: usize,
}

impl Shelves {
    pub(crate) fn new(pool_slots: u32) -> Self {
        Shelves {
            all: Mutex::default(),
            idle: AtomicUsize::new(0),
            cap: pool_slots as usize / 2,
        }
    }

    /// A new shelf for one loaded plugin.
    pub(crate) fn shelf(self: &Arc<Self>) -> Arc<Shelf> {
        let shelf = Arc::new(Shelf {
            idle: Mutex::new(Vec::new()),
            refused: AtomicBool::new(false),
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
        lock(&self.idle).len()
    }

    /// An idle instance, if there is one.
    pub(crate) fn take(&self) -> Option<Live> {
        let live = lock(&self.idle).pop();
        if live.is_some() {
            self.shelves.idle.fetch_sub(1, Ordering::Relaxed);
        }
        live
    }

    /// Resets `live` after a check that ended well, and shelves it if the reset is
    /// complete and there is room; otherwise drops it.
    pub(crate) fn put_back(&self, mut live: Live) {
        if live.store.data().holds_resources() {
            return;
        }
        match live.store.reset_for_reuse() {
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
        let mut idle = lock(&self.idle);
        if idle.len() < PER_PLUGIN {
            idle.push(live);
            self.shelves.idle.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Shelf {
    fn drop(&mut self) {
        let n = lock(&self.idle).len();
        self.shelves.idle.fetch_sub(n, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
