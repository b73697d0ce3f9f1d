//! Read-only mappings of file ranges. Hashing, signatures and diffs read
//! large ranges where the page cache holds them instead of copying them into
//! a buffer first: that copy cost as much CPU as the BLAKE3 of the same bytes
//! on the VM Realize is developed on.
//!
//! A mapped file that shrinks meanwhile (another program truncates it) would
//! raise SIGBUS at the next touch of a page past its new end, which kills the
//! process. A SIGBUS handler, installed once, maps a page of zeros over a
//! faulting page of a range mapped here and flags that range; the read then
//! fails as [`FileError::Shrank`] instead. Faults anywhere else go to the
//! handler that was there before (or the default action).

use std::io;
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::file::{FileError, Input};

/// Ranges shorter than this are read: mapping them costs more than the copy.
pub(crate) const MIN_MAPPED: u64 = 256 << 10;

/// Mappings live at once, at most; past that, ranges are read.
const SLOTS: usize = 64;

/// Each slot: a mapping's [start, end) (start 0: free) and whether it faulted.
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static ENDS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static FAULTED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

/// The page size and the SIGBUS action found before ours (None: the handler
/// could not be installed, so nothing is mapped).
static INSTALLED: OnceLock<Option<(usize, libc::sigaction)>> = OnceLock::new();

fn installed() -> Option<(usize, libc::sigaction)> {
    *INSTALLED.get_or_init(|| {
        // SAFETY: sysconf and sigaction with valid arguments; the handler
        // only touches atomics and calls mmap.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page <= 0 {
                return None;
            }
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = on_sigbus as *const () as usize;
            ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut ours.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &ours, &mut previous) != 0 {
                return None;
            }
            Some((page as usize, previous))
        }
    })
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let Some(Some((page, previous))) = INSTALLED.get() else {
        return;
    };
    for i in 0..SLOTS {
        let start = STARTS[i].load(Ordering::Acquire);
        if start != 0 && addr >= start && addr < ENDS[i].load(Ordering::Acquire) {
            let at = addr & !(page - 1);
            // SAFETY: replaces one page of a mapping this module made and
            // still holds (the faulting thread is reading it).
            let p = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    *page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                FAULTED[i].store(true, Ordering::Release);
                return;
            }
        }
    }
    // Not a fault of ours: what would have happened without this handler.
    // SAFETY: calling or restoring the action that was installed before.
    unsafe {
        if previous.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(previous.sa_sigaction);
            f(sig, info, context);
        } else if previous.sa_sigaction == libc::SIG_DFL || previous.sa_sigaction == libc::SIG_IGN {
            // The faulting access repeats on return, now with the default action.
            libc::sigaction(libc::SIGBUS, previous, ptr::null_mut());
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(previous.sa_sigaction);
            f(sig);
        }
    }
}

/// A range of an open file mapped read-only, unmapped on drop.
struct Mapping {
    base: *mut libc::c_void,
    map_len: usize,
    /// Where the asked-for range starts within the mapping.
    skip: usize,
    len: usize,
    slot: usize,
}

// SAFETY: the mapping is read-only and owned by this value.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `[offset, offset + len)` of `input` (len > 0), or None when no
    /// slot is free or the handler is not there (the caller reads instead).
    fn new(input: &Input, offset: u64, len: u64) -> io::Result<Option<Mapping>> {
        let Some((page, _)) = installed() else {
            return Ok(None);
        };
        let Some(slot) = (0..SLOTS).find(|&i| {
            ENDS[i]
                .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        }) else {
            return Ok(None);
        };
        let aligned = offset & !(page as u64 - 1);
        let skip = (offset - aligned) as usize;
        let map_len = skip + len as usize;
        // SAFETY: a fresh read-only shared mapping of an open file.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                input.file().as_raw_fd(),
                aligned as libc::off_t,
            )
        };
        if base == libc::MAP_FAILED {
            ENDS[slot].store(0, Ordering::Release);
            return Err(io::Error::last_os_error());
        }
        FAULTED[slot].store(false, Ordering::Release);
        ENDS[slot].store(base as usize + map_len, Ordering::Release);
        STARTS[slot].store(base as usize, Ordering::Release);
        Ok(Some(Mapping {
            base,
            map_len,
            skip,
            len: len as usize,
            slot,
        }))
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping holds map_len readable bytes (pages past the
        // file's end are replaced by zeros on fault, see on_sigbus).
        unsafe { std::slice::from_raw_parts((self.base as *const u8).add(self.skip), self.len) }
    }

    fn faulted(&self) -> bool {
        FAULTED[self.slot].load(Ordering::Acquire)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        STARTS[self.slot].store(0, Ordering::Release);
        // SAFETY: unmaps what new() mapped; nothing refers to it any more.
        unsafe { libc::munmap(self.base, self.map_len) };
        ENDS[self.slot].store(0, Ordering::Release);
    }
}

