//! Apply: rebuild new bytes from a base file and a delta.
//!
//! The delta is checked whole before the base is touched; the output is
//! allocated once at the size the header announces, which must be within
//! both the caller's `max_output` and [`MAX_WINDOW`] and must be exactly the
//! blocks the caller expects; copies are read straight from the base file
//! into the output; and the result must have the BLAKE3 hash-tree values the
//! caller expects for those blocks (see [`Expected`]), so a base that changed
//! since its signature was made (or a false block match) is an error, never
//! silent corruption.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::delta::{check_ops, DeltaFormatError, DeltaInfo, DeltaReader, Op};
use crate::file::{FileError, Input};
use crate::hash::{block_count, hash_data_blocks, ChainingValue, BLOCK_SIZE};
use crate::reuse::BufferPool;
use crate::signature::MAX_WINDOW;

/// What the bytes a delta produces must be: blocks
/// `[first_block, first_block + blocks.len())` of a file of `file_size`
/// bytes, with these hash-tree values (the ones [`crate::hash_file`] lists;
/// `[root]` for a file of at most one block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    /// Index of the first block the output holds.
    pub first_block: u64,
    /// Size of the file the blocks belong to.
    pub file_size: u64,
    /// Values of the blocks, one per block the output holds (at least one).
    pub blocks: &'a [ChainingValue],
}

