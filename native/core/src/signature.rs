//! Signatures: what the side holding the old bytes (the base) sends so the
//! side holding the new bytes can describe them as a delta.
//!
//! Wire layout (integers little-endian):
//! ```text
//! magic       4  "RZS2"
//! block_len   4  u32, MIN_BLOCK_LEN..=MAX_BLOCK_LEN
//! strong_len  1  u8, MIN_STRONG_LEN..=MAX_STRONG_LEN
//! offset      8  u64, where the window starts in the base file
//! len         8  u64, window length, at most MAX_WINDOW
//! entries        ceil(len / block_len) times:
//!   weak      4  u32, rolling hash of the block (see rolling.rs)
//!   strong    strong_len bytes, a prefix of the block's strong hash
//! ```
//! The strong hash of a block is its XXH3-128 (little-endian), followed,
//! for prefixes longer than 16 bytes, by its XXH3-128 seeded with
//! [`STRONG_SEED2`]. It is not cryptographic and need not be: a false match
//! only makes the delta's result fail the BLAKE3 of the whole output that
//! apply checks (the caller then sends the range whole), and XXH3 is an
//! order of magnitude faster than BLAKE3 on blocks of a few KiB.
//! The last block is shorter when `len` is not a multiple of `block_len`.
//! Everything about a signature's size follows from its header, so a parsed
//! signature is checked to be exactly that long before it is used.

use std::fmt;
use std::path::Path;

use rayon::prelude::*;

use crate::file::{FileError, Input};
use crate::map::View;
use crate::rolling::weak_of;

const MAGIC: &[u8; 4] = b"RZS2";
/// Seed of the second half of a strong hash longer than 16 bytes.
const STRONG_SEED2: u64 = 0x5245_414C_495A_4532;
const HEADER_LEN: usize = 4 + 4 + 1 + 8 + 8;

/// Longest window a signature may describe, and longest range a delta may produce: 64 MiB.
pub const MAX_WINDOW: u64 = 64 << 20;
/// Shortest block length a signature may use.
pub const MIN_BLOCK_LEN: u32 = 64;
/// Longest block length a signature may use.
pub const MAX_BLOCK_LEN: u32 = 1 << 20;
/// Shortest strong-hash prefix a signature may use.
pub const MIN_STRONG_LEN: u8 = 2;
/// Longest strong-hash prefix (a whole strong hash).
pub const MAX_STRONG_LEN: u8 = 32;
/// Largest offset + length accepted anywhere: what a JS number holds exactly.
pub const MAX_OFFSET: u64 = 1 << 53;

/// Choices for a new signature; `None` picks the default for the window size.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignatureOptions {
    /// Block length in bytes.
    pub block_len: Option<u32>,
    /// Bytes of strong hash kept per block.
    pub strong_len: Option<u8>,
}

/// Why a signature could not be made or read.
#[derive(Debug)]
pub enum SignatureError {
    /// Reading the base file failed.
    File(FileError),
    /// The window, an option or a given signature breaks a rule; the text says which.
    Invalid(String),
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::File(e) => e.fmt(f),
            SignatureError::Invalid(why) => write!(f, "invalid signature: {why}"),
        }
    }
}

impl std::error::Error for SignatureError {}

impl From<FileError> for SignatureError {
    fn from(e: FileError) -> Self {
        SignatureError::File(e)
    }
}

fn invalid<T>(why: String) -> Result<T, SignatureError> {
    Err(SignatureError::Invalid(why))
}

/// Default block length for a window of `len` bytes: about `sqrt(2 * len)`,
/// a multiple of 64. Only ranges whose 1 MiB block hashes differ are rolled,
/// so windows are a few MiB and blocks a few KiB (4 KiB for 8 MiB).
pub fn default_block_len(len: u64) -> u32 {
    let root = ((2 * len) as f64).sqrt() as u64 / 64 * 64;
    root.clamp(512, 128 << 10) as u32
}

