//! A session's byte stream moved by threads of its own: stdin/stdout of
//! `realize-serve --stdio`, or the pipes to an `ssh` child. Bulk data crosses
//! these pipes a gigabyte at a time; read by the JS thread it arrives in
//! 64 KiB pieces, each a wakeup and a callback, which on a small machine
//! costs as much CPU as the copy itself. Here a reader takes whatever the
//! pipe holds in one go (pipes are enlarged to `PIPE_SIZE`) and a writer
//! blocks on a full pipe instead of polling from the event loop.
//!
//! Every wait also watches a [`Stop`], so a thread blocked on a silent peer
//! ends when the stream is closed.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::iov::Pieces;

/// What pipes are enlarged to: the default limit for unprivileged users
/// (`/proc/sys/fs/pipe-max-size`).
pub const PIPE_SIZE: usize = 1 << 20;

/// Most bytes one read hands over.
pub const READ_CAP: usize = PIPE_SIZE;

/// Enlarges the pipe `fd` to [`PIPE_SIZE`]; anything else (a socket, a
/// terminal, a file, a lower system limit) keeps its size. Returns the
/// pipe's size, or 0 for something that is not a pipe.
pub fn enlarge_pipe(fd: RawFd) -> usize {
    // SAFETY: fcntl with integer arguments; a bad fd or a non-pipe is an error return.
    let set = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE as libc::c_int) };
    if set > 0 {
        return set as usize;
    }
    // SAFETY: as above.
    let got = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    got.max(0) as usize
}

/// Makes `fd` non-blocking: every wait is a poll that also watches a [`Stop`].
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A new pipe, both ends close-on-exec and enlarged: `(read end, write end)`.
pub fn new_pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    enlarge_pipe(fds[0]);
    Ok((fds[0], fds[1]))
}

/// Closes `fd`; one of stdin, stdout or stderr is pointed at /dev/null
/// instead, so a later open can never take its number (a stray write to
/// stdout would then land in that file). Without /dev/null it stays open.
pub fn release_fd(fd: RawFd) {
    static NULL: OnceLock<RawFd> = OnceLock::new();
    if (0..=2).contains(&fd) {
        // SAFETY: open of a NUL-terminated path; the descriptor is kept for the process.
        let null = *NULL.get_or_init(|| unsafe {
            libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC)
        });
        if null >= 0 {
            // SAFETY: dup2 between descriptors we hold.
            unsafe { libc::dup2(null, fd) };
        }
        return;
    }
    // SAFETY: a descriptor this module was handed, closed once.
    unsafe { libc::close(fd) };
}

/// A second descriptor for what `fd` refers to, close-on-exec.
pub fn duplicate(fd: RawFd) -> io::Result<RawFd> {
    // SAFETY: fcntl with integer arguments.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(new)
}

/// Tells the other end of a socket that nothing more will be written (a
/// pipe learns it when the descriptor is released); other kinds ignore it.
pub fn shutdown_write(fd: RawFd) {
    // SAFETY: shutdown with integer arguments; ENOTSOCK for anything but a socket.
    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
}

/// Wakes the threads of one stream out of their waits, for good; a write in
/// progress stops at its next system call.
#[derive(Debug)]
pub struct Stop {
    fd: RawFd,
    requested: AtomicBool,
}

impl Stop {
    /// A stop not yet requested.
    pub fn new() -> io::Result<Stop> {
        // SAFETY: eventfd with integer flags.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Stop {
            fd,
            requested: AtomicBool::new(false),
        })
    }

    /// Requests the stop: every wait on it returns, now and later.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes we own to our eventfd; it cannot block (EFD_NONBLOCK).
        unsafe { libc::write(self.fd, (&one as *const u64).cast(), 8) };
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(self.fd) };
    }
}

