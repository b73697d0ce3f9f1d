//! `openPipe`: a session's byte stream on two descriptors, moved by a
//! reading and a writing thread of `realize_core::pipe` (lib/transport/pipe.ts
//! makes a Duplex of it). Reads reach JS through a threadsafe function, as
//! large as the pipe had; writes are queued and reported done one by one.
//!
//! Both callbacks are called without an error argument (`CalleeHandled=false`),
//! so a throw in them would reach `napi_fatal_exception`: lib/transport/pipe.ts
//! catches in both.
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use realize_core::pipe::{self as core, Read, Stop};

use crate::args::fail;

/// What the reading thread hands over: bytes, the end of the input, or why reading stopped.
#[napi(object)]
pub struct PipeEvent {
    pub data: Option<Buffer>,
    pub end: Option<bool>,
    pub error: Option<String>,
}

type DataTsfn = ThreadsafeFunction<PipeEvent, (), PipeEvent, Status, false>;
type DoneTsfn = ThreadsafeFunction<Written, (), Option<String>, Status, false>;

/// A write (or the end) done: why it failed, and the buffers it wrote, so
/// their references are dropped on the JS thread.
pub struct Written {
    error: Option<String>,
    _pieces: Vec<Buffer>,
}

enum Job {
    Write(Vec<Buffer>),
    End,
}

/// Reading paused (JS has enough buffered) or the stream closed, and how
/// many bytes read wait for the JS thread: reading stops at `MAX_QUEUED`, so
/// a busy JS thread holds the reader back instead of letting reads pile up.
#[derive(Default)]
struct Gate {
    paused: bool,
    closed: bool,
    queued: usize,
}

/// A range and a half: a socket's reads are a few hundred KiB, a pipe's up to 1 MiB.
const MAX_QUEUED: usize = 12 << 20;

type Shared = Arc<(Mutex<Gate>, Condvar)>;

/// The two threads of one stream; `close()` stops both.
#[napi]
pub struct NativePipe {
    /// Dropped by `close()`: its eventfd goes once both threads are done too.
    stop: Option<Arc<Stop>>,
    gate: Shared,
    jobs: Option<mpsc::Sender<Job>>,
}

#[napi]
impl NativePipe {
    /// Queues `pieces` to be written in order; `onWritten` reports it done.
    #[napi]
    pub fn write(&self, pieces: Vec<Buffer>) -> Result<()> {
        self.send(Job::Write(pieces))
    }

    /// After the queued writes, closes the writing side (the other end reads
    /// its end of input); `onWritten` reports it done.
    #[napi]
    pub fn end(&mut self) -> Result<()> {
        let sent = self.send(Job::End);
        self.jobs = None;
        sent
    }

    /// Stops reading until `resume()`.
    #[napi]
    pub fn pause(&self) {
        self.set(|g| g.paused = true);
    }

    #[napi]
    pub fn resume(&self) {
        self.set(|g| g.paused = false);
    }

    /// Stops both threads at once, queued writes dropped; each releases its
    /// descriptor. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        self.jobs = None;
        self.set(|g| g.closed = true);
        if let Some(stop) = self.stop.take() {
            stop.request();
        }
    }

    fn send(&self, job: Job) -> Result<()> {
        match &self.jobs {
            Some(jobs) if jobs.send(job).is_ok() => Ok(()),
            _ => Err(fail("the stream is closed for writing")),
        }
    }

    fn set(&self, f: impl FnOnce(&mut Gate)) {
        let (lock, changed) = &*self.gate;
        let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (paused, closed) = (g.paused, g.closed);
        f(&mut g);
        // Waking the reader costs a system call: only when it may be waiting on this.
        if paused != g.paused || closed != g.closed {
            changed.notify_all();
        }
    }
}

impl Drop for NativePipe {
    fn drop(&mut self) {
        self.close();
    }
}

