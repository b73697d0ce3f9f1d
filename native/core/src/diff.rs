//! Diff: describe new bytes as copies from a signature's base window plus literals.
//!
//! The rsync search: slide a window of the signature's block length over the
//! new bytes, rolling the weak hash one byte at a time; where it matches a
//! block's weak hash, compare the truncated strong hash; on a match emit a copy
//! and jump a block ahead. Among identical blocks the one following the last
//! match wins, so runs stay contiguous and merge into one COPY. The base's
//! short last block can match the end of the new bytes.
//!
//! Caps against a hostile signature: the signature is at most 64 MiB of
//! window (so its block table is bounded), lookups are binary searches
//! (many blocks sharing a weak hash cost a logarithm, not a scan), and strong
//! hashes computed for weak matches that then fail are budgeted (twice the
//! input plus 16 MiB); past the budget the rest is sent as literal bytes.

use std::fmt;
use std::path::Path;

use crate::delta::DeltaWriter;
use crate::file::{FileError, Input};
use crate::map::View;
use crate::rolling::{unmix, weak_of, Rolling};
use crate::signature::{strong_of, Signature, SignatureError, MAX_WINDOW};

/// Why a delta could not be computed.
#[derive(Debug)]
pub enum DiffError {
    /// Reading the new file failed.
    File(FileError),
    /// The signature is malformed.
    Signature(SignatureError),
    /// The range is longer than [`MAX_WINDOW`] or lies beyond 2^53.
    RangeTooLong {
        /// Start of the range asked for.
        offset: u64,
        /// Length of the range asked for.
        len: u64,
    },
}

impl fmt::Display for DiffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffError::File(e) => e.fmt(f),
            DiffError::Signature(e) => e.fmt(f),
            DiffError::RangeTooLong { offset, len } => write!(
                f,
                "cannot diff range {offset}+{len}: ranges are at most {MAX_WINDOW} bytes and end before 2^53"
            ),
        }
    }
}

impl std::error::Error for DiffError {}

/// Blocks of a signature sorted by (weak, strong, index), with a bucket
/// table on the weak hash's top bits.
struct Index<'s> {
    sig: &'s Signature<'s>,
    /// Full-length blocks only: (weak, block index).
    slots: Vec<(u32, u32)>,
    /// `heads[b]..heads[b + 1]` are the slots whose weak hash has top bits `b`.
    heads: Vec<u32>,
    shift: u32,
    /// One bit per value of the raw rolling value's top `32 - filter_shift`
    /// bits (the raw value is the weak one before its bijective mix), set
    /// where some block has it: most windows are rejected by one predictable
    /// test, before their weak value is even computed.
    filter: Vec<u64>,
    filter_shift: u32,
}

impl<'s> Index<'s> {
    fn new(sig: &'s Signature<'s>) -> Index<'s> {
        let full = (sig.len / sig.block_len as u64) as usize;
        let mut slots: Vec<(u32, u32)> = (0..full).map(|i| (sig.weak(i), i as u32)).collect();
        slots.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| sig.strong(a.1 as usize).cmp(sig.strong(b.1 as usize)))
                .then(a.1.cmp(&b.1))
        });
        let bits = (usize::BITS - full.leading_zeros() + 1).clamp(1, 24);
        let shift = 32 - bits;
        let mut heads = vec![0u32; (1 << bits) + 1];
        for &(w, _) in &slots {
            heads[(w >> shift) as usize + 1] += 1;
        }
        for b in 1..heads.len() {
            heads[b] += heads[b - 1];
        }
        let filter_bits = (usize::BITS - full.leading_zeros() + 5).clamp(6, 24);
        let filter_shift = 32 - filter_bits;
        let mut filter = vec![0u64; 1 << (filter_bits - 6)];
        for &(w, _) in &slots {
            let i = (unmix(w) >> filter_shift) as usize;
            filter[i >> 6] |= 1 << (i & 63);
        }
        Index {
            sig,
            slots,
            heads,
            shift,
            filter,
            filter_shift,
        }
    }

    /// False when no block has the weak value of this raw rolling value
    /// (true when one may).
    #[inline(always)]
    fn may_have(&self, raw: u32) -> bool {
        let i = (raw >> self.filter_shift) as usize;
        self.filter[i >> 6] & (1 << (i & 63)) != 0
    }

    /// Slots whose weak hash is `weak` (empty almost always).
    #[inline(always)]
    fn with_weak(&self, weak: u32) -> &[(u32, u32)] {
        let b = (weak >> self.shift) as usize;
        let bucket = &self.slots[self.heads[b] as usize..self.heads[b + 1] as usize];
        if bucket.is_empty() {
            return bucket;
        }
        let lo = bucket.partition_point(|s| s.0 < weak);
        let hi = lo + bucket[lo..].partition_point(|s| s.0 == weak);
        &bucket[lo..hi]
    }

    /// Among `cands` (equal weak), a block whose strong hash is `strong`,
    /// preferring `expected`.
    fn find(&self, cands: &[(u32, u32)], strong: &[u8], expected: u32) -> Option<u32> {
        let sig = self.sig;
        let lo = cands.partition_point(|s| sig.strong(s.1 as usize) < strong);
        let hi = lo + cands[lo..].partition_point(|s| sig.strong(s.1 as usize) == strong);
        let same = &cands[lo..hi];
        if same.is_empty() {
            return None;
        }
        match same.binary_search_by(|s| s.1.cmp(&expected)) {
            Ok(i) => Some(same[i].1),
            Err(_) => Some(same[0].1),
        }
    }
}

