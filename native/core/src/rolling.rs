//! The rolling (weak) hash of the delta's blocks.
//!
//! A polynomial hash modulo 2^32 (`h = sum b[i] * B^(L-1-i)`), rolled one byte
//! at a time with two multiplications, then mixed (a bijection, MurmurHash3's
//! finalizer) so that its top bits depend on every byte of the window: the
//! weak value. It only pre-selects candidates; a strong hash decides.
//!
//! The hash of a whole window (every signature block, and the window after
//! each match in a diff) is computed in interleaved lanes: with AVX2 (when
//! the CPU has it) 64 lanes, 64 bytes a step, many bytes per cycle instead
//! of one.

/// Multiplier of the polynomial: odd (an even one would shift bytes out of
/// the hash), 32 bits with no structure (the golden ratio's fraction).
const BASE: u32 = 0x9E37_79B9;

/// Bytes per step of the whole-window computation: eight AVX2 vectors of
/// eight 32-bit lanes, so that eight independent multiply chains hide the
/// multiplier's latency.
const LANES: usize = 64;

/// `BASE^0 ..= BASE^LANES`.
const POW: [u32; LANES + 1] = {
    let mut p = [1u32; LANES + 1];
    let mut i = 1;
    while i <= LANES {
        p[i] = p[i - 1].wrapping_mul(BASE);
        i += 1;
    }
    p
};

/// Weight of lane `8 * k + j` at the end, in `[k][j]`: `BASE^(LANES - 1 - 8k - j)`.
const LANE_WEIGHT: [[u32; 8]; LANES / 8] = {
    let mut w = [[0u32; 8]; LANES / 8];
    let mut i = 0;
    while i < LANES {
        w[i / 8][i % 8] = POW[LANES - 1 - i];
        i += 1;
    }
    w
};

/// Horner's rule one byte at a time, continuing from `h`.
#[inline(always)]
fn poly_bytes(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h = h.wrapping_mul(BASE).wrapping_add(b as u32);
    }
    h
}

/// The polynomial of `window`, portably: Horner's rule in eight
/// interleaved lanes (lane `j` holds the bytes at `j mod 8`, each step
/// multiplying by `BASE^8`), so that eight multiplies are in flight.
fn poly_portable(window: &[u8]) -> u32 {
    let (groups, rest) = window.as_chunks::<8>();
    let mut acc = [0u32; 8];
    for g in groups {
        for j in 0..8 {
            acc[j] = acc[j].wrapping_mul(POW[8]).wrapping_add(g[j] as u32);
        }
    }
    let mut h = 0u32;
    for (j, a) in acc.iter().enumerate() {
        h = h.wrapping_add(a.wrapping_mul(POW[7 - j]));
    }
    poly_bytes(h, rest)
}

/// The polynomial of `window` with AVX2: the same interleaved Horner's rule
/// in [`LANES`] lanes of eight vectors, each step multiplying by `BASE^LANES`;
/// the lanes are then weighted by [`LANE_WEIGHT`] and summed, and the
/// remainder added byte by byte.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn poly_avx2(window: &[u8]) -> u32 {
    use std::arch::x86_64::*;
    let (groups, rest) = window.as_chunks::<LANES>();
    let step = _mm256_set1_epi32(POW[LANES] as i32);
    let mut acc = [_mm256_setzero_si256(); 8];
    for g in groups {
        for (a, bytes) in acc.iter_mut().zip(g.as_chunks::<8>().0) {
            let x = _mm256_cvtepu8_epi32(_mm_set1_epi64x(i64::from_le_bytes(*bytes)));
            *a = _mm256_add_epi32(_mm256_mullo_epi32(*a, step), x);
        }
    }
    let mut sum = _mm256_setzero_si256();
    for (a, w) in acc.iter().zip(&LANE_WEIGHT) {
        // SAFETY: `w` is 32 readable bytes; loadu has no alignment needs.
        let w = unsafe { _mm256_loadu_si256(w.as_ptr().cast()) };
        sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(*a, w));
    }
    let mut lanes = [0u32; 8];
    // SAFETY: `lanes` is 32 writable bytes; storeu has no alignment needs.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), sum) };
    let h = lanes.iter().fold(0u32, |h, &x| h.wrapping_add(x));
    poly_bytes(h, rest)
}

