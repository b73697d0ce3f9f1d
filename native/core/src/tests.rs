//! Delta tests: round trips over edits, and hostile inputs that must be
//! refused (never a panic, never a huge allocation).

use crate::delta::{DeltaReader, Op, HEADER_LEN};
use crate::testutil::{noise, Rng, TempDir};
use crate::*;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

fn sig(window: &[u8], block_len: Option<u32>) -> Vec<u8> {
    signature_bytes(
        0,
        window,
        SignatureOptions {
            block_len,
            strong_len: None,
        },
    )
    .unwrap()
}

/// Expects `want` as a whole file of its own (its blocks, from block 0).
fn whole<'a>(want: &[u8], blocks: &'a [ChainingValue]) -> Expected<'a> {
    Expected {
        first_block: 0,
        file_size: want.len() as u64,
        blocks,
    }
}

/// Applies `delta` to `base`, expecting `want` as a whole file of its own.
fn apply_as(
    base: &[u8],
    delta: &[u8],
    max_output: u64,
    want: &[u8],
) -> Result<Vec<u8>, ApplyError> {
    let blocks = hash_bytes(want).blocks;
    apply_bytes(base, delta, max_output, &whole(want, &blocks))
}

/// Diffs `new` against `base`'s signature, applies, checks, returns the delta.
fn round_trip(base: &[u8], new: &[u8], block_len: Option<u32>) -> Vec<u8> {
    let s = sig(base, block_len);
    let d = diff_bytes(new, &s).unwrap();
    let out = apply_as(base, &d, new.len() as u64, new).unwrap();
    assert!(
        out == new,
        "round trip of {} bytes against {} differs",
        new.len(),
        base.len()
    );
    d
}

/// (literal bytes, copy bytes, ops) of a delta.
fn stats(delta: &[u8]) -> (u64, u64, usize) {
    let mut r = DeltaReader::new(delta).unwrap();
    let (mut lit, mut copy, mut ops) = (0, 0, 0);
    while let Some(op) = r.next_op().unwrap() {
        ops += 1;
        match op {
            Op::Copy { len, .. } => copy += len,
            Op::Literal(b) => lit += b.len() as u64,
        }
    }
    (lit, copy, ops)
}

#[test]
fn identical_data_is_one_copy() {
    let base = noise(3 * MIB + 123, 1);
    let d = round_trip(&base, &base, None);
    assert_eq!(stats(&d), (0, base.len() as u64, 1));
    assert!(d.len() < HEADER_LEN + 12);
}

#[test]
fn empty_ranges() {
    let data = noise(10_000, 2);
    round_trip(&[], &[], None);
    round_trip(&[], &data, None);
    let d = round_trip(&data, &[], None);
    assert_eq!(d.len(), HEADER_LEN + 1);
    round_trip(&data[..100], &data[..100], None); // window shorter than a block
}

#[test]
fn edits_insertions_deletions() {
    let mut rng = Rng::new(3);
    for round in 0..40 {
        let base = noise(rng.below(2 * MIB as u64) as usize + 1, round);
        let mut new = base.clone();
        for _ in 0..rng.below(6) {
            let at = rng.below(new.len() as u64 + 1) as usize;
            let len = rng.below(20 * KIB as u64) as usize;
            match rng.below(3) {
                0 => {
                    let end = (at + len).min(new.len());
                    let fresh = rng.bytes(end - at);
                    new[at..end].copy_from_slice(&fresh);
                }
                1 => {
                    let ins = rng.bytes(len);
                    new.splice(at..at, ins);
                }
                _ => {
                    let end = (at + len).min(new.len());
                    new.drain(at..end);
                }
            }
        }
        let block = [None, Some(64), Some(700), Some(4096)][round as usize % 4];
        round_trip(&base, &new, block);
    }
}

#[test]
fn an_insertion_costs_about_itself() {
    let base = noise(8 * MIB, 4);
    let mut new = base.clone();
    let ins = noise(64 * KIB, 5);
    new.splice(12345..12345, ins);
    let d = round_trip(&base, &new, None);
    let (lit, _, ops) = stats(&d);
    assert!(
        lit >= 64 * KIB as u64 && lit < 64 * KIB as u64 + 2 * 4096,
        "literal {lit}"
    );
    assert!(ops <= 4, "{ops} ops");
}

