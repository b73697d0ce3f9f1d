//! Apply: rebuild new bytes from a base file and a delta.
//!
//! The delta is checked whole before the base is touched; the output is
//! allocated once at the size the header announces, which must be within
//! both the caller's `max_output` and [`MAX_WINDOW`]; copies are read
//! straight from the base file into the output; and the result must hash to
//! the BLAKE3 the delta carries, so a base that changed since its signature
//! was made (or a false block match) is an error, never silent corruption.

use std::fmt;
use std::path::Path;

use crate::delta::{check_ops, output_hash, DeltaFormatError, DeltaInfo, DeltaReader, Op};
use crate::file::{FileError, Input};
use crate::signature::MAX_WINDOW;

/// Why a delta could not be applied.
#[derive(Debug)]
pub enum ApplyError {
    /// Reading the base file failed.
    File(FileError),
    /// The delta is malformed.
    Format(DeltaFormatError),
    /// The delta would produce more than the caller allows.
    TooLarge {
        /// Bytes the delta announces.
        output_len: u64,
        /// The caller's limit.
        max_output: u64,
    },
    /// The base file ends before the window the delta copies from.
    BaseTooShort {
        /// Base file size.
        size: u64,
        /// End of the window.
        window_end: u64,
    },
    /// The bytes produced do not hash to what the delta says.
    Mismatch,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::File(e) => e.fmt(f),
            ApplyError::Format(e) => e.fmt(f),
            ApplyError::TooLarge { output_len, max_output } => write!(
                f,
                "delta produces {output_len} bytes, more than the {max_output} allowed"
            ),
            ApplyError::BaseTooShort { size, window_end } => write!(
                f,
                "base file has {size} bytes but the delta copies from a window ending at {window_end}; \
                 it changed since its signature was made"
            ),
            ApplyError::Mismatch => write!(
                f,
                "the delta's result does not match its BLAKE3: the base changed since its signature \
                 was made, or a block matched falsely; send these bytes in full"
            ),
        }
    }
}

impl std::error::Error for ApplyError {}

impl From<DeltaFormatError> for ApplyError {
    fn from(e: DeltaFormatError) -> Self {
        ApplyError::Format(e)
    }
}

/// Appends `len` bytes of the base file, from an offset in it, to the output.
type AppendFrom<'a> = dyn FnMut(u64, usize, &mut Vec<u8>) -> Result<(), ApplyError> + 'a;

/// Applies `delta`, whose ops [`check_ops`] accepted with header `info`, to a
/// base of `base_size` bytes read through `append(offset_in_file, len, out)`.
fn apply_checked(
    info: DeltaInfo,
    delta: &[u8],
    max_output: u64,
    base_size: u64,
    append: &mut AppendFrom<'_>,
) -> Result<Vec<u8>, ApplyError> {
    let cap = max_output.min(MAX_WINDOW);
    if info.output_len > cap {
        return Err(ApplyError::TooLarge {
            output_len: info.output_len,
            max_output: cap,
        });
    }
    let window_end = info.window_offset + info.window_len;
    if info.window_len > 0 && base_size < window_end {
        return Err(ApplyError::BaseTooShort {
            size: base_size,
            window_end,
        });
    }
    // Allocated once and filled by appending: no byte is written twice.
    let mut out = Vec::with_capacity(info.output_len as usize);
    let mut r = DeltaReader::new(delta)?;
    while let Some(op) = r.next_op()? {
        match op {
            Op::Copy { start, len } => append(info.window_offset + start, len as usize, &mut out)?,
            Op::Literal(bytes) => out.extend_from_slice(bytes),
        }
    }
    debug_assert_eq!(out.len() as u64, info.output_len);
    if output_hash(&out) != info.output_hash {
        return Err(ApplyError::Mismatch);
    }
    Ok(out)
}

/// Applies `delta` to `base`, the whole base file held in memory.
pub fn apply_bytes(base: &[u8], delta: &[u8], max_output: u64) -> Result<Vec<u8>, ApplyError> {
    let info = check_ops(delta)?;
    apply_checked(
        info,
        delta,
        max_output,
        base.len() as u64,
        &mut |off, len, out| {
            let off = off as usize;
            out.extend_from_slice(&base[off..off + len]);
            Ok(())
        },
    )
}

/// Applies `delta` to the base file at `base_path`, reading only the bytes it copies.
pub fn apply_file(base_path: &Path, delta: &[u8], max_output: u64) -> Result<Vec<u8>, ApplyError> {
    let info = check_ops(delta)?;
    if info.window_len == 0 {
        // Nothing to copy: the base need not even exist.
        return apply_checked(info, delta, max_output, 0, &mut |_, _, _| Ok(()));
    }
    let input = Input::open(base_path).map_err(ApplyError::File)?;
    apply_checked(
        info,
        delta,
        max_output,
        input.size(),
        &mut |off, len, out| {
            let at = out.len();
            out.resize(at + len, 0);
            input
                .read_exact_at(&mut out[at..], off)
                .map_err(ApplyError::File)
        },
    )
}
