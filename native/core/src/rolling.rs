//! The rolling (weak) hash of the delta's blocks.
//!
//! A polynomial hash modulo 2^64 (`h = sum b[i] * B^(L-1-i)`), rolled one byte
//! at a time with two multiplications, then mixed so that its top bits depend
//! on every byte of the window. The weak value is the top [`WEAK_BITS`] bits of
//! the mix. It only pre-selects candidates; a truncated BLAKE3 decides.

/// Multiplier of the polynomial: odd (an even one would shift bytes out of
/// the hash), 64 bits with no structure (the golden ratio's fraction).
const BASE: u64 = 0x9E37_79B9_7F4A_7C15;

/// `BASE^0 ..= BASE^8`.
const POW: [u64; 9] = {
    let mut p = [1u64; 9];
    let mut i = 1;
    while i < 9 {
        p[i] = p[i - 1].wrapping_mul(BASE);
        i += 1;
    }
    p
};

/// Bits of a weak value; it is sent as four bytes.
pub(crate) const WEAK_BITS: u32 = 32;

/// A window of fixed length being slid over data.
pub(crate) struct Rolling {
    h: u64,
    /// `BASE^len`: the weight the leaving byte had when it entered, times BASE.
    out_weight: u64,
}

impl Rolling {
    /// Hash of `window`; later rolls keep its length.
    pub(crate) fn new(window: &[u8]) -> Rolling {
        // Horner's rule eight bytes at a time: the eight products are
        // independent, so the multiply chain is an eighth as long.
        let mut h = 0u64;
        let mut groups = window.chunks_exact(8);
        for g in &mut groups {
            let mut sum = 0u64;
            for (i, &b) in g.iter().enumerate() {
                sum = sum.wrapping_add((b as u64).wrapping_mul(POW[7 - i]));
            }
            h = h.wrapping_mul(POW[8]).wrapping_add(sum);
        }
        for &b in groups.remainder() {
            h = h.wrapping_mul(BASE).wrapping_add(b as u64);
        }
        let mut out_weight = 1u64;
        let mut base = BASE;
        let mut e = window.len();
        while e > 0 {
            if e & 1 == 1 {
                out_weight = out_weight.wrapping_mul(base);
            }
            base = base.wrapping_mul(base);
            e >>= 1;
        }
        Rolling { h, out_weight }
    }

    /// Slides the window one byte: `out` leaves at the front, `inp` enters at the back.
    #[inline(always)]
    pub(crate) fn roll(&mut self, out: u8, inp: u8) {
        self.h = self
            .h
            .wrapping_mul(BASE)
            .wrapping_add(inp as u64)
            .wrapping_sub((out as u64).wrapping_mul(self.out_weight));
    }

    /// The weak value of the current window.
    #[inline(always)]
    pub(crate) fn weak(&self) -> u32 {
        let mut x = self.h;
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 29;
        (x >> (64 - WEAK_BITS)) as u32
    }
}

/// The weak value of a whole block.
pub(crate) fn weak_of(block: &[u8]) -> u32 {
    Rolling::new(block).weak()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_equals_fresh_hash() {
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for len in [1usize, 2, 63, 64, 700, 4096] {
            let mut r = Rolling::new(&data[..len]);
            for p in 0..data.len() - len {
                assert_eq!(r.weak(), weak_of(&data[p..p + len]), "len {len} at {p}");
                r.roll(data[p], data[p + len]);
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