#[test]
fn repeated_blocks_stay_contiguous() {
    // All-zero base: every block has the same hashes; the copies must still
    // merge into one op instead of one per block.
    let base = vec![0u8; 2 * MIB];
    let d = round_trip(&base, &base, Some(1024));
    assert_eq!(stats(&d).2, 1);
    let mut new = base.clone();
    new[MIB] = 1;
    let (lit, _, ops) = stats(&round_trip(&base, &new, Some(1024)));
    assert!(lit <= 2048 && ops <= 4, "{lit} literal bytes in {ops} ops");
}

#[test]
fn every_strong_length_round_trips() {
    // Strong hashes longer than 16 bytes take a second, seeded XXH3-128.
    let base = noise(300_000, 23);
    let mut new = base.clone();
    new.splice(5000..5000, noise(3000, 24));
    new[200_000] ^= 1;
    for strong_len in [MIN_STRONG_LEN, 8, 16, 17, 31, MAX_STRONG_LEN] {
        let opts = SignatureOptions {
            block_len: Some(1024),
            strong_len: Some(strong_len),
        };
        let s = signature_bytes(0, &base, opts).unwrap();
        assert_eq!(
            s.len(),
            25 + base.len().div_ceil(1024) * (4 + strong_len as usize)
        );
        let d = diff_bytes(&new, &s).unwrap();
        assert!(apply_as(&base, &d, 1 << 20, &new).unwrap() == new);
        let (lit, _, _) = stats(&d);
        assert!(lit < 3000 + 3 * 1024, "strong {strong_len}: literal {lit}");
    }
}

#[test]
fn short_last_block_matches_the_end() {
    let base = noise(10 * 1024 + 100, 6);
    let mut new = noise(3000, 7);
    new.extend_from_slice(&base[..]);
    let (lit, copy, _) = stats(&round_trip(&base, &new, Some(1024)));
    assert_eq!((lit, copy), (3000, base.len() as u64));
}

#[test]
fn files_with_windows() {
    let dir = TempDir::new("delta");
    let (bp, np) = (dir.path().join("base"), dir.path().join("new"));
    let base = noise(5 * MIB, 8);
    let mut new = base.clone();
    new.splice(100..100, noise(70_000, 9)); // content shifts right by 70,000
    new[3 * MIB] ^= 0xff;
    std::fs::write(&bp, &base).unwrap();
    std::fs::write(&np, &new).unwrap();
    let all = hash_bytes(&new).blocks;
    let at = |first: usize, n: usize| Expected {
        first_block: first as u64,
        file_size: new.len() as u64,
        blocks: &all[first..first + n],
    };
    // Range 2 MiB..4 MiB of the new file, against a base window with 128 KiB margins.
    let (off, len) = (2 * MIB as u64, 2 * MIB as u64);
    let s = signature_file(
        &bp,
        off - 128 * 1024,
        len + 256 * 1024,
        SignatureOptions::default(),
    )
    .unwrap();
    let d = diff_file(&np, off, len, &s, None).unwrap().unwrap();
    let out = apply_file(&bp, &d, len, &at(2, 2)).unwrap();
    assert!(out == new[off as usize..(off + len) as usize]);
    assert!(stats(&d).0 < 8192, "literal {}", stats(&d).0);
    // Ranges are clipped at the end of the file.
    let s = signature_file(
        &bp,
        4 * MIB as u64,
        4 * MIB as u64,
        SignatureOptions::default(),
    )
    .unwrap();
    let d = diff_file(&np, 4 * MIB as u64, 4 * MIB as u64, &s, None)
        .unwrap()
        .unwrap();
    assert_eq!(
        delta_info(&d).unwrap().output_len,
        new.len() as u64 - 4 * MIB as u64
    );
    // The last two blocks, the second of them short.
    assert_eq!(all.len(), 6);
    assert!(apply_file(&bp, &d, 4 * MIB as u64, &at(4, 2)).unwrap() == new[4 * MIB..]);
    // A base that shrank below the window is refused; one that changed inside it too.
    std::fs::write(&bp, &base[..4 * MIB + 10]).unwrap();
    let e = apply_file(&bp, &d, 4 * MIB as u64, &at(4, 2)).unwrap_err();
    assert!(matches!(e, ApplyError::BaseTooShort { .. }), "{e}");
    let mut changed = base.clone();
    changed[4 * MIB + 5000] ^= 1;
    std::fs::write(&bp, &changed).unwrap();
    assert!(matches!(
        apply_file(&bp, &d, 4 * MIB as u64, &at(4, 2)),
        Err(ApplyError::Mismatch)
    ));
    // A window past the end is the empty window at the end; an empty window
    // needs no base at all.
    let s = signature_file(&bp, 1 << 40, 100, SignatureOptions::default()).unwrap();
    let d = diff_file(&np, 0, MIB as u64, &s, None).unwrap().unwrap();
    assert_eq!(delta_info(&d).unwrap().window_offset, changed.len() as u64);
    assert!(
        apply_file(&dir.path().join("missing"), &d, MIB as u64, &at(0, 1)).unwrap() == new[..MIB]
    );
    // Caps on ranges.
    assert!(matches!(
        diff_file(&np, 0, MAX_WINDOW + 1, &s, None),
        Err(DiffError::RangeTooLong { .. })
    ));
    assert!(signature_file(&bp, 0, MAX_WINDOW + 1, SignatureOptions::default()).is_err());
    assert!(diff_file(&dir.path().join("missing"), 0, 10, &s, None).is_err());
    assert!(diff_file(dir.path(), 0, 10, &s, None).is_err());
}

