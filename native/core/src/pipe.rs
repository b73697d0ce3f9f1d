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

    /// Whether the stop was requested.
    pub fn requested(&self) -> bool {
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

/// Pieces at least this large go into a pipe by reference (vmsplice): the
/// pipe then points at the caller's pages instead of copying them, which on
/// a small machine is a tenth of the CPU of a large send. Smaller pieces
/// (frame headers, often in memory reused at once) are copied.
pub const SPLICE_MIN: usize = 256 << 10;

/// How a [`Writer::write_all`] went.
#[derive(Debug, PartialEq)]
pub struct Wrote {
    /// False when the stop came first.
    pub done: bool,
    /// The pipe may still point at the pieces' memory: it must stay
    /// unchanged until [`Writer::taken`] is past their end.
    pub referenced: bool,
}

/// Writes a stream to one non-blocking descriptor, counting its bytes.
#[derive(Debug)]
pub struct Writer {
    fd: RawFd,
    /// A pipe, whose large pieces are spliced.
    splice: bool,
    sent: u64,
}

impl Writer {
    /// `pipe`: `fd` is a pipe (see [`enlarge_pipe`]).
    pub fn new(fd: RawFd, pipe: bool) -> Writer {
        Writer {
            fd,
            splice: pipe,
            sent: 0,
        }
    }

    /// Bytes written so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Bytes of the stream the reader has read: the pipe points at nothing
    /// written before this offset.
    pub fn taken(&self) -> u64 {
        if !self.splice {
            return self.sent;
        }
        // FIONREAD on a pipe's write end counts what is still unread.
        match available(self.fd) {
            Ok(unread) => self.sent.saturating_sub(unread as u64),
            Err(_) => 0,
        }
    }

    /// Waits, at most `limit`, until the reader has read everything or is
    /// gone; true if so.
    pub fn drain(&self, limit: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        loop {
            if self.taken() >= self.sent {
                return true;
            }
            let mut fd = libc::pollfd {
                fd: self.fd,
                events: 0,
                revents: 0,
            };
            // SAFETY: poll of one pollfd we own; POLLERR means the reader closed.
            let n = unsafe { libc::poll(&mut fd, 1, 1) };
            if n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
        }
    }

    /// Writes all of `pieces`, in order, waiting whenever the descriptor is full.
    pub fn write_all(&mut self, pieces: &[&[u8]], stop: &Stop) -> io::Result<Wrote> {
        let mut rest = Pieces::new(pieces);
        let mut referenced = false;
        while !rest.is_done() {
            if stop.requested() {
                return Ok(Wrote {
                    done: false,
                    referenced,
                });
            }
            let spliced = self.splice && rest.next_len() >= SPLICE_MIN;
            let iov = rest.iovecs(|len| (len >= SPLICE_MIN) == spliced);
            let n = if spliced {
                referenced = true;
                // SAFETY: the iovecs point into slices that outlive the call;
                // the caller keeps them unchanged until they are taken.
                unsafe { libc::vmsplice(self.fd, iov.as_ptr(), iov.len(), libc::SPLICE_F_NONBLOCK) }
            } else {
                // SAFETY: the iovecs point into slices that outlive the call.
                unsafe { libc::writev(self.fd, iov.as_ptr(), iov.len() as libc::c_int) }
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        if !wait(self.fd, libc::POLLOUT, stop)? {
                            return Ok(Wrote {
                                done: false,
                                referenced,
                            });
                        }
                        continue;
                    }
                    // Not a pipe after all: copy from here on.
                    _ if spliced && err.raw_os_error() == Some(libc::EBADF) => {
                        self.splice = false;
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
            self.sent += n as u64;
            rest.advance(n as usize);
        }
        Ok(Wrote {
            done: true,
            referenced,
        })
    }
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

    /// Everything `r` yields until its end.
    fn read_to_end(r: RawFd) -> Vec<u8> {
        let stop = Stop::new().unwrap();
        let mut got = Vec::new();
        loop {
            match read_some(r, READ_CAP, &stop).unwrap() {
                Read::Data(d) => {
                    assert!(!d.is_empty() && d.len() <= READ_CAP);
                    got.extend(d);
                }
                Read::End => return got,
                Read::Stopped => panic!("not stopped"),
            }
        }
    }

    #[test]
    fn a_large_write_arrives_whole_and_in_order() {
        let (r, w) = nonblocking_pipe();
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let sent = data.clone();
        let writer = thread::spawn(move || {
            let stop = Stop::new().unwrap();
            // Spliced pieces between copied ones, as a frame's header and bulk.
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut rest = &sent[..];
            for len in [100, 333_333, 7, 300_000, SPLICE_MIN - 1].iter().cycle() {
                let (piece, tail) = rest.split_at((*len).min(rest.len()));
                pieces.push(piece);
                rest = tail;
                if rest.is_empty() {
                    break;
                }
            }
            let mut out = Writer::new(w, true);
            let wrote = out.write_all(&pieces, &stop).unwrap();
            assert_eq!(
                wrote,
                Wrote {
                    done: true,
                    referenced: true
                }
            );
            assert_eq!(out.sent(), sent.len() as u64);
            // The pieces stay untouched until the reader has them all.
            assert!(out.drain(std::time::Duration::from_secs(10)));
            assert_eq!(out.taken(), out.sent());
            release_fd(w);
        });
        let got = read_to_end(r);
        writer.join().unwrap();
        assert_eq!(got, data);
        release_fd(r);
    }

    #[test]
    fn taken_counts_what_the_reader_read() {
        let (r, w) = nonblocking_pipe();
        let stop = Stop::new().unwrap();
        let big = vec![5u8; 300 << 10];
        let mut out = Writer::new(w, true);
        assert!(out.write_all(&[&big], &stop).unwrap().referenced);
        assert_eq!(out.taken(), 0, "nothing read yet");
        let mut buf = vec![0u8; 100 << 10];
        // SAFETY: reads into a buffer we own.
        let n = unsafe { libc::read(r, buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(out.taken(), n as u64);
        assert!(
            !out.drain(std::time::Duration::from_millis(5)),
            "the rest is unread"
        );
        release_fd(r);
        assert!(
            out.drain(std::time::Duration::from_secs(1)),
            "a reader gone drains"
        );
        // Small pieces are copied, so they are taken at once.
        let (r, w2) = nonblocking_pipe();
        let mut small = Writer::new(w2, true);
        assert!(!small.write_all(&[b"abc"], &stop).unwrap().referenced);
        release_fd(w);
        release_fd(w2);
        release_fd(r);
    }

    #[test]
    fn a_socket_is_written_by_copy() {
        use std::os::fd::IntoRawFd;
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (a, b) = (a.into_raw_fd(), b.into_raw_fd());
        set_nonblocking(a).unwrap();
        set_nonblocking(b).unwrap();
        let data = vec![9u8; 1 << 20];
        let sent = data.clone();
        let writer = thread::spawn(move || {
            let stop = Stop::new().unwrap();
            // Told it is a pipe: the first splice fails and it copies instead.
            let mut out = Writer::new(a, true);
            assert!(out.write_all(&[&sent], &stop).unwrap().done);
            assert_eq!(out.taken(), out.sent());
            shutdown_write(a);
            release_fd(a);
        });
        let got = read_to_end(b);
        writer.join().unwrap();
        assert_eq!(got, data);
        release_fd(b);
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
        let wrote = Writer::new(w, true).write_all(&[&big], &stop).unwrap();
        assert!(!wrote.done);
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
        let mut out = Writer::new(w, true);
        let err = out.write_all(&[b"x"], &stop).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let big = vec![1u8; SPLICE_MIN];
        let err = out.write_all(&[&big], &stop).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        release_fd(w);
    }
}