/// The polynomial of `window`, with AVX2 when the CPU has it.
fn poly(window: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { poly_avx2(window) };
    }
    poly_portable(window)
}

/// A window of fixed length being slid over data. Its state is the raw
/// polynomial (see [`poly`]); [`mix`] of it is the weak value, and since
/// that is a bijection the raw value can stand for the weak one in filters.
pub(crate) struct Rolling {
    h: u32,
    /// `BASE^len`: the weight the leaving byte had when it entered, times BASE.
    out_weight: u32,
}

impl Rolling {
    /// Hash of `window`; later rolls keep its length.
    pub(crate) fn new(window: &[u8]) -> Rolling {
        Rolling {
            h: poly(window),
            out_weight: out_weight(window.len()),
        }
    }

    /// Restarts on `window`, which must have the length this was made with.
    #[inline]
    pub(crate) fn reset(&mut self, window: &[u8]) {
        self.h = poly(window);
    }

    /// Slides the window one byte: `out` leaves at the front, `inp` enters at the back.
    #[inline(always)]
    pub(crate) fn roll(&mut self, out: u8, inp: u8) {
        self.h = self
            .h
            .wrapping_mul(BASE)
            .wrapping_add(inp as u32)
            .wrapping_sub((out as u32).wrapping_mul(self.out_weight));
    }

    /// The raw polynomial of the current window.
    #[cfg(test)]
    pub(crate) fn raw(&self) -> u32 {
        self.h
    }

    /// The weak value of the current window.
    #[inline(always)]
    pub(crate) fn weak(&self) -> u32 {
        mix(self.h)
    }

    /// Slides the window over `data` (the window starting at `p`, and
    /// `last` the last start there is) to the first start, from `p` on,
    /// whose raw value `hit` accepts, and returns that start; or, when none
    /// does, stops at `last` and returns `None`. Two starts a step, so that
    /// the multiply chain is half as long as rolling byte by byte.
    #[inline(always)]
    pub(crate) fn seek(
        &mut self,
        data: &[u8],
        len: usize,
        mut p: usize,
        last: usize,
        hit: impl Fn(u32) -> bool,
    ) -> Option<usize> {
        let w = self.out_weight;
        let mut h = self.h;
        while p + 2 <= last {
            let d0 = (data[p + len] as u32).wrapping_sub((data[p] as u32).wrapping_mul(w));
            let d1 = (data[p + 1 + len] as u32).wrapping_sub((data[p + 1] as u32).wrapping_mul(w));
            let h1 = h.wrapping_mul(BASE).wrapping_add(d0);
            let h2 = h
                .wrapping_mul(POW[2])
                .wrapping_add(d0.wrapping_mul(BASE))
                .wrapping_add(d1);
            if hit(h) {
                self.h = h;
                return Some(p);
            }
            if hit(h1) {
                self.h = h1;
                return Some(p + 1);
            }
            h = h2;
            p += 2;
        }
        self.h = h;
        loop {
            if hit(self.h) {
                return Some(p);
            }
            if p >= last {
                return None;
            }
            self.roll(data[p], data[p + len]);
            p += 1;
        }
    }
}

/// `BASE^len` (modulo 2^32, where only the exponent modulo 2^30 matters).
fn out_weight(len: usize) -> u32 {
    BASE.wrapping_pow((len % (1 << 30)) as u32)
}