#[test]
fn a_delta_that_would_reach_its_limit_is_given_up() {
    let dir = TempDir::new("delta");
    let (bp, np) = (dir.path().join("base"), dir.path().join("new"));
    let base = noise(2 * MIB, 11);
    let mut edited = base.clone();
    edited[MIB] ^= 1;
    std::fs::write(&bp, &base).unwrap();
    let s = signature_file(&bp, 0, 2 * MIB as u64, SignatureOptions::default()).unwrap();
    let len = 2 * MIB as u64;
    // An edit: far under the limit, the same delta as without one.
    std::fs::write(&np, &edited).unwrap();
    let small = diff_file(&np, 0, len, &s, Some(len)).unwrap().unwrap();
    let size = small.len() as u64;
    assert_eq!(Some(small), diff_file(&np, 0, len, &s, None).unwrap());
    // Limits well over and well under the delta's own size.
    assert!(diff_file(&np, 0, len, &s, Some(size + 64))
        .unwrap()
        .is_some());
    assert_eq!(diff_file(&np, 0, len, &s, Some(size / 2)).unwrap(), None);
    // New content: all literal, a little over the range, so none under a limit of its length.
    std::fs::write(&np, noise(2 * MIB, 12)).unwrap();
    assert!(diff_file(&np, 0, len, &s, None).unwrap().unwrap().len() as u64 > len);
    assert_eq!(diff_file(&np, 0, len, &s, Some(len)).unwrap(), None);
    // Half new: given up under a limit of half the range, not under its length.
    let mut half = base.clone();
    half[..MIB].copy_from_slice(&noise(MIB, 13));
    std::fs::write(&np, &half).unwrap();
    let d = diff_file(&np, 0, len, &s, Some(len)).unwrap().unwrap();
    assert!(apply_as(&base, &d, len, &half).unwrap() == half);
    assert_eq!(diff_file(&np, 0, len, &s, Some(len / 2)).unwrap(), None);
}

#[test]
fn max_output_is_enforced_before_reading() {
    let base = noise(100_000, 10);
    let new = noise(50_000, 11);
    let d = diff_bytes(&new, &sig(&base, None)).unwrap();
    let e = apply_as(&base, &d, 49_999, &new).unwrap_err();
    assert!(e.to_string().contains("more than the 49999 allowed"), "{e}");
}

// ---- hostile inputs ----

fn expect_diff_err(s: &[u8]) {
    let data = noise(20_000, 12);
    assert!(
        diff_bytes(&data, s).is_err(),
        "accepted a bad signature of {} bytes",
        s.len()
    );
}

