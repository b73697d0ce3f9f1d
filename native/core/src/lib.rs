//! Realize's native core: the BLAKE3 hash tree, rolling-hash deltas, whole
//! small files in one call, sd_notify and the inotify watcher, free of napi
//! types so `cargo test` links (napi-rs #1099).
//! The napi layer in `native/src` wraps these; every input it passes from the
//! network is bounded here.
#![deny(missing_docs)]

mod apply;
mod delta;
mod diff;
mod dir;
mod file;
mod hash;
mod hex;
mod iov;
mod map;
mod notify;
mod reuse;
mod rolling;
mod signature;
mod store;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

/// Byte streams moved by threads of their own.
pub mod pipe;
/// The recursive inotify watcher.
pub mod watch;

pub use apply::{apply_bytes, apply_file, apply_file_to, ApplyError, Expected};
pub use delta::{delta_info, DeltaFormatError, DeltaInfo};
pub use diff::{diff_bytes, diff_file, DiffError};
pub use dir::{scan_dir, DirItem, EntryKind};
pub use file::FileError;
pub use hash::{
    block_count, copy_hashed, hash_blocks, hash_bytes, hash_data_blocks, hash_file,
    pass_and_hash_pieces, read_hashed, root_from_blocks, verify_blocks, BlockRangeError,
    ChainingValue, CopyError, FileHash, TreeError, BLOCK_SIZE,
};
pub use hex::{from_hex, to_hex, HexError};
pub use notify::{notify_to, sd_notify, NotifyError};
pub use signature::{
    default_block_len, default_strong_len, signature_bytes, signature_file, SignatureError,
    SignatureOptions, MAX_BLOCK_LEN, MAX_OFFSET, MAX_STRONG_LEN, MAX_WINDOW, MIN_BLOCK_LEN,
    MIN_STRONG_LEN,
};
pub use store::{
    fetch_file, fetch_files, hash_files, put_file, put_files, start_writeback, sync_fs,
    try_lock_exclusive, versions_of, write_pieces_at, Fetched, FetchedBatch, PutRequest, Stamp,
    StoreError, VERSION_RECORD,
};