/// Waits until `fd` is ready for `events` (or has hung up); false when the stop came first.
fn wait(fd: RawFd, events: libc::c_short, stop: &Stop) -> io::Result<bool> {
    loop {
        let mut fds = [
            libc::pollfd {
                fd,
                events,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.fd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll reads and writes the two pollfds we own.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if fds[1].revents != 0 {
            return Ok(false);
        }
        if fds[0].revents != 0 {
            return Ok(true);
        }
    }
}

/// What one [`read_some`] got.
#[derive(Debug, PartialEq)]
pub enum Read {
    /// Bytes, at least one.
    Data(Vec<u8>),
    /// The other end closed the stream.
    End,
    /// The stop was requested.
    Stopped,
}

/// Bytes waiting in `fd` (a pipe, a socket, a terminal or a file).
fn available(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int we own.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}

/// Waits for input on the non-blocking `fd`, then takes everything already
/// there, at most `cap` bytes, into a buffer of just that size.
pub fn read_some(fd: RawFd, cap: usize, stop: &Stop) -> io::Result<Read> {
    let mut waited = false;
    loop {
        // What the kernel holds, so a 13-byte reply gets a 13-byte buffer;
        // nothing held after a wakeup is the end (or an error) to read.
        let want = match available(fd) {
            Ok(0) if !waited => {
                if !wait(fd, libc::POLLIN, stop)? {
                    return Ok(Read::Stopped);
                }
                waited = true;
                continue;
            }
            Ok(n) => n.clamp(1, cap),
            Err(_) => 64 << 10,
        };
        let mut buf: Vec<u8> = Vec::with_capacity(want);
        // SAFETY: reads at most `want` bytes into the vector's spare capacity.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), want) };
        if n > 0 {
            // SAFETY: the kernel initialised n bytes.
            unsafe { buf.set_len(n as usize) };
            return Ok(Read::Data(buf));
        }
        if n == 0 {
            return Ok(Read::End);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => {
                if !wait(fd, libc::POLLIN, stop)? {
                    return Ok(Read::Stopped);
                }
                waited = true;
            }
            _ => return Err(err),
        }
    }
}

/// Writes all of `pieces`, in order, to the non-blocking `fd`, waiting
/// whenever it is full; false when the stop came first.
pub fn write_all(fd: RawFd, pieces: &[&[u8]], stop: &Stop) -> io::Result<bool> {
    let mut rest = Pieces::new(pieces);
    while !rest.is_done() {
        if stop.requested() {
            return Ok(false);
        }
        let iov = rest.iovecs();
        // SAFETY: the iovecs point into slices that outlive the call.
        let n = unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as libc::c_int) };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    if !wait(fd, libc::POLLOUT, stop)? {
                        return Ok(false);
                    }
                    continue;
                }
                _ => return Err(err),
            }
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the stream took no bytes",
            ));
        }
        rest.advance(n as usize);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn nonblocking_pipe() -> (RawFd, RawFd) {
        let (r, w) = new_pipe().unwrap();
        set_nonblocking(r).unwrap();
        set_nonblocking(w).unwrap();
        (r, w)
    }

    #[test]
    fn pipes_are_enlarged() {
        let (r, w) = new_pipe().unwrap();
        assert!(enlarge_pipe(r) >= 64 << 10);
        release_fd(r);
        release_fd(w);
    }

    #[test]
    fn a_large_write_arrives_whole_and_in_order() {
        let (r, w) = nonblocking_pipe();
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let sent = data.clone();
        let writer = thread::spawn(move || {
            let stop = Stop::new().unwrap();
            let pieces: Vec<&[u8]> = sent.chunks(333_333).collect();
            assert!(write_all(w, &pieces, &stop).unwrap());
            release_fd(w);
        });
        let stop = Stop::new().unwrap();
        let mut got = Vec::new();
        loop {
            match read_some(r, READ_CAP, &stop).unwrap() {
                Read::Data(d) => {
                    assert!(!d.is_empty() && d.len() <= READ_CAP);
                    got.extend(d);
                }
                Read::End => break,
                Read::Stopped => panic!("not stopped"),
            }
        }
        writer.join().unwrap();
        assert_eq!(got, data);
        release_fd(r);
    }

    #[test]
    fn a_stop_ends_a_wait_on_a_silent_pipe() {
        let (r, w) = nonblocking_pipe();
        let stop = std::sync::Arc::new(Stop::new().unwrap());
        let s = stop.clone();
        let reader = thread::spawn(move || read_some(r, READ_CAP, &s).unwrap());
        thread::sleep(std::time::Duration::from_millis(20));
        stop.request();
        assert_eq!(reader.join().unwrap(), Read::Stopped);
        // A full pipe nobody reads: the writer's wait ends the same way.
        let big = vec![0u8; 4 * PIPE_SIZE];
        assert!(!write_all(w, &[&big], &stop).unwrap());
        release_fd(r);
        release_fd(w);
    }

    #[test]
    fn writing_to_a_closed_pipe_is_an_error() {
        let (r, w) = nonblocking_pipe();
        release_fd(r);
        let stop = Stop::new().unwrap();
        // SAFETY: ignore SIGPIPE in this test process, as Node does.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let err = write_all(w, &[b"x"], &stop).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        release_fd(w);
    }
}
