//! Lower-case hex for 32-byte hashes, the form they take in JS and on the wire.

use std::fmt;

/// A hex string that is not exactly 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexError {
    /// Index of the offending value in its list (0 for a single value).
    pub index: usize,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hash #{} is not 64 hex digits", self.index)
    }
}

impl std::error::Error for HexError {}

/// 64 lower-case hex digits.
pub fn to_hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses 64 hex digits (either case); `index` is reported in the error.
pub fn from_hex(s: &str, index: usize) -> Result<[u8; 32], HexError> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return Err(HexError { index });
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = digit(pair[0]).ok_or(HexError { index })?;
        let lo = digit(pair[1]).ok_or(HexError { index })?;
        out[i] = hi << 4 | lo;
    }
    Ok(out)
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut h = [0u8; 32];
        for (i, b) in h.iter_mut().enumerate() {
            *b = (i * 37) as u8;
        }
        let s = to_hex(&h);
        assert_eq!(s.len(), 64);
        assert_eq!(from_hex(&s, 0).unwrap(), h);
        assert_eq!(from_hex(&s.to_uppercase(), 0).unwrap(), h);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(from_hex("", 0).is_err());
        assert!(from_hex(&"0".repeat(63), 0).is_err());
        assert!(from_hex(&"0".repeat(65), 0).is_err());
        assert_eq!(
            from_hex(&format!("{}g", "0".repeat(63)), 3),
            Err(HexError { index: 3 })
        );
        // Multi-byte UTF-8 must not be sliced mid-character or accepted.
        assert!(from_hex(&"é".repeat(32), 0).is_err());
    }
}