/// The bytes of `[offset, offset + len)` of a file (within its size at
/// open): mapped when long enough, else read into a caller's buffer. Call
/// [`View::check`] once done with them: a file that shrank meanwhile is an
/// error then, and what was computed from the bytes must be dropped.
pub(crate) struct View<'a> {
    input: &'a Input,
    offset: u64,
    mapped: Option<Mapping>,
    read: &'a [u8],
}

impl<'a> View<'a> {
    pub(crate) fn new(
        input: &'a Input,
        offset: u64,
        len: u64,
        buf: &'a mut Vec<u8>,
    ) -> Result<View<'a>, FileError> {
        let len = input.clip(offset, len);
        if len >= MIN_MAPPED {
            let mapped = Mapping::new(input, offset, len).map_err(|error| FileError::Io {
                path: input.path().to_owned(),
                error,
            })?;
            if let Some(m) = mapped {
                return Ok(View {
                    input,
                    offset,
                    mapped: Some(m),
                    read: &[],
                });
            }
        }
        input.read_range_into(offset, len, buf)?;
        Ok(View {
            input,
            offset,
            mapped: None,
            read: &buf[..],
        })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.mapped.as_ref().map_or(self.read, Mapping::bytes)
    }

    /// Whether the bytes were the file's: not if it shrank while mapped.
    pub(crate) fn check(&self) -> Result<(), FileError> {
        match &self.mapped {
            Some(m) if m.faulted() => Err(FileError::Shrank {
                path: self.input.path().to_owned(),
                size: self.input.size(),
                at: self.offset,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn a_view_holds_the_range_mapped_or_read() {
        let dir = TempDir::new("map-view");
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(3 * MIN_MAPPED as usize + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let input = Input::open(&path).unwrap();
        let mut buf = Vec::new();
        // Mapped (long, not page aligned), read (short), clipped at the end.
        for (offset, len) in [
            (4097, 2 * MIN_MAPPED),
            (10, 100),
            (MIN_MAPPED, 10 * MIN_MAPPED),
        ] {
            let view = View::new(&input, offset, len, &mut buf).unwrap();
            let end = (offset + len).min(data.len() as u64) as usize;
            assert_eq!(view.bytes(), &data[offset as usize..end]);
            view.check().unwrap();
        }
    }

    #[test]
    fn a_file_truncated_while_mapped_is_an_error_not_a_crash() {
        let dir = TempDir::new("map-shrank");
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 4 * MIN_MAPPED as usize]).unwrap();
        let input = Input::open(&path).unwrap();
        let mut buf = Vec::new();
        let view = View::new(&input, 0, 4 * MIN_MAPPED, &mut buf).unwrap();
        assert!(view.mapped.is_some(), "long enough to be mapped");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(MIN_MAPPED)
            .unwrap();
        // Past the new end: SIGBUS without the handler; zeros and a flag with it.
        let tail = &view.bytes()[2 * MIN_MAPPED as usize..];
        assert!(tail.iter().all(|&b| b == 0));
        let e = view.check().unwrap_err();
        assert!(
            e.to_string().contains("shrank while it was being read"),
            "{e}"
        );
        drop(view);
        // The slot is free again and a new view of what is left is fine.
        let view = View::new(&input, 0, MIN_MAPPED, &mut buf).unwrap();
        assert!(view.bytes().iter().all(|&b| b == 7));
        view.check().unwrap();
    }
}