#[test]
fn garbage_signatures_are_refused() {
    let mut rng = Rng::new(13);
    for n in 0..200 {
        expect_diff_err(&rng.bytes(n));
    }
    let good = sig(&noise(50_000, 14), Some(1024));
    for cut in 0..good.len() {
        expect_diff_err(&good[..cut]);
    }
    let mut long = good.clone();
    long.push(0);
    expect_diff_err(&long);
    // Header fields out of range, each alone.
    let patch = |at: usize, bytes: &[u8]| {
        let mut s = good.clone();
        s[at..at + bytes.len()].copy_from_slice(bytes);
        s
    };
    expect_diff_err(&patch(0, b"RZSX"));
    expect_diff_err(&patch(4, &0u32.to_le_bytes()));
    expect_diff_err(&patch(4, &u32::MAX.to_le_bytes()));
    expect_diff_err(&patch(8, &[0]));
    expect_diff_err(&patch(8, &[200]));
    expect_diff_err(&patch(9, &u64::MAX.to_le_bytes())); // offset overflows
    expect_diff_err(&patch(17, &(MAX_WINDOW + 1).to_le_bytes()));
    expect_diff_err(&patch(17, &u64::MAX.to_le_bytes()));
    // A header announcing a 64 MiB window of 64-byte blocks, with no entries.
    let mut h = patch(4, &64u32.to_le_bytes());
    h[17..25].copy_from_slice(&MAX_WINDOW.to_le_bytes());
    h.truncate(25);
    expect_diff_err(&h);
}

#[test]
fn mutated_signatures_never_panic_and_results_stay_correct() {
    let mut rng = Rng::new(15);
    let base = noise(200_000, 16);
    let mut new = base.clone();
    new[77_777] ^= 1;
    let good = sig(&base, Some(512));
    let blocks = hash_bytes(&new).blocks;
    let expect = whole(&new, &blocks);
    for _ in 0..2000 {
        let mut s = good.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(s.len() as u64) as usize;
            s[i] = rng.next() as u8;
        }
        // Entries may now be wrong: the delta is still a faithful description
        // of `new` in terms of the window (only its size may suffer); if the
        // header changed the window the result is checked against the
        // expected block values.
        if let Ok(d) = diff_bytes(&new, &s) {
            match apply_bytes(&base, &d, 1 << 20, &expect) {
                Ok(out) => assert!(out == new),
                Err(e) => assert!(
                    matches!(e, ApplyError::Mismatch | ApplyError::BaseTooShort { .. }),
                    "{e}"
                ),
            }
        }
    }
}

#[test]
fn hostile_signature_cannot_stall_diff() {
    // Every entry claims the weak hash of a zero block with a wrong strong
    // hash, against all-zero data: each window matches weakly, never strongly.
    let block = 1 << 20;
    let zeros = vec![0u8; 64 * MIB];
    let mut s = sig(&zeros, Some(block));
    let entry = 4 + s[8] as usize;
    for e in s[25..].chunks_mut(entry) {
        e[4..].fill(0xa5);
    }
    let t = std::time::Instant::now();
    let d = diff_bytes(&zeros, &s).unwrap();
    assert!(t.elapsed().as_secs_f64() < 5.0, "took {:?}", t.elapsed());
    assert!(apply_as(&zeros, &d, MAX_WINDOW, &zeros).unwrap() == zeros);
}

fn good_delta() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let base = noise(300_000, 17);
    let mut new = base.clone();
    new.splice(1000..1000, noise(5000, 18));
    new[200_000..201_000].fill(3);
    let d = diff_bytes(&new, &sig(&base, Some(1024))).unwrap();
    (base, new, d)
}

