//! Encoding units on `threads` threads, the calling thread among them, while the calling
//! thread also merges them in order.
//!
//! `threads - 1` workers take units in CU order (the next one not taken) and send each
//! result back. The calling thread merges each unit as soon as all units before it are
//! merged, and keeps the results that arrive early. When the next unit to merge is not
//! ready, it takes the next unit not taken and encodes it itself rather than wait, so that
//! `-j2` runs two threads, not three on two cores: an idle merging thread would otherwise
//! need its own core, and a busy one would share a core with the workers and fall behind.
//! No unit is started more than [`WINDOW`] units ahead of the merge, so that at most that
//! many encoded units wait in memory. A merged unit's output goes back to the worker that
//! made it, to be freed there: freeing on the merging thread what another thread allocated
//! takes that thread's malloc arena lock while it allocates, and they wait on each other. On the first error in CU order the workers stop
//! taking units and that error is returned, as the sequential path would return it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use crate::error::ErrorKind;

/// How many units may be encoded ahead of the merge.
const WINDOW: usize = 64;

/// The units not yet taken, handed out in order.
struct Queue<I> {
    items: Vec<Mutex<Option<I>>>,
    next: AtomicUsize,
}

impl<I> Queue<I> {
    /// The next unit not taken and its index, if any is left.
    fn take(&self) -> Option<(usize, I)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = self.items.get(i)?;
        let item = slot.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        Some((i, item))
    }

    /// The index the next [`Queue::take`] would hand out.
    fn peek(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }
}

/// Runs `encode` on every item on `threads` threads (the calling thread one of them), and
/// `merge` on the results in item order (with the item's index) on the calling thread.
/// `encode` gets the thread's own scratch state. `merge` may take from a result but not
/// keep it: the result is dropped afterwards by the thread that encoded it.
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
    M: FnMut(usize, Option<&mut O>) -> Result<(), ErrorKind>,
{
    let n = items.len();
    let queue = Queue {
        items: items.into_iter().map(|i| Mutex::new(Some(i))).collect(),
        next: AtomicUsize::new(0),
    };
    let stop = AtomicBool::new(false);
    // The number of items merged, for the window.
    let merged = Mutex::new(0usize);
    let progress = Condvar::new();
    // Results with the worker that made them (`None`: the calling thread).
    let (tx, rx) = mpsc::channel::<(usize, Option<usize>, Result<Option<O>, ErrorKind>)>();
    let mut give_back = Vec::new();
    // For the timing report: time spent waiting (workers on the window, in microseconds;
    // the calling thread on them), and on units the calling thread encoded itself.
    let worker_wait = AtomicUsize::new(0);
    let mut merger_wait = std::time::Duration::ZERO;
    let mut stolen = std::time::Duration::ZERO;
    let mut stolen_n = 0usize;
    let last_exit = Mutex::new(None::<std::time::Instant>);
    let r = std::thread::scope(|scope| {
        for w in 0..threads.max(1) - 1 {
            let tx = tx.clone();
            let (spent_tx, spent) = mpsc::channel::<O>();
            give_back.push(spent_tx);
            let (queue, stop, merged, progress, encode, worker_wait) =
                (&queue, &stop, &merged, &progress, &encode, &worker_wait);
            let last_exit = &last_exit;
            scope.spawn(move || {
                let mut scratch = S::default();
                loop {
                    // Free what the merge is done with, in this thread's own arena.
                    while let Ok(o) = spent.try_recv() {
                        drop(o);
                    }
                    // Wait for the window before taking, so that the calling thread can
                    // take a unit meanwhile.
                    {
                        let mut m = merged.lock().unwrap_or_else(|p| p.into_inner());
                        let t = std::time::Instant::now();
                        while queue.peek() < n
                            && queue.peek() >= *m + WINDOW
                            && !stop.load(Ordering::Relaxed)
                        {
                            m = progress.wait(m).unwrap_or_else(|p| p.into_inner());
                        }
                        let waited = t.elapsed().as_micros() as usize;
                        worker_wait.fetch_add(waited, Ordering::Relaxed);
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some((i, item)) = queue.take() else {
                        *last_exit.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(std::time::Instant::now());
                        break;
                    };
                    if tx.send((i, Some(w), encode(item, &mut scratch))).is_err() {
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
        let mut scratch = S::default();
        let mut pending = BTreeMap::new();
        let mut want = 0usize;
        while want < n {
            while let Ok((i, w, out)) = rx.try_recv() {
                pending.insert(i, (w, out));
            }
            if let Some((w, out)) = pending.remove(&want) {
                let mut out = out?;
                merge(want, out.as_mut())?;
                if let (Some(o), Some(w)) = (out, w) {
                    // A worker that has stopped cannot take it: then it is freed here.
                    let _ = give_back[w].send(o);
                }
                want += 1;
                *merged.lock().unwrap_or_else(|p| p.into_inner()) = want;
                progress.notify_all();
                continue;
            }
            // The next unit is still being encoded elsewhere: encode one meanwhile.
            if queue.peek() < (want + WINDOW).min(n) {
                if let Some((i, item)) = queue.take() {
                    let t = std::time::Instant::now();
                    pending.insert(i, (None, encode(item, &mut scratch)));
                    stolen += t.elapsed();
                    stolen_n += 1;
                    continue;
                }
            }
            // Nothing to take: wait for a worker. Every worker gone with units left
            // unmerged cannot happen (each taken unit is sent), but must not hang.
            let t = std::time::Instant::now();
            let got = rx.recv();
            merger_wait += t.elapsed();
            match got {
                Ok((i, w, out)) => {
                    pending.insert(i, (w, out));
                }
                Err(_) => break,
            }
        }
        let end = std::time::Instant::now();
        let worker_done = *last_exit.lock().unwrap_or_else(|p| p.into_inner());
        kbtf_btf::timing::note(|| {
            format!(
                "pipeline waits: workers on the window {:?}, merging thread on workers {merger_wait:?}, merging alone at the end {:?}; the merging thread encoded {stolen_n} of {n} units in {stolen:?}",
                std::time::Duration::from_micros(worker_wait.load(Ordering::Relaxed) as u64),
                worker_done.map(|t| end.saturating_duration_since(t))
            )
        });
        Ok(())
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item is merged once, in order, for any thread count, and the first error in
    /// item order is the one returned.
    #[test]
    fn merges_in_order_and_reports_the_first_error() {
        for threads in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            run(
                (0..500u32).collect(),
                threads,
                |x, _: &mut ()| Ok(Some(x * 2)),
                |i, o: Option<&mut u32>| {
                    seen.push((i, o.copied()));
                    Ok(())
                },
            )
            .unwrap();
            let want: Vec<_> = (0..500usize).map(|i| (i, Some(i as u32 * 2))).collect();
            assert_eq!(seen, want, "threads {threads}");

            let mut last = None;
            let r = run(
                (0..500u32).collect(),
                threads,
                |x, _: &mut ()| {
                    if x == 300 || x == 400 {
                        Err(ErrorKind::NoDwarf)
                    } else {
                        Ok(Some(x))
                    }
                },
                |i, _: Option<&mut u32>| {
                    last = Some(i);
                    Ok(())
                },
            );
            assert!(matches!(r, Err(ErrorKind::NoDwarf)), "threads {threads}");
            assert_eq!(last, Some(299), "threads {threads}");
        }
    }
}
