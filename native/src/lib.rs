//! The napi layer: thin wrappers that turn `realize-core` into JS functions.
//! One module per capability; heavy work runs as `AsyncTask`s on the libuv pool.

mod args;
mod delta;
mod hash;
mod notify;
mod pipe;
mod store;
mod watch;

pub use delta::*;
pub use hash::*;
pub use notify::*;
pub use pipe::*;
pub use store::*;

/// Memory this process frees stays with it for its next buffers instead of
/// going back to the kernel, to be faulted in and zeroed again: moving a
/// large file takes and frees buffers of megabytes all the time, and that
/// churn was a third of realize-sync's kernel time moving a new 1 GiB file
/// here. Peak memory is unchanged; it is only not handed back meanwhile.
#[cfg(target_env = "gnu")]
#[napi_derive::module_init]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets malloc's thresholds, once, as the addon loads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
