//! Pieces of bytes written with one vectored call after another, however
//! much each call takes (pipes and files both accept short writes).

/// Most pieces one call is given (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// The part of some pieces not yet written.
pub(crate) struct Pieces<'a> {
    rest: Vec<&'a [u8]>,
    first: usize,
}

impl<'a> Pieces<'a> {
    pub(crate) fn new(pieces: &[&'a [u8]]) -> Pieces<'a> {
        Pieces {
            rest: pieces.iter().copied().filter(|p| !p.is_empty()).collect(),
            first: 0,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.first >= self.rest.len()
    }

    /// Length of the next piece (0 when done).
    pub(crate) fn next_len(&self) -> usize {
        self.rest.get(self.first).map_or(0, |p| p.len())
    }

    /// The next call's iovecs, pointing into the pieces (which outlive
    /// them): the pieces from the next one on for as long as `take` says yes
    /// of their lengths (the next one always).
    pub(crate) fn iovecs(&self, take: impl Fn(usize) -> bool) -> Vec<libc::iovec> {
        self.rest[self.first..]
            .iter()
            .enumerate()
            .take_while(|(i, p)| *i == 0 || take(p.len()))
            .take(IOV_MAX)
            .map(|(_, p)| libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            })
            .collect()
    }

    /// `n` more bytes were written.
    pub(crate) fn advance(&mut self, mut n: usize) {
        while self.first < self.rest.len() && n >= self.rest[self.first].len() {
            n -= self.rest[self.first].len();
            self.first += 1;
        }
        if n > 0 {
            self.rest[self.first] = &self.rest[self.first][n..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_writes_resume_mid_piece() {
        let (a, b, c) = (b"abc".as_slice(), b"".as_slice(), b"defgh".as_slice());
        let mut p = Pieces::new(&[a, b, c]);
        assert_eq!(p.iovecs(|_| true).len(), 2, "empty pieces are dropped");
        assert_eq!(
            p.iovecs(|len| len < 4).len(),
            1,
            "a run stops at the first piece refused"
        );
        p.advance(4);
        assert_eq!(p.next_len(), 4);
        let iov = p.iovecs(|_| false);
        assert_eq!(iov.len(), 1);
        assert_eq!(iov[0].iov_len, 4);
        p.advance(4);
        assert!(p.is_done());
    }
}
