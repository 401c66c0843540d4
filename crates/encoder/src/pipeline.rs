//! Encoding units on worker threads while the calling thread merges them in order.
//!
//! Workers take units in CU order (the next one not taken) and send each result back; the
//! calling thread keeps the results that arrive early and merges each unit as soon as all
//! units before it are merged. A worker does not start a unit more than [`WINDOW`] units
//! ahead of the merge, so that at most that many encoded units wait in memory. On the first
//! error in CU order the workers stop taking units and that error is returned, as the
//! sequential path would return it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use crate::error::ErrorKind;

/// How many units may be encoded ahead of the merge.
const WINDOW: usize = 64;

/// Runs `encode` on every item on `threads` workers, and `merge` on the results in item order
/// (with the item's index) on the calling thread. `encode` gets the worker's own scratch
/// state.
pub fn run<I, S, O, E, M>(
    items: Vec<I>,
    threads: usize,
    encode: E,
    mut merge: M,
) -> Result<(), ErrorKind>
where
    I: Send,
    S: Default,
    O: Send,
    E: Fn(I, &mut S) -> Result<Option<O>, ErrorKind> + Sync,
    M: FnMut(usize, Option<O>) -> Result<(), ErrorKind>,
{
    let n = items.len();
    let items: Vec<Mutex<Option<I>>> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // The number of items merged, for the window.
    let merged = Mutex::new(0usize);
    let progress = Condvar::new();
    let (tx, rx) = mpsc::channel::<(usize, Result<Option<O>, ErrorKind>)>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (items, next, stop, merged, progress, encode) =
                (&items, &next, &stop, &merged, &progress, &encode);
            scope.spawn(move || {
                let mut scratch = S::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    {
                        let mut m = merged.lock().unwrap_or_else(|p| p.into_inner());
                        while i >= *m + WINDOW && !stop.load(Ordering::Relaxed) {
                            m = progress.wait(m).unwrap_or_else(|p| p.into_inner());
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let item = items[i].lock().unwrap_or_else(|p| p.into_inner()).take();
                    let Some(item) = item else { break };
                    if tx.send((i, encode(item, &mut scratch))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Should merging panic, the workers must still stop (the scope joins them).
        struct StopOnDrop<'a>(&'a AtomicBool, &'a Mutex<usize>, &'a Condvar);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
                let _guard = self.1.lock().unwrap_or_else(|p| p.into_inner());
                self.2.notify_all();
            }
        }
        let _stop = StopOnDrop(&stop, &merged, &progress);
        let mut pending = BTreeMap::new();
        let mut want = 0usize;
        let mut result = Ok(());
        for (i, out) in rx.iter() {
            pending.insert(i, out);
            while let Some(out) = pending.remove(&want) {
                let step = out.and_then(|o| merge(want, o));
                if let Err(e) = step {
                    result = Err(e);
                    break;
                }
                want += 1;
                *merged.lock().unwrap_or_else(|p| p.into_inner()) = want;
                progress.notify_all();
            }
            if result.is_err() {
                break;
            }
        }
        result
    })
}