/// Default strong length: enough bits, with the 32 weak ones, that a false
/// match is unlikely (about 2^-12) while the whole window is searched
/// against every block; at least [`MIN_STRONG_LEN`].
pub fn default_strong_len(len: u64, block_len: u32) -> u8 {
    let log2 = |x: u64| 64 - x.max(1).leading_zeros() as i64;
    let blocks = len.div_ceil(block_len as u64);
    let bits = 12 + log2(len) + log2(blocks) - 32;
    ((bits + 7) / 8).clamp(MIN_STRONG_LEN as i64, MAX_STRONG_LEN as i64) as u8
}

fn check_window(offset: u64, len: u64) -> Result<(), SignatureError> {
    if len > MAX_WINDOW {
        return invalid(format!(
            "window of {len} bytes exceeds the {MAX_WINDOW}-byte cap"
        ));
    }
    if offset.checked_add(len).is_none_or(|end| end > MAX_OFFSET) {
        return invalid(format!("window {offset}+{len} lies beyond 2^53"));
    }
    Ok(())
}

fn check_params(block_len: u32, strong_len: u8) -> Result<(), SignatureError> {
    if !(MIN_BLOCK_LEN..=MAX_BLOCK_LEN).contains(&block_len) {
        return invalid(format!(
            "block length {block_len} outside {MIN_BLOCK_LEN}..={MAX_BLOCK_LEN}"
        ));
    }
    if !(MIN_STRONG_LEN..=MAX_STRONG_LEN).contains(&strong_len) {
        return invalid(format!(
            "strong hash length {strong_len} outside {MIN_STRONG_LEN}..={MAX_STRONG_LEN}"
        ));
    }
    Ok(())
}

/// The strong hash of a block (see the layout above), zero past `strong_len`.
#[inline]
pub(crate) fn strong_of(block: &[u8], strong_len: usize) -> [u8; 32] {
    use xxhash_rust::xxh3::{xxh3_128, xxh3_128_with_seed};
    let mut out = [0u8; 32];
    let first = xxh3_128(block).to_le_bytes();
    let n = strong_len.min(16);
    out[..n].copy_from_slice(&first[..n]);
    if strong_len > 16 {
        let second = xxh3_128_with_seed(block, STRONG_SEED2).to_le_bytes();
        out[16..strong_len].copy_from_slice(&second[..strong_len - 16]);
    }
    out
}

/// Signature of `window`, which starts at `offset` in the base file.
pub fn signature_bytes(
    offset: u64,
    window: &[u8],
    opts: SignatureOptions,
) -> Result<Vec<u8>, SignatureError> {
    let len = window.len() as u64;
    check_window(offset, len)?;
    let block_len = opts.block_len.unwrap_or_else(|| default_block_len(len));
    check_params(block_len, MIN_STRONG_LEN)?;
    let strong_len = opts
        .strong_len
        .unwrap_or_else(|| default_strong_len(len, block_len));
    check_params(block_len, strong_len)?;
    let s = strong_len as usize;
    let entry = 4 + s;
    let blocks = len.div_ceil(block_len as u64) as usize;
    let mut out = vec![0u8; HEADER_LEN + blocks * entry];
    out[..4].copy_from_slice(MAGIC);
    out[4..8].copy_from_slice(&block_len.to_le_bytes());
    out[8] = strong_len;
    out[9..17].copy_from_slice(&offset.to_le_bytes());
    out[17..25].copy_from_slice(&len.to_le_bytes());
    out[HEADER_LEN..]
        .par_chunks_mut(entry)
        .zip(window.par_chunks(block_len as usize))
        .with_min_len(64)
        .for_each(|(e, block)| {
            e[..4].copy_from_slice(&weak_of(block).to_le_bytes());
            e[4..].copy_from_slice(&strong_of(block, s)[..s]);
        });
    Ok(out)
}

/// Signature of `[offset, offset + len)` of the file at `path`, clipped at its end.
pub fn signature_file(
    path: &Path,
    offset: u64,
    len: u64,
    opts: SignatureOptions,
) -> Result<Vec<u8>, SignatureError> {
    check_window(offset, len)?;
    let input = Input::open(path)?;
    // A window past the end is the empty window at the end.
    let offset = offset.min(input.size());
    crate::reuse::WINDOWS.with(|window| {
        let view = View::new(&input, offset, len, window)?;
        let signature = signature_bytes(offset, view.bytes(), opts)?;
        view.check()?;
        Ok(signature)
    })
}