#[test]
fn garbage_and_truncated_deltas_are_refused() {
    let (base, new, good) = good_delta();
    let blocks = hash_bytes(&new).blocks;
    let e = whole(&new, &blocks);
    let apply_bytes = |base: &[u8], d: &[u8], max: u64| apply_bytes(base, d, max, &e);
    let mut rng = Rng::new(19);
    for n in 0..300 {
        assert!(apply_bytes(&base, &rng.bytes(n), 1 << 20).is_err());
    }
    // Garbage after a valid header.
    for _ in 0..300 {
        let mut d = good[..HEADER_LEN].to_vec();
        let n = rng.below(100) as usize;
        d.extend(rng.bytes(n));
        assert!(apply_bytes(&base, &d, 1 << 20).is_err());
    }
    for cut in 0..good.len() {
        assert!(
            apply_bytes(&base, &good[..cut], 1 << 20).is_err(),
            "prefix {cut}"
        );
    }
    let mut long = good.clone();
    long.push(0);
    assert!(apply_bytes(&base, &long, 1 << 20).is_err());
    assert!(apply_bytes(&base, &good, 1 << 20).unwrap() == new);
}

#[test]
fn mutated_deltas_are_refused_or_exact() {
    let (base, new, good) = good_delta();
    let blocks = hash_bytes(&new).blocks;
    let e = whole(&new, &blocks);
    let mut rng = Rng::new(20);
    for _ in 0..5000 {
        let mut d = good.clone();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(d.len() as u64) as usize;
            d[i] ^= 1 << rng.below(8);
        }
        if let Ok(out) = apply_bytes(&base, &d, 1 << 20, &e) {
            assert!(out == new);
        }
    }
}

#[test]
fn hostile_delta_headers() {
    let (base, new, good) = good_delta();
    let blocks = hash_bytes(&new).blocks;
    let e = whole(&new, &blocks);
    let patch = |at: usize, v: u64| {
        let mut d = good.clone();
        d[at..at + 8].copy_from_slice(&v.to_le_bytes());
        d
    };
    let msg = |d: &[u8], max: u64| apply_bytes(&base, d, max, &e).unwrap_err().to_string();
    assert!(msg(&patch(20, u64::MAX), u64::MAX).contains("exceeds"));
    assert!(msg(&patch(20, MAX_WINDOW), u64::MAX).contains("invalid delta"));
    assert!(msg(&patch(12, MAX_WINDOW + 1), u64::MAX).contains("exceeds"));
    assert!(msg(&patch(4, u64::MAX - 10), u64::MAX).contains("beyond"));
    assert!(msg(&patch(4, 1 << 40), u64::MAX).contains("base file has"));
    // A delta of a million one-byte literals is fine as long as it is within caps.
    let n = 1_000_000usize;
    let out = noise(n, 21);
    let mut w = crate::delta::DeltaWriter::new(0, 0, n as u64);
    for i in 0..n {
        w.literal(&out[i..i + 1]);
    }
    let d = w.finish();
    assert!(apply_as(&[], &d, n as u64, &out).unwrap() == out);
    assert!(apply_as(&[], &d, n as u64 - 1, &out).is_err());
}

#[test]
fn hostile_deltas_with_out_of_window_copies() {
    let base = noise(10_000, 22);
    let out = base[..100].to_vec();
    let blocks = hash_bytes(&out).blocks;
    let e = whole(&out, &blocks);
    let apply_bytes = |base: &[u8], d: &[u8], max: u64| apply_bytes(base, d, max, &e);
    let build = |ops: &[u8]| {
        // A valid header (its ops are replaced by `ops`).
        let mut w = crate::delta::DeltaWriter::new(0, 5000, out.len() as u64);
        w.copy(0, out.len() as u64);
        let mut d = w.finish();
        d.truncate(HEADER_LEN);
        d.extend_from_slice(ops);
        d
    };
    // COPY start 4950, len 100: crosses the window end.
    let bad = build(&[1, 0xd6, 0x26, 100, 0]);
    assert!(apply_bytes(&base, &bad, 1 << 20)
        .unwrap_err()
        .to_string()
        .contains("outside"));
    // COPY of zero bytes; unknown op; missing END.
    assert!(apply_bytes(&base, &build(&[1, 0, 0, 0]), 1 << 20).is_err());
    assert!(apply_bytes(&base, &build(&[7, 0]), 1 << 20).is_err());
    assert!(apply_bytes(&base, &build(&[1, 0, 100]), 1 << 20)
        .unwrap_err()
        .to_string()
        .contains("truncated"));
    assert!(apply_bytes(&base, &build(&[1, 0, 100, 0]), 1 << 20).unwrap() == out);
}

// ---- the expected block values ----

