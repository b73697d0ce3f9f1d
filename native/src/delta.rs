//! signature, diff, applyDelta: rolling-hash deltas of file ranges.

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
}

impl Task for DiffTask {
    type Output = Vec<u8>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Vec<u8>> {
        core::diff_file(&self.path, self.offset, self.length, &self.signature).map_err(fail)
    }

    fn resolve(&mut self, _: Env, out: Vec<u8>) -> Result<Buffer> {
        Ok(out.into())
    }
}

/// Delta turning the signature's window into `[offset, offset + length)` of the file at `path`.
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn diff(
    path: String,
    offset_: f64,
    length: f64,
    signature: &[u8],
) -> Result<AsyncTask<DiffTask>> {
    Ok(AsyncTask::new(DiffTask {
        path: path.into(),
        offset: offset("offset", offset_)?,
        length: offset("length", length)?,
        signature: signature.to_vec(),
    }))
}

pub struct ApplyTask {
    base: PathBuf,
    delta: Vec<u8>,
    max_output: u64,
}

impl Task for ApplyTask {
    type Output = Vec<u8>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Vec<u8>> {
        core::apply_file(&self.base, &self.delta, self.max_output).map_err(fail)
    }

    fn resolve(&mut self, _: Env, out: Vec<u8>) -> Result<Buffer> {
        Ok(out.into())
    }
}

/// The new bytes a delta describes, copying from the base window of the file at `basePath`.
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn apply_delta(
    base_path: String,
    delta: &[u8],
    max_output: f64,
) -> Result<AsyncTask<ApplyTask>> {
    Ok(AsyncTask::new(ApplyTask {
        base: base_path.into(),
        delta: delta.to_vec(),
        max_output: offset("maxOutput", max_output)?,
    }))
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