impl Expected<'_> {
    /// Bytes the expected blocks span; an error when they are not blocks of
    /// such a file (none, or some past its end).
    pub fn byte_len(&self) -> Result<u64, ApplyError> {
        let total = block_count(self.file_size);
        let n = self.blocks.len() as u64;
        let end_block = self.first_block.checked_add(n).filter(|e| *e <= total);
        let Some(end_block) = end_block.filter(|_| n > 0) else {
            return Err(ApplyError::InvalidExpected(format!(
                "a file of {} bytes has {total} block hash(es), got {n} from block {}",
                self.file_size, self.first_block
            )));
        };
        // first_block < total <= 2^44, so only the end can pass u64::MAX
        // (for a file within a block of it).
        let start = self.first_block * BLOCK_SIZE;
        let end = end_block.saturating_mul(BLOCK_SIZE).min(self.file_size);
        Ok(end - start)
    }
}

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
    /// The caller's [`Expected`] does not describe blocks of a file.
    InvalidExpected(String),
    /// Writing the checked result failed (a full disk, above all).
    Write(std::io::Error),
    /// The delta produces another number of bytes than the expected blocks span.
    LengthMismatch {
        /// Bytes the delta announces.
        output_len: u64,
        /// Bytes the expected blocks span.
        expected_len: u64,
        /// The first expected block.
        first_block: u64,
        /// Number of expected blocks.
        blocks: u64,
        /// Size of the file they belong to.
        file_size: u64,
    },
    /// The bytes produced do not have the expected block values.
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
            ApplyError::InvalidExpected(why) => write!(f, "invalid expected blocks: {why}"),
            ApplyError::Write(e) => write!(f, "cannot write the delta's result: {e}"),
            ApplyError::LengthMismatch {
                output_len,
                expected_len,
                first_block,
                blocks,
                file_size,
            } => write!(
                f,
                "the delta's result of {output_len} bytes does not match its BLAKE3 blocks: \
                 blocks {first_block}+{blocks} of a file of {file_size} bytes span {expected_len} \
                 bytes (the source changed since the range was chosen, or the delta is for \
                 another range); send these bytes in full"
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

/// Fills the slice with bytes of the base file from an offset in it.
type ReadAt<'a> = dyn FnMut(u64, &mut [u8]) -> Result<(), ApplyError> + 'a;

/// Checks everything that needs no base: the delta's format, the caller's
/// expectation, and that the output fits both `max_output` and the expected
/// blocks. Returns the delta's header.
fn precheck(delta: &[u8], max_output: u64, expect: &Expected<'_>) -> Result<DeltaInfo, ApplyError> {
    let info = check_ops(delta)?;
    let expected_len = expect.byte_len()?;
    let cap = max_output.min(MAX_WINDOW);
    if info.output_len > cap {
        return Err(ApplyError::TooLarge {
            output_len: info.output_len,
            max_output: cap,
        });
    }
    if info.output_len != expected_len {
        return Err(ApplyError::LengthMismatch {
            output_len: info.output_len,
            expected_len,
            first_block: expect.first_block,
            blocks: expect.blocks.len() as u64,
            file_size: expect.file_size,
        });
    }
    Ok(info)
}

/// Applies `delta`, which [`precheck`] accepted with header `info`, to a base
/// of `base_size` bytes read through `read_at(offset_in_file, buf)`, and
/// checks the result against `expect`.
fn build(
    info: DeltaInfo,
    delta: &[u8],
    expect: &Expected<'_>,
    base_size: u64,
    read_at: &mut ReadAt<'_>,
    out: &mut Vec<u8>,
) -> Result<(), ApplyError> {
    let window_end = info.window_offset + info.window_len;
    if info.window_len > 0 && base_size < window_end {
        return Err(ApplyError::BaseTooShort {
            size: base_size,
            window_end,
        });
    }
    // Sized, then overwritten in place (copies and literals cover every
    // byte): a reused buffer stays mapped, which costs far less than
    // faulting in fresh pages for every range, and is zeroed only where it
    // grows.
    crate::reuse::size_to(out, info.output_len as usize);
    let mut at = 0usize;
    let mut r = DeltaReader::new(delta)?;
    while let Some(op) = r.next_op()? {
        match op {
            Op::Copy { start, len } => {
                let end = at + len as usize;
                read_at(info.window_offset + start, &mut out[at..end])?;
                at = end;
            }
            Op::Literal(bytes) => {
                let end = at + bytes.len();
                out[at..end].copy_from_slice(bytes);
                at = end;
            }
        }
    }
    debug_assert_eq!(at as u64, info.output_len);
    match hash_data_blocks(expect.file_size, expect.first_block, out) {
        Ok(got) if got == expect.blocks => Ok(()),
        _ => Err(ApplyError::Mismatch),
    }
}

/// Applies `delta` to `base`, the whole base file held in memory; the result
/// must be the blocks `expect` describes.
pub fn apply_bytes(
    base: &[u8],
    delta: &[u8],
    max_output: u64,
    expect: &Expected<'_>,
) -> Result<Vec<u8>, ApplyError> {
    let info = precheck(delta, max_output, expect)?;
    let mut out = Vec::new();
    build(
        info,
        delta,
        expect,
        base.len() as u64,
        &mut |off, buf| {
            let off = off as usize;
            buf.copy_from_slice(&base[off..off + buf.len()]);
            Ok(())
        },
        &mut out,
    )?;
    Ok(out)
}

/// Applies `delta` to the base file at `base_path`, reading only the bytes it
/// copies; the result must be the blocks `expect` describes.
pub fn apply_file(
    base_path: &Path,
    delta: &[u8],
    max_output: u64,
    expect: &Expected<'_>,
) -> Result<Vec<u8>, ApplyError> {
    let mut out = Vec::new();
    apply_file_into(base_path, delta, max_output, expect, &mut out)?;
    Ok(out)
}

/// [`apply_file`] into `out` (its capacity reused).
fn apply_file_into(
    base_path: &Path,
    delta: &[u8],
    max_output: u64,
    expect: &Expected<'_>,
    out: &mut Vec<u8>,
) -> Result<(), ApplyError> {
    let info = precheck(delta, max_output, expect)?;
    if info.window_len == 0 {
        // Nothing to copy: the base need not even exist.
        return build(info, delta, expect, 0, &mut |_, _| Ok(()), out);
    }
    let input = Input::open(base_path).map_err(ApplyError::File)?;
    build(
        info,
        delta,
        expect,
        input.size(),
        &mut |off, buf| input.read_exact_at(buf, off).map_err(ApplyError::File),
        out,
    )
}

/// Output buffers kept between calls, at most one per range in flight;
/// larger outputs (up to the 64 MiB cap) are not kept: ranges are 8 MiB.
static OUTPUTS: BufferPool = BufferPool::new(4, 16 << 20);

/// [`apply_file`], writing the checked result at `offset` of `out` instead
/// of returning it: nothing is written unless every block matched. The
/// result is built in a buffer kept from earlier calls.
pub fn apply_file_to(
    base_path: &Path,
    delta: &[u8],
    max_output: u64,
    expect: &Expected<'_>,
    out: &File,
    offset: u64,
) -> Result<(), ApplyError> {
    OUTPUTS.with(|buf| {
        apply_file_into(base_path, delta, max_output, expect, buf)
            .and_then(|()| out.write_all_at(buf, offset).map_err(ApplyError::Write))
    })
}
