//! Large buffers kept between calls. Memory this process already touched
//! costs far less than fresh pages: a new 8 MiB buffer is zeroed by calloc
//! or faulted in page by page, and on a VM that hands freed memory back to
//! its host, faulted in from the host again.

use std::sync::Mutex;

/// Buffers of up to `max_len` bytes, at most `max_kept` of them kept.
pub(crate) struct BufferPool {
    kept: Mutex<Vec<Vec<u8>>>,
    max_kept: usize,
    max_len: usize,
}

impl BufferPool {
    pub(crate) const fn new(max_kept: usize, max_len: usize) -> BufferPool {
        BufferPool {
            kept: Mutex::new(Vec::new()),
            max_kept,
            max_len,
        }
    }

    /// Runs `f` with a kept buffer (or a new one), kept again afterwards
    /// unless it grew beyond the pool's limit.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut buf = self.lock().pop().unwrap_or_default();
        let r = f(&mut buf);
        let mut kept = self.lock();
        if kept.len() < self.max_kept && buf.capacity() <= self.max_len {
            kept.push(buf);
        }
        r
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Makes `buf` exactly `len` bytes long, zeroing only bytes it never held
/// (the caller overwrites them all).
pub(crate) fn size_to(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
    buf.truncate(len);
}

/// Input windows of signatures and diffs (a range plus its margins, ranges
/// are 8 MiB): one per range in flight, two calls each.
pub(crate) static WINDOWS: BufferPool = BufferPool::new(8, 40 << 20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_kept_and_only_grown_bytes_are_zeroed() {
        let pool = BufferPool::new(1, 1 << 20);
        pool.with(|b| {
            size_to(b, 100);
            b.fill(7);
        });
        pool.with(|b| {
            assert!(b.capacity() >= 100, "the buffer was kept");
            size_to(b, 150);
            assert_eq!(
                &b[..100],
                &[7u8; 100][..],
                "kept bytes are not zeroed again"
            );
            assert_eq!(&b[100..], &[0u8; 50][..]);
        });
        pool.with(|b| size_to(b, 2 << 20));
        pool.with(|b| assert!(b.capacity() < 2 << 20, "an oversized buffer is not kept"));
    }
}
