//! Realize's native core, free of napi types so `cargo test` links.

/// Size of one hash-tree block: 1 MiB.
pub const BLOCK_SIZE: u64 = 1 << 20;

/// The recursive inotify watcher.
pub mod watch;