/// Delta turning the signature's window into `data`.
pub fn diff_bytes(data: &[u8], signature: &[u8]) -> Result<Vec<u8>, DiffError> {
    if data.len() as u64 > MAX_WINDOW {
        return Err(DiffError::RangeTooLong {
            offset: 0,
            len: data.len() as u64,
        });
    }
    let sig = Signature::parse(signature).map_err(DiffError::Signature)?;
    // Without a limit, search always describes the data.
    Ok(search(data, &sig, usize::MAX)
        .map(DeltaWriter::finish)
        .unwrap_or_default())
}

/// The ops describing `data`, or none once they would take about `limit`
/// bytes or more (the estimate is off by at most a few dozen bytes): the new
/// bytes not yet matched stay in the delta as literal bytes whatever matches
/// later, so a range of new content is given up without its bytes ever being
/// copied into a delta (the search itself still reads the range).
fn search(data: &[u8], sig: &Signature<'_>, limit: usize) -> Option<DeltaWriter> {
    let index = Index::new(sig);
    let l = sig.block_len as usize;
    let s = sig.strong_len;
    let n = data.len();
    let full = index.slots.len();
    let mut w = DeltaWriter::new(sig.offset, sig.len, n as u64);
    let mut budget: i64 = 2 * n as i64 + (16 << 20);
    let mut lit = 0usize; // start of the bytes not yet described
    let mut p = 0usize; // start of the current window
                        // Where the last copy ended, in the new bytes and in the window: the
                        // block at the same distance from it is the one to prefer.
    let (mut new_mark, mut base_mark) = (0usize, 0u64);

    if full > 0 && n >= l {
        let last = n - l; // the last window start
        let mut r = Rolling::new(&data[..l]);
        // Most windows are rejected by the filter inside `seek`.
        while let Some(q) = r.seek(data, l, p, last, |raw| index.may_have(raw)) {
            p = q;
            if w.len() + (p - lit) >= limit {
                return None;
            }
            let weak = r.weak();
            let want = base_mark + (p - new_mark) as u64;
            let expected = if want.is_multiple_of(l as u64) {
                (want / l as u64).min(u32::MAX as u64) as u32
            } else {
                u32::MAX
            };
            let mut found = None;
            let mut tried = false;
            if (expected as usize) < full && sig.weak(expected as usize) == weak {
                // The block following the last copy: no lookup needed.
                tried = true;
                let strong = strong_of(&data[p..p + l], s);
                if strong[..s] == *sig.strong(expected as usize) {
                    found = Some(expected);
                } else {
                    found = index.find(index.with_weak(weak), &strong[..s], expected);
                }
            } else {
                let cands = index.with_weak(weak);
                if !cands.is_empty() {
                    tried = true;
                    let strong = strong_of(&data[p..p + l], s);
                    found = index.find(cands, &strong[..s], expected);
                }
            }
            if let Some(block) = found {
                w.literal(&data[lit..p]);
                w.copy(block as u64 * l as u64, l as u64);
                p += l;
                new_mark = p;
                base_mark = (block as u64 + 1) * l as u64;
                lit = p;
                if p > last {
                    break;
                }
                r.reset(&data[p..p + l]);
                continue;
            }
            if tried {
                budget -= l as i64;
                if budget < 0 {
                    break;
                }
            }
            if p >= last {
                break;
            }
            r.roll(data[p], data[p + l]);
            p += 1;
        }
    }

    // What is left: one literal run (a little shorter if the base's short
    // last block matches its end; that is not counted).
    if w.len() + (n - lit) >= limit {
        return None;
    }
    // The base's short last block may match the very end of the data.
    let blocks = sig.blocks();
    let mut end = n;
    if blocks > 0 {
        let last = blocks - 1;
        let tail = sig.block_len_of(last);
        if tail < l && n - lit >= tail {
            let suffix = &data[n - tail..];
            if weak_of(suffix) == sig.weak(last) && strong_of(suffix, s)[..s] == *sig.strong(last) {
                end = n - tail;
                w.literal(&data[lit..end]);
                w.copy(last as u64 * l as u64, tail as u64);
                lit = n;
            }
        }
    }
    if lit < end {
        w.literal(&data[lit..end]);
    }
    Some(w)
}

/// Delta turning the signature's window into `[offset, offset + len)` of the
/// file at `path`, clipped at its end; none if it would take about `limit`
/// bytes or more (sending the range whole is then as good; see [`search`]).
pub fn diff_file(
    path: &Path,
    offset: u64,
    len: u64,
    signature: &[u8],
    limit: Option<u64>,
) -> Result<Option<Vec<u8>>, DiffError> {
    if len > MAX_WINDOW
        || offset
            .checked_add(len)
            .is_none_or(|e| e > crate::signature::MAX_OFFSET)
    {
        return Err(DiffError::RangeTooLong { offset, len });
    }
    // Refuse a bad signature before reading the file.
    let sig = Signature::parse(signature).map_err(DiffError::Signature)?;
    let input = Input::open(path).map_err(DiffError::File)?;
    crate::reuse::WINDOWS.with(|data| {
        let view = View::new(&input, offset, len, data).map_err(DiffError::File)?;
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let delta = search(view.bytes(), &sig, limit).map(DeltaWriter::finish);
        view.check().map_err(DiffError::File)?;
        Ok(delta)
    })
}