#[test]
fn output_is_checked_against_the_expected_block_values() {
    // A 3.5 MiB file; the delta rebuilds its blocks 1 and 2.
    let base = noise(7 * MIB / 2, 30);
    let mut new = base.clone();
    new[MIB + 10] ^= 1;
    new.splice(2 * MIB..2 * MIB, noise(1000, 31));
    new.truncate(base.len());
    let size = new.len() as u64;
    let all = hash_bytes(&new).blocks;
    assert_eq!(all.len(), 4);
    let range = &new[MIB..3 * MIB];
    let d = diff_bytes(range, &sig(&base, None)).unwrap();
    let apply = |first: u64, blocks: &[ChainingValue]| {
        let e = Expected {
            first_block: first,
            file_size: size,
            blocks,
        };
        apply_bytes(&base, &d, 4 * MIB as u64, &e)
    };
    assert!(apply(1, &all[1..3]).unwrap() == range);
    // One flipped bit in either value.
    for i in 0..2 {
        let mut bad = all[1..3].to_vec();
        bad[i][7] ^= 0x10;
        let e = apply(1, &bad).unwrap_err();
        assert!(matches!(e, ApplyError::Mismatch), "{e}");
        assert!(e.to_string().contains("does not match its BLAKE3"), "{e}");
    }
    // The right values swapped, or the values of other blocks of as many bytes.
    assert!(matches!(
        apply(1, &[all[2], all[1]]),
        Err(ApplyError::Mismatch)
    ));
    assert!(matches!(apply(0, &all[0..2]), Err(ApplyError::Mismatch)));
    // Too few or too many values: the output is not those blocks.
    for (first, n) in [(1, 1), (1, 3), (2, 2), (0, 1), (0, 3)] {
        let e = apply(first, &all[first as usize..first as usize + n]).unwrap_err();
        assert!(matches!(e, ApplyError::LengthMismatch { .. }), "{e}");
        assert!(e.to_string().contains("does not match its BLAKE3"), "{e}");
    }
    // Values that are not blocks of such a file at all: the caller's mistake,
    // refused before the base is even opened.
    for (first, blocks) in [(3, &all[2..4]), (1, &all[..0]), (u64::MAX, &all[..1])] {
        let e = apply(first, blocks).unwrap_err();
        assert!(matches!(e, ApplyError::InvalidExpected(_)), "{e}");
        assert!(e.to_string().contains("block hash(es), got"), "{e}");
        let missing = std::path::Path::new("/nonexistent/realize-base");
        let e = Expected {
            first_block: first,
            file_size: size,
            blocks,
        };
        let e = apply_file(missing, &d, 4 * MIB as u64, &e).unwrap_err();
        assert!(matches!(e, ApplyError::InvalidExpected(_)), "{e}");
    }
    // The last block of the largest file there can be: no overflow, only a
    // span that is not the output's.
    let e = Expected {
        first_block: (1 << 44) - 1,
        file_size: u64::MAX,
        blocks: &all[..1],
    };
    assert_eq!(e.byte_len().unwrap(), (1 << 20) - 1);
    assert!(matches!(
        apply_bytes(&base, &d, 4 * MIB as u64, &e),
        Err(ApplyError::LengthMismatch { .. })
    ));
    // The size cap still comes first.
    let e = Expected {
        first_block: 1,
        file_size: size,
        blocks: &all[1..3],
    };
    assert!(matches!(
        apply_bytes(&base, &d, 2 * MIB as u64 - 1, &e),
        Err(ApplyError::TooLarge { .. })
    ));
}

