//! `watchTree`: the recursive inotify watcher of `realize-core`, delivering
//! batches of events to a JS callback through a threadsafe function.
//!
//! The callback is called without an error argument (`CalleeHandled=false`),
//! so a throw in it would reach `napi_fatal_exception`: `lib/native.ts` wraps
//! every callback in a try/catch before handing it here. One batch at a time
//! waits for the JS thread; meanwhile events gather into the next batch (up to
//! `realize_core::watch::MAX_BATCH`), beyond which the reading thread stops
//! reading, the kernel queue overflows and the consumer gets a `rescan`: memory
//! stays bounded when JS falls behind, and a busy JS thread gets few, large
//! batches instead of many small ones.
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use realize_core::watch::{Event, Sink, Watcher};

/// One change under the watched root; paths are relative to it.
#[napi(object)]
pub struct WatchEvent {
    /// `add`, `remove`, `update`, `rename`, `rescan` or `error`.
    pub kind: String,
    /// The path (empty for `rescan`, and for an error about the root).
    pub path: String,
    /// For a rename, the old path.
    pub from: Option<String>,
    /// Set for directories.
    pub is_dir: Option<bool>,
    /// The writer closed the file, or it arrived whole by a rename.
    pub closed: Option<bool>,
    /// For an error: what went wrong and what to do.
    pub message: Option<String>,
}

fn to_js(e: Event) -> WatchEvent {
    WatchEvent {
        kind: e.kind.as_str().to_string(),
        path: e.path,
        from: e.from,
        is_dir: e.is_dir.then_some(true),
        closed: e.closed.then_some(true),
        message: e.message,
    }
}

type Tsfn = ThreadsafeFunction<Vec<WatchEvent>, (), Vec<WatchEvent>, Status, false>;

/// Hands batches to JS, one waiting for the JS thread at a time.
struct JsSink {
    tsfn: Arc<Tsfn>,
    /// Batches queued for the JS thread and not yet taken by it.
    in_flight: Arc<AtomicUsize>,
}

impl Sink for JsSink {
    fn ready(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    fn deliver(&mut self, batch: Vec<Event>) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let events: Vec<WatchEvent> = batch.into_iter().map(to_js).collect();
        if self
            .tsfn
            .call(events, ThreadsafeFunctionCallMode::NonBlocking)
            != Status::Ok
        {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A running watch; `close()` stops it (also done when it is collected).
#[napi]
pub struct NativeWatcher {
    watcher: Option<Watcher>,
    tsfn: Option<Arc<Tsfn>>,
}

#[napi]
impl NativeWatcher {
    /// Stops the reading thread and drops batches not yet delivered. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        if let Some(mut w) = self.watcher.take() {
            w.close();
        }
        if let Some(t) = self.tsfn.take() {
            // The thread has ended and dropped its reference.
            if let Ok(t) = Arc::try_unwrap(t) {
                #[allow(deprecated)]
                let _ = t.abort();
            }
        }
    }
}

impl Drop for NativeWatcher {
    fn drop(&mut self) {
        self.close();
    }
}

/// Watches every directory under `root` (done when this returns) and calls
/// `onEvents` with batches of changes until `close()`. Throws if `root` is not
/// a directory or the inotify watch limit is reached.
#[napi(ts_args_type = "root: string, onEvents: (events: WatchEvent[]) => void")]
pub fn watch_tree(root: String, on_events: Function<Vec<WatchEvent>, ()>) -> Result<NativeWatcher> {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let taken = in_flight.clone();
    let tsfn: Tsfn = on_events
        .build_threadsafe_function::<Vec<WatchEvent>>()
        .callee_handled::<false>()
        .build_callback(move |ctx| {
            taken.fetch_sub(1, Ordering::SeqCst);
            Ok(ctx.value)
        })?;
    let tsfn = Arc::new(tsfn);
    let sink = JsSink {
        tsfn: tsfn.clone(),
        in_flight,
    };
    let watcher = Watcher::start(Path::new(&root), sink).map_err(|e| Error::from_reason(e.0))?;
    Ok(NativeWatcher {
        watcher: Some(watcher),
        tsfn: Some(tsfn),
    })
}