/// A signature whose layout has been checked.
pub(crate) struct Signature<'a> {
    pub(crate) block_len: u32,
    pub(crate) strong_len: usize,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    entries: &'a [u8],
}

impl<'a> Signature<'a> {
    /// Checks `bytes` against the layout above.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Signature<'a>, SignatureError> {
        if bytes.len() < HEADER_LEN {
            return invalid(format!(
                "{} bytes is shorter than its {HEADER_LEN}-byte header",
                bytes.len()
            ));
        }
        if &bytes[..4] != MAGIC {
            return invalid(
                "it does not start with RZS2 (not a Realize signature of this version)".into(),
            );
        }
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        let block_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        let strong_len = bytes[8];
        let (offset, len) = (u64_at(9), u64_at(17));
        check_params(block_len, strong_len)?;
        check_window(offset, len)?;
        let blocks = len.div_ceil(block_len as u64);
        let want = HEADER_LEN as u64 + blocks * (4 + strong_len as u64);
        if bytes.len() as u64 != want {
            return invalid(format!(
                "{} bytes, but its header describes {blocks} blocks in {want} bytes",
                bytes.len()
            ));
        }
        Ok(Signature {
            block_len,
            strong_len: strong_len as usize,
            offset,
            len,
            entries: &bytes[HEADER_LEN..],
        })
    }

    /// Number of blocks, the last one possibly short.
    pub(crate) fn blocks(&self) -> usize {
        self.entries.len() / (4 + self.strong_len)
    }

    /// Length of block `i`.
    pub(crate) fn block_len_of(&self, i: usize) -> usize {
        let start = i as u64 * self.block_len as u64;
        (self.len - start).min(self.block_len as u64) as usize
    }

    pub(crate) fn weak(&self, i: usize) -> u32 {
        let e = i * (4 + self.strong_len);
        u32::from_le_bytes(self.entries[e..e + 4].try_into().unwrap())
    }

    pub(crate) fn strong(&self, i: usize) -> &'a [u8] {
        let e = i * (4 + self.strong_len) + 4;
        &self.entries[e..e + self.strong_len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_defaults() {
        assert_eq!(default_block_len(8 << 20), 4096);
        assert_eq!(default_block_len(0), 512);
        assert_eq!(default_strong_len(8 << 20, 4096), 2);
        assert_eq!(
            default_strong_len(MAX_WINDOW, default_block_len(MAX_WINDOW)),
            3
        );
        let window = vec![7u8; 10_000];
        let sig = signature_bytes(
            123,
            &window,
            SignatureOptions {
                block_len: Some(4096),
                strong_len: Some(5),
            },
        )
        .unwrap();
        assert_eq!(sig.len(), HEADER_LEN + 3 * 9);
        let s = Signature::parse(&sig).unwrap();
        assert_eq!(
            (s.offset, s.len, s.blocks(), s.block_len_of(2)),
            (123, 10_000, 3, 10_000 - 8192)
        );
        assert_eq!(s.weak(0), s.weak(1));
        assert_ne!(s.weak(1), s.weak(2));
    }

    #[test]
    fn empty_window() {
        let sig = signature_bytes(5, &[], SignatureOptions::default()).unwrap();
        let s = Signature::parse(&sig).unwrap();
        assert_eq!((s.blocks(), s.len), (0, 0));
    }

    #[test]
    fn bad_options_are_errors() {
        let w = [0u8; 100];
        for (b, s) in [
            (Some(0), None),
            (Some(63), None),
            (Some((1 << 20) + 1), None),
            (None, Some(1)),
            (None, Some(33)),
        ] {
            let e = signature_bytes(
                0,
                &w,
                SignatureOptions {
                    block_len: b,
                    strong_len: s,
                },
            )
            .unwrap_err();
            assert!(e.to_string().starts_with("invalid signature: "), "{e}");
        }
        assert!(signature_bytes(MAX_OFFSET, &w, SignatureOptions::default()).is_err());
    }
}