/// MurmurHash3's 32-bit finalizer: a bijection that spreads every input bit.
#[inline(always)]
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x85EB_CA6B);
    x ^= x >> 13;
    x = x.wrapping_mul(0xC2B2_AE35);
    x ^= x >> 16;
    x
}

/// `x` with `x * inverse(x) == 1` modulo 2^32, for odd `x` (Newton's method).
const fn inverse(x: u32) -> u32 {
    let mut y = x; // right in the low 3 bits
    let mut i = 0;
    while i < 4 {
        y = y.wrapping_mul(2u32.wrapping_sub(x.wrapping_mul(y)));
        i += 1;
    }
    y
}

/// The inverse of [`mix`]: the raw value whose weak value is `x`.
pub(crate) fn unmix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(const { inverse(0xC2B2_AE35) });
    x ^= (x >> 13) ^ (x >> 26);
    x = x.wrapping_mul(const { inverse(0x85EB_CA6B) });
    x ^= x >> 16;
    x
}

/// The weak value of a whole block.
pub(crate) fn weak_of(block: &[u8]) -> u32 {
    mix(poly(block))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one byte at a time.
    fn poly_slow(window: &[u8]) -> u32 {
        window
            .iter()
            .fold(0u32, |h, &b| h.wrapping_mul(BASE).wrapping_add(b as u32))
    }

    #[test]
    fn rolling_equals_fresh_hash() {
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for len in [1usize, 2, 31, 32, 33, 63, 64, 700, 4096] {
            let mut r = Rolling::new(&data[..len]);
            for p in 0..data.len() - len {
                assert_eq!(r.weak(), weak_of(&data[p..p + len]), "len {len} at {p}");
                r.roll(data[p], data[p + len]);
            }
        }
    }

    #[test]
    fn lanes_equal_the_definition() {
        let data: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        for len in 0..700 {
            assert_eq!(poly(&data[..len]), poly_slow(&data[..len]), "len {len}");
            assert_eq!(
                poly_portable(&data[7..7 + len]),
                poly_slow(&data[7..7 + len])
            );
        }
        assert_eq!(poly(&data), poly_slow(&data));
        assert_eq!(out_weight(5), BASE.wrapping_pow(5));
    }

    #[test]
    fn unmix_inverts_mix() {
        let mut x = 1u32;
        for _ in 0..100_000 {
            x = x.wrapping_mul(2654435761).wrapping_add(12345);
            assert_eq!(unmix(mix(x)), x);
            assert_eq!(mix(unmix(x)), x);
        }
    }

    #[test]
    fn seek_finds_the_first_hit() {
        let data: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 9) as u8)
            .collect();
        for len in [1usize, 5, 64, 700] {
            let last = data.len() - len;
            let raws: Vec<u32> = (0..=last).map(|p| poly(&data[p..p + len])).collect();
            for start in [0usize, 1, 2, 3, 100] {
                for target in [
                    start,
                    start + 1,
                    start + 2,
                    start + 7,
                    start + 600,
                    last,
                    last + 1,
                ] {
                    let mut r = Rolling::new(&data[start..start + len]);
                    let want = raws.get(target).copied();
                    let got = r.seek(&data, len, start, last, |h| Some(h) == want);
                    let first = (start..=last).find(|&q| Some(raws[q]) == want);
                    assert_eq!(got, first, "len {len} from {start} to {target}");
                    match got {
                        Some(q) => assert_eq!(r.raw(), raws[q]),
                        None => assert_eq!(r.raw(), raws[last]),
                    }
                }
            }
        }
    }

    #[test]
    fn weak_values_spread() {
        // Windows of a run of zeros with one byte changed must not collide
        // the way an unmixed polynomial's top bits would.
        let mut seen = std::collections::HashSet::new();
        let mut block = vec![0u8; 1024];
        for i in 0..1024 {
            block[i] = 1;
            seen.insert(weak_of(&block));
            block[i] = 0;
        }
        assert!(seen.len() > 1000, "{} distinct", seen.len());
    }
}
