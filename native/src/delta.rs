//! signature, diff, applyDeltaTo: rolling-hash deltas of file ranges.

use std::fs::File;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::path::PathBuf;

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Result, Task};
use napi_derive::napi;
use realize_core as core;

use crate::args::{fail, invalid, offset};

/// Longest signature window and longest delta output: 64 MiB.
#[napi]
pub const MAX_DELTA_WINDOW: u32 = core::MAX_WINDOW as u32;

/// Choices for a signature; both default to values picked from the window size.
#[napi(object)]
pub struct SignatureOptions {
    /// Block length in bytes (64..=1048576).
    pub block_length: Option<u32>,
    /// Bytes of BLAKE3 kept per block (2..=32).
    pub strong_length: Option<u32>,
}

pub struct SignatureTask {
    path: PathBuf,
    offset: u64,
    length: u64,
    opts: core::SignatureOptions,
}

impl Task for SignatureTask {
    type Output = Vec<u8>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Vec<u8>> {
        core::signature_file(&self.path, self.offset, self.length, self.opts).map_err(fail)
    }

    fn resolve(&mut self, _: Env, out: Vec<u8>) -> Result<Buffer> {
        Ok(out.into())
    }
}

/// Signature of `[offset, offset + length)` of the file at `path`, clipped at its end.
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn signature(
    path: String,
    offset_: f64,
    length: f64,
    options: Option<SignatureOptions>,
) -> Result<AsyncTask<SignatureTask>> {
    let mut opts = core::SignatureOptions::default();
    if let Some(o) = options {
        opts.block_len = o.block_length;
        opts.strong_len = match o.strong_length {
            Some(s) => Some(
                u8::try_from(s)
                    .map_err(|_| invalid(format!("strongLength {s} is out of range")))?,
            ),
            None => None,
        };
    }
    Ok(AsyncTask::new(SignatureTask {
        path: path.into(),
        offset: offset("offset", offset_)?,
        length: offset("length", length)?,
        opts,
    }))
}

pub struct DiffTask {
    path: PathBuf,
    offset: u64,
    length: u64,
    signature: Vec<u8>,
    limit: Option<u64>,
}

impl Task for DiffTask {
    type Output = Option<Vec<u8>>;
    type JsValue = Option<Buffer>;

    fn compute(&mut self) -> Result<Option<Vec<u8>>> {
        core::diff_file(
            &self.path,
            self.offset,
            self.length,
            &self.signature,
            self.limit,
        )
        .map_err(fail)
    }

    fn resolve(&mut self, _: Env, out: Option<Vec<u8>>) -> Result<Option<Buffer>> {
        Ok(out.map(Buffer::from))
    }
}

/// Delta turning the signature's window into `[offset, offset + length)` of the file at `path`.
/// Null when the delta would take about `limit` bytes or more.
#[napi(ts_return_type = "Promise<Buffer | null>")]
pub fn diff(
    path: String,
    offset_: f64,
    length: f64,
    signature: &[u8],
    limit: Option<f64>,
) -> Result<AsyncTask<DiffTask>> {
    Ok(AsyncTask::new(DiffTask {
        path: path.into(),
        offset: offset("offset", offset_)?,
        length: offset("length", length)?,
        signature: signature.to_vec(),
        limit: limit.map(|l| offset("limit", l)).transpose()?,
    }))
}

pub struct ApplyTask {
    base: PathBuf,
    delta: Vec<u8>,
    max_output: u64,
    first_block: u64,
    file_size: u64,
    blocks: Vec<core::ChainingValue>,
    out_fd: i32,
    out_offset: u64,
}

impl ApplyTask {
    fn expected(&self) -> core::Expected<'_> {
        core::Expected {
            first_block: self.first_block,
            file_size: self.file_size,
            blocks: &self.blocks,
        }
    }
}

impl Task for ApplyTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        // The caller's open file, borrowed: JS keeps it open until this task
        // settles, and closes it itself.
        // SAFETY: from_raw_fd takes no ownership thanks to ManuallyDrop, so
        // the descriptor is never closed here; a bad fd fails the write.
        let out = ManuallyDrop::new(unsafe { File::from_raw_fd(self.out_fd) });
        core::apply_file_to(
            &self.base,
            &self.delta,
            self.max_output,
            &self.expected(),
            &out,
            self.out_offset,
        )
        .map_err(fail)
    }

    fn resolve(&mut self, _: Env, _: ()) -> Result<()> {
        Ok(())
    }
}

/// Rebuilds the new bytes a delta describes, copying from the base window
/// of the file at `basePath`, and writes them at `outOffset` of the open
/// file `outFd`. They must be blocks `[firstBlock, firstBlock + blocks.length)`
/// of a file of `fileSize` bytes, with these chaining values (hex; `[root]`
/// for a file of at most one block), or nothing is written and the promise
/// rejects.
#[napi(ts_return_type = "Promise<void>")]
#[allow(clippy::too_many_arguments)]
pub fn apply_delta_to(
    base_path: String,
    delta: &[u8],
    max_output: f64,
    first_block: f64,
    file_size: f64,
    blocks: Vec<String>,
    out_fd: i32,
    out_offset: f64,
) -> Result<AsyncTask<ApplyTask>> {
    let task = ApplyTask {
        base: base_path.into(),
        delta: delta.to_vec(),
        max_output: offset("maxOutput", max_output)?,
        first_block: offset("firstBlock", first_block)?,
        file_size: offset("fileSize", file_size)?,
        blocks: blocks
            .iter()
            .enumerate()
            .map(|(i, b)| core::from_hex(b, i).map_err(invalid))
            .collect::<Result<_>>()?,
        out_fd,
        out_offset: offset("outOffset", out_offset)?,
    };
    // Blocks that cannot be blocks of such a file are the caller's mistake.
    task.expected().byte_len().map_err(invalid)?;
    Ok(AsyncTask::new(task))
}

/// What a delta's header says.
#[napi(object)]
pub struct DeltaInfo {
    /// Start of the base window it copies from.
    pub window_offset: f64,
    /// Length of that window.
    pub window_length: f64,
    /// Bytes it produces.
    pub output_length: f64,
}

/// Reads a delta's header (cheap; does not check its ops).
#[napi]
pub fn delta_info(delta: &[u8]) -> Result<DeltaInfo> {
    let i = core::delta_info(delta).map_err(invalid)?;
    Ok(DeltaInfo {
        window_offset: i.window_offset as f64,
        window_length: i.window_len as f64,
        output_length: i.output_len as f64,
    })
}
