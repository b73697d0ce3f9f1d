//! The delta format: how new bytes are described in terms of a base window.
//!
//! Wire layout (integers little-endian; varints are unsigned LEB128 of at
//! most 10 bytes):
//! ```text
//! magic     4  "RZD2"
//! offset    8  u64, start of the base window in the base file (from the signature)
//! len       8  u64, length of the base window, at most MAX_WINDOW
//! out_len   8  u64, bytes the delta produces, at most MAX_WINDOW
//! ops, each a tag byte:
//!   0x01 COPY     varint start (inside the window), varint length >= 1
//!   0x02 LITERAL  varint length >= 1, then that many bytes
//!   0x00 END      the delta's last byte
//! ```
//! Op lengths add up to `out_len` exactly. Every rule is checked by
//! [`DeltaReader`] before anything trusts a field, so a delta of any shape is
//! either applied within its caps or refused with a message.
//!
//! The delta carries no hash of its output: whoever applies it already knows
//! the hash-tree values of the blocks the output must be (from the source's
//! block hashes) and checks those (see `apply`). The older "RZD1" layout, which
//! carried a 32-byte BLAKE3 of the output after `out_len`, is refused.

use std::fmt;

use crate::signature::{MAX_OFFSET, MAX_WINDOW};

const MAGIC: &[u8; 4] = b"RZD2";
/// The magic of the older layout, which carried the output's BLAKE3.
const OLD_MAGIC: &[u8; 4] = b"RZD1";
pub(crate) const HEADER_LEN: usize = 4 + 8 + 8 + 8;
const END: u8 = 0;
const COPY: u8 = 1;
const LITERAL: u8 = 2;

/// What a delta's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaInfo {
    /// Start of the base window in the base file.
    pub window_offset: u64,
    /// Length of the base window.
    pub window_len: u64,
    /// Bytes the delta produces.
    pub output_len: u64,
}

/// A delta that breaks the layout above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaFormatError(pub String);

impl fmt::Display for DeltaFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid delta: {}", self.0)
    }
}

impl std::error::Error for DeltaFormatError {}

fn bad<T>(why: String) -> Result<T, DeltaFormatError> {
    Err(DeltaFormatError(why))
}

/// One step of a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    /// Bytes `[start, start + len)` of the base window.
    Copy { start: u64, len: u64 },
    /// Bytes carried in the delta.
    Literal(&'a [u8]),
}

/// Builds a delta, merging adjacent copies.
pub(crate) struct DeltaWriter {
    out: Vec<u8>,
    pending: Option<(u64, u64)>,
    produced: u64,
}

impl DeltaWriter {
    /// A delta producing `output_len` bytes from the window
    /// `[window_offset, window_offset + window_len)`; its ops must add up to
    /// `output_len`.
    pub(crate) fn new(window_offset: u64, window_len: u64, output_len: u64) -> DeltaWriter {
        let mut out = Vec::with_capacity(HEADER_LEN + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&window_offset.to_le_bytes());
        out.extend_from_slice(&window_len.to_le_bytes());
        out.extend_from_slice(&output_len.to_le_bytes());
        DeltaWriter {
            out,
            pending: None,
            produced: 0,
        }
    }

    pub(crate) fn copy(&mut self, start: u64, len: u64) {
        match &mut self.pending {
            Some((s, l)) if *s + *l == start => *l += len,
            _ => {
                self.flush_copy();
                self.pending = Some((start, len));
            }
        }
    }

    /// About the bytes the delta would take if nothing more were added to it
    /// (a pending copy counted at its longest, 21 bytes; then the end).
    pub(crate) fn len(&self) -> usize {
        self.out.len() + if self.pending.is_some() { 21 } else { 0 } + 1
    }

    pub(crate) fn literal(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.flush_copy();
        self.out.push(LITERAL);
        put_varint(&mut self.out, bytes.len() as u64);
        self.out.extend_from_slice(bytes);
        self.produced += bytes.len() as u64;
    }

    fn flush_copy(&mut self) {
        if let Some((start, len)) = self.pending.take() {
            self.out.push(COPY);
            put_varint(&mut self.out, start);
            put_varint(&mut self.out, len);
            self.produced += len;
        }
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.flush_copy();
        self.out.push(END);
        debug_assert_eq!(self.produced.to_le_bytes(), self.out[20..28]);
        // Grown by doubling: a delta of mostly literal bytes would hold up to
        // twice its size until JS lets go of it.
        self.out.shrink_to_fit();
        self.out
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a delta, checking every rule as it goes.
pub(crate) struct DeltaReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    info: DeltaInfo,
    produced: u64,
    done: bool,
}

impl<'a> DeltaReader<'a> {
    /// Checks the header.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<DeltaReader<'a>, DeltaFormatError> {
        if bytes.starts_with(OLD_MAGIC) {
            return bad(
                "it is an RZD1 delta, an older format that carried its output's BLAKE3; \
                 only RZD2 is read (the peer runs an older version)"
                    .into(),
            );
        }
        if bytes.len() < HEADER_LEN + 1 {
            return bad(format!(
                "{} bytes is shorter than a header and an END",
                bytes.len()
            ));
        }
        if &bytes[..4] != MAGIC {
            return bad("it does not start with RZD2 (not a Realize delta)".into());
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let info = DeltaInfo {
            window_offset: u64_at(4),
            window_len: u64_at(12),
            output_len: u64_at(20),
        };
        if info.window_len > MAX_WINDOW {
            return bad(format!(
                "base window of {} bytes exceeds the {MAX_WINDOW}-byte cap",
                info.window_len
            ));
        }
        if info
            .window_offset
            .checked_add(info.window_len)
            .is_none_or(|e| e > MAX_OFFSET)
        {
            return bad(format!(
                "base window {}+{} lies beyond 2^53",
                info.window_offset, info.window_len
            ));
        }
        if info.output_len > MAX_WINDOW {
            return bad(format!(
                "output of {} bytes exceeds the {MAX_WINDOW}-byte cap",
                info.output_len
            ));
        }
        Ok(DeltaReader {
            bytes,
            pos: HEADER_LEN,
            info,
            produced: 0,
            done: false,
        })
    }

