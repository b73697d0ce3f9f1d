//! The napi layer: thin wrappers that turn `realize-core` into JS functions.
use napi_derive::napi;

mod watch;

/// Size of one hash-tree block, in bytes.
#[napi]
pub const BLOCK_SIZE: u32 = realize_core::BLOCK_SIZE as u32;