/// Counts bytes read but not yet taken by the JS thread; taking them may let the reader go on.
fn count(gate: &Shared, delta: isize) {
    let (lock, changed) = &**gate;
    let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
    let was_full = g.queued >= MAX_QUEUED;
    g.queued = g.queued.saturating_add_signed(delta);
    if was_full && g.queued < MAX_QUEUED {
        changed.notify_all();
    }
}

/// Reads `fd` until its end, a failure or the stop, waiting while paused.
fn read_loop(fd: RawFd, stop: Arc<Stop>, gate: Shared, tsfn: DataTsfn) {
    loop {
        {
            let (lock, changed) = &*gate;
            let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
            while (g.paused || g.queued >= MAX_QUEUED) && !g.closed {
                g = changed.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            if g.closed {
                break;
            }
        }
        let event = match core::read_some(fd, core::READ_CAP, &stop) {
            Ok(Read::Data(bytes)) => {
                count(&gate, bytes.len() as isize);
                PipeEvent {
                    data: Some(bytes.into()),
                    end: None,
                    error: None,
                }
            }
            Ok(Read::End) => PipeEvent {
                data: None,
                end: Some(true),
                error: None,
            },
            Ok(Read::Stopped) => break,
            Err(e) => PipeEvent {
                data: None,
                end: None,
                error: Some(format!("cannot read: {e}")),
            },
        };
        let last = event.data.is_none();
        if tsfn.call(event, ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok {
            break;
        }
        if last {
            break;
        }
    }
    core::release_fd(fd);
}

/// How long an ending writer waits for the reader to take what the pipe
/// still points at before it lets go of those buffers anyway.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Writes the queued jobs to `fd` until the end, a failure or the stop. A
/// write is reported done once it is in the pipe; buffers the pipe still
/// points at (spliced, see `core::SPLICE_MIN`) are kept until the reader has
/// read past them, and handed back with a later report.
fn write_loop(fd: RawFd, pipe: bool, stop: Arc<Stop>, jobs: mpsc::Receiver<Job>, tsfn: DoneTsfn) {
    let mut out = core::Writer::new(fd, pipe);
    // Spliced buffers, with the stream offset at their end.
    let mut held: VecDeque<(u64, Vec<Buffer>)> = VecDeque::new();
    let report = |error: Option<String>, pieces: Vec<Buffer>| {
        tsfn.call(
            Written {
                error,
                _pieces: pieces,
            },
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    };
    for job in jobs {
        let (error, pieces, referenced, last) = match job {
            Job::Write(pieces) => {
                let slices: Vec<&[u8]> = pieces.iter().map(|p| &p[..]).collect();
                let (error, referenced) = match out.write_all(&slices, &stop) {
                    Ok(w) if w.done => (None, w.referenced),
                    Ok(w) => (Some("the stream was closed".to_owned()), w.referenced),
                    // A failed splice may have left pages in the pipe.
                    Err(e) => (Some(format!("cannot write: {e}")), true),
                };
                let failed = error.is_some();
                (error, pieces, referenced, failed)
            }
            Job::End => (None, Vec::new(), false, true),
        };
        let mut done = if referenced {
            held.push_back((out.sent(), pieces));
            Vec::new()
        } else {
            pieces
        };
        // At the end the reader is given time to take everything; after a
        // stop nothing waits (the far end verifies whatever arrives).
        if last && !stop.requested() {
            out.drain(DRAIN_LIMIT);
        }
        // Asking the pipe what was read costs a system call: only when something waits on it.
        if !held.is_empty() {
            let taken = if last { u64::MAX } else { out.taken() };
            while held.front().is_some_and(|(end, _)| *end <= taken) {
                done.extend(held.pop_front().into_iter().flat_map(|(_, p)| p));
            }
        }
        report(error, done);
        if last {
            break;
        }
    }
    if !held.is_empty() {
        // Stopped without an end.
        report(None, held.into_iter().flat_map(|(_, p)| p).collect());
    }
    core::shutdown_write(fd);
    core::release_fd(fd);
}

/// Moves a byte stream: reads `readFd` into `onData` and writes what
/// `write()` is given to `writeFd`, each on a thread of its own. Takes both
/// descriptors (pipes are enlarged, both are made non-blocking) and releases
/// each when its side is done; stdin, stdout and stderr are left pointing at
/// /dev/null rather than closed.
#[napi(
    ts_args_type = "readFd: number, writeFd: number, onData: (event: PipeEvent) => void, onWritten: (error: string | null) => void"
)]
pub fn open_pipe(
    read_fd: i32,
    write_fd: i32,
    on_data: Function<PipeEvent, ()>,
    on_written: Function<Option<String>, ()>,
) -> Result<NativePipe> {
    // Both descriptors are ours from here: released on any failure below.
    let release = |fds: &[RawFd]| fds.iter().for_each(|&fd| core::release_fd(fd));
    // One descriptor for both sides (a socket): the writer gets its own copy to release.
    let write_fd = if write_fd == read_fd {
        core::duplicate(write_fd).map_err(|e| {
            release(&[read_fd]);
            fail(format!("cannot duplicate descriptor {write_fd}: {e}"))
        })?
    } else {
        write_fd
    };
    let fds = [read_fd, write_fd];
    let prepared = (|| -> Result<(Shared, DataTsfn, DoneTsfn, Arc<Stop>, bool)> {
        for fd in fds {
            core::set_nonblocking(fd)
                .map_err(|e| fail(format!("cannot use descriptor {fd}: {e}")))?;
        }
        core::enlarge_pipe(read_fd);
        let write_pipe = core::enlarge_pipe(write_fd) > 0;
        let gate: Shared = Arc::default();
        let taken = gate.clone();
        let data: DataTsfn = on_data
            .build_threadsafe_function::<PipeEvent>()
            .callee_handled::<false>()
            .build_callback(move |ctx| {
                if let Some(d) = &ctx.value.data {
                    count(&taken, -(d.len() as isize));
                }
                Ok(ctx.value)
            })?;
        let done: DoneTsfn = on_written
            .build_threadsafe_function::<Written>()
            .callee_handled::<false>()
            .build_callback(|ctx| Ok(ctx.value.error))?;
        let stop = Arc::new(Stop::new().map_err(fail)?);
        Ok((gate, data, done, stop, write_pipe))
    })();
    let (gate, data, done, stop, write_pipe) = prepared.inspect_err(|_| release(&fds))?;
    let (jobs, queue) = mpsc::channel();
    let s = stop.clone();
    // The writer first: if the reader cannot start, the writer ends with the queue.
    thread::Builder::new()
        .name("realize-write".into())
        .spawn(move || write_loop(write_fd, write_pipe, s, queue, done))
        .map_err(|e| {
            release(&fds);
            fail(e)
        })?;
    let pipe = NativePipe {
        stop: Some(stop.clone()),
        gate: gate.clone(),
        jobs: Some(jobs),
    };
    thread::Builder::new()
        .name("realize-read".into())
        .spawn(move || read_loop(read_fd, stop, gate, data))
        .map_err(|e| {
            // Dropping `pipe` stops the writer, which releases its descriptor.
            release(&[read_fd]);
            fail(e)
        })?;
    Ok(pipe)
}

/// A new pipe whose descriptors close on exec: `[readFd, writeFd]`, for a child's stdin or stdout.
#[napi]
pub fn new_pipe() -> Result<Vec<i32>> {
    let (r, w) = core::new_pipe().map_err(|e| fail(format!("cannot make a pipe: {e}")))?;
    Ok(vec![r, w])
}

/// Closes a descriptor this process made (the child's ends of its pipes, once it has them).
#[napi]
pub fn close_fd(fd: i32) {
    core::release_fd(fd);
}