    pub(crate) fn info(&self) -> DeltaInfo {
        self.info
    }

    /// The next op, `None` after END; errors on anything out of place.
    pub(crate) fn next_op(&mut self) -> Result<Option<Op<'a>>, DeltaFormatError> {
        if self.done {
            return Ok(None);
        }
        let at = self.pos;
        let Some(&tag) = self.bytes.get(at) else {
            return bad(format!(
                "truncated: no END after {} of {} output bytes",
                self.produced, self.info.output_len
            ));
        };
        self.pos += 1;
        let remaining = self.info.output_len - self.produced;
        match tag {
            END => {
                if self.produced != self.info.output_len {
                    return bad(format!(
                        "END at byte {at} after {} of {} output bytes",
                        self.produced, self.info.output_len
                    ));
                }
                if self.pos != self.bytes.len() {
                    return bad(format!("{} bytes after END", self.bytes.len() - self.pos));
                }
                self.done = true;
                Ok(None)
            }
            COPY => {
                let start = self.varint()?;
                let len = self.varint()?;
                if len == 0 || len > remaining {
                    return bad(format!(
                        "COPY at byte {at} of {len} bytes, with {remaining} output bytes left"
                    ));
                }
                if start
                    .checked_add(len)
                    .is_none_or(|e| e > self.info.window_len)
                {
                    return bad(format!(
                        "COPY at byte {at} of {start}+{len} lies outside the {}-byte window",
                        self.info.window_len
                    ));
                }
                self.produced += len;
                Ok(Some(Op::Copy { start, len }))
            }
            LITERAL => {
                let len = self.varint()?;
                let left = (self.bytes.len() - self.pos) as u64;
                if len == 0 || len > remaining {
                    return bad(format!(
                        "LITERAL at byte {at} of {len} bytes, with {remaining} output bytes left"
                    ));
                }
                if len > left {
                    return bad(format!(
                        "truncated: LITERAL at byte {at} of {len} bytes, {left} bytes left"
                    ));
                }
                let data = &self.bytes[self.pos..self.pos + len as usize];
                self.pos += len as usize;
                self.produced += len;
                Ok(Some(Op::Literal(data)))
            }
            t => bad(format!("unknown op {t:#04x} at byte {at}")),
        }
    }

    fn varint(&mut self) -> Result<u64, DeltaFormatError> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.bytes.get(self.pos) else {
                return bad(format!("truncated inside a number at byte {}", self.pos));
            };
            self.pos += 1;
            let bits = (b & 0x7f) as u64;
            if i == 9 && bits > 1 {
                return bad(format!("number overflows 64 bits at byte {}", self.pos - 1));
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bad(format!("number longer than 10 bytes at byte {}", self.pos))
    }
}

/// Reads and checks a delta's header (not its ops).
pub fn delta_info(delta: &[u8]) -> Result<DeltaInfo, DeltaFormatError> {
    DeltaReader::new(delta).map(|r| r.info())
}

/// Walks all of a delta's ops, so that applying it can no longer fail on its format.
pub(crate) fn check_ops(delta: &[u8]) -> Result<DeltaInfo, DeltaFormatError> {
    let mut r = DeltaReader::new(delta)?;
    while r.next_op()?.is_some() {}
    Ok(r.info())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_merges_and_reader_reads_back() {
        let out = b"0123456789abcdef".to_vec();
        let mut w = DeltaWriter::new(100, 50, out.len() as u64);
        w.copy(0, 4);
        w.copy(4, 4);
        w.literal(b"");
        w.literal(b"89ab");
        w.copy(10, 4);
        let d = w.finish();
        let mut r = DeltaReader::new(&d).unwrap();
        assert_eq!(r.info().window_offset, 100);
        assert_eq!(r.next_op().unwrap(), Some(Op::Copy { start: 0, len: 8 }));
        assert_eq!(r.next_op().unwrap(), Some(Op::Literal(b"89ab")));
        assert_eq!(r.next_op().unwrap(), Some(Op::Copy { start: 10, len: 4 }));
        assert_eq!(r.next_op().unwrap(), None);
        assert_eq!(check_ops(&d).unwrap().output_len, 16);
    }

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut d = vec![0u8; HEADER_LEN];
            d.extend_from_slice(&b);
            let mut r = DeltaReader {
                bytes: &d,
                pos: HEADER_LEN,
                info: delta_info_zero(),
                produced: 0,
                done: false,
            };
            assert_eq!(r.varint().unwrap(), v);
        }
        // 11 continuation bytes, and a 10th byte carrying more than one bit.
        for b in [vec![0xffu8; 11], [vec![0xffu8; 9], vec![0x02]].concat()] {
            let mut d = vec![0u8; HEADER_LEN];
            d.extend_from_slice(&b);
            let mut r = DeltaReader {
                bytes: &d,
                pos: HEADER_LEN,
                info: delta_info_zero(),
                produced: 0,
                done: false,
            };
            assert!(r.varint().is_err());
        }
    }

    fn delta_info_zero() -> DeltaInfo {
        DeltaInfo {
            window_offset: 0,
            window_len: 0,
            output_len: 0,
        }
    }
}
