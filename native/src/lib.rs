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