#[test]
fn the_last_short_block_of_a_file() {
    let dir = TempDir::new("delta-tail");
    let bp = dir.path().join("base");
    let base = noise(3 * MIB + 12_345, 32);
    std::fs::write(&bp, &base).unwrap();
    let mut new = base.clone();
    new[3 * MIB + 100] ^= 1;
    new.extend_from_slice(b"grown");
    let size = new.len() as u64;
    let all = hash_bytes(&new).blocks;
    assert_eq!(all.len(), 4);
    let tail = &new[3 * MIB..];
    let s = signature_bytes(
        3 * MIB as u64,
        &base[3 * MIB..],
        SignatureOptions::default(),
    )
    .unwrap();
    let d = diff_bytes(tail, &s).unwrap();
    assert!(stats(&d).1 > 0, "no copy");
    let e = Expected {
        first_block: 3,
        file_size: size,
        blocks: &all[3..],
    };
    assert!(apply_bytes(&base, &d, MIB as u64, &e).unwrap() == tail);
    assert!(apply_file(&bp, &d, MIB as u64, &e).unwrap() == tail);
    // The same bytes as the last block of a file of another size: other
    // values (a larger file) or another span.
    for other in [size + 1, size - 1, 4 * MIB as u64] {
        let e = Expected {
            first_block: 3,
            file_size: other,
            blocks: &all[3..],
        };
        let e = apply_bytes(&base, &d, MIB as u64, &e).unwrap_err();
        assert!(matches!(e, ApplyError::LengthMismatch { .. }), "{e}");
    }
    // An output ending mid-block before the end of the file.
    let d = diff_bytes(&tail[..100], &s).unwrap();
    let e = apply_bytes(&base, &d, MIB as u64, &e).unwrap_err();
    assert!(matches!(e, ApplyError::LengthMismatch { .. }), "{e}");
    assert!(e.to_string().contains("span 12350 bytes"), "{e}");
}

#[test]
fn a_single_block_file_is_checked_against_its_root() {
    use blake3::hazmat::HasherExt;
    for n in [0, 1, 700_000, MIB] {
        let base = noise(n, 33);
        let mut new = base.clone();
        if n > 0 {
            new[n / 2] ^= 1;
        }
        let root = *blake3::hash(&new).as_bytes();
        assert_eq!(hash_bytes(&new).blocks, vec![root]);
        let d = diff_bytes(&new, &sig(&base, None)).unwrap();
        let apply = |blocks: &[ChainingValue]| {
            let e = Expected {
                first_block: 0,
                file_size: n as u64,
                blocks,
            };
            apply_bytes(&base, &d, MIB as u64, &e)
        };
        assert!(apply(&[root]).unwrap() == new, "size {n}");
        let mut bad = root;
        bad[31] ^= 1;
        assert!(matches!(apply(&[bad]), Err(ApplyError::Mismatch)));
        // The value the same bytes have as block 0 of a larger file is not the root.
        if n > 0 {
            let non_root = blake3::Hasher::new().update(&new).finalize_non_root();
            assert!(matches!(apply(&[non_root]), Err(ApplyError::Mismatch)));
        }
        assert!(matches!(
            apply(&[root, root]),
            Err(ApplyError::InvalidExpected(_))
        ));
    }
}

#[test]
fn rzd1_deltas_are_refused() {
    // What an older version sent: one LITERAL of 1000 bytes, after a header
    // carrying the output's BLAKE3.
    let out = noise(1000, 34);
    let root = *blake3::hash(&out).as_bytes();
    let mut d = b"RZD1".to_vec();
    d.extend_from_slice(&0u64.to_le_bytes());
    d.extend_from_slice(&0u64.to_le_bytes());
    d.extend_from_slice(&1000u64.to_le_bytes());
    d.extend_from_slice(&root);
    d.extend_from_slice(&[2, 0xe8, 0x07]);
    d.extend_from_slice(&out);
    d.push(0);
    let e = whole(&out, std::slice::from_ref(&root));
    for old in [&d[..], &d[..4], &d[..HEADER_LEN + 1]] {
        let err = apply_bytes(&[], old, MIB as u64, &e).unwrap_err();
        assert!(matches!(err, ApplyError::Format(_)), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("invalid delta: ") && msg.contains("RZD1"),
            "{msg}"
        );
        assert_eq!(delta_info(old).unwrap_err().to_string(), msg);
    }
    // The same ops under an RZD2 header are fine.
    let mut new = d.clone();
    new[3] = b'2';
    new.drain(HEADER_LEN..HEADER_LEN + 32);
    assert_eq!(HEADER_LEN, 28);
    assert!(apply_bytes(&[], &new, MIB as u64, &e).unwrap() == out);
    // And that is what diff writes.
    let made = diff_bytes(&out, &sig(&[], None)).unwrap();
    assert_eq!(made, new);
}
