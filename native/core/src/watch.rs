//! A recursive inotify watcher: one watch per directory of a tree.
//!
//! inotify is per directory, so [`Tree`] adds a watch to every directory,
//! watches and then scans each directory that appears (files created before
//! the watch was in place are reported from the scan), pairs `IN_MOVED_FROM`
//! and `IN_MOVED_TO` by cookie (a move out of the tree is a removal, a move in
//! an addition), turns `IN_Q_OVERFLOW` into a [`Kind::Rescan`] after
//! re-watching the whole tree, and explains an exhausted
//! `fs.inotify.max_user_watches`. Symbolic links are never followed and
//! partial files (`.name.part`) are never reported: a rename from a partial
//! name to a final one is reported as the final file's addition.
//!
//! [`Watcher`] runs a [`Tree`] on a background thread and hands batches of
//! events to a callback. Paths are relative to the root, `/`-separated.
use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Created, or moved into the tree.
    Add,
    /// Deleted, or moved out of the tree.
    Remove,
    /// Written to, or its attributes changed.
    Update,
    /// Moved within the tree (`from` holds the old path).
    Rename,
    /// Events were lost (queue overflow): rescan the whole tree.
    Rescan,
    /// Something could not be watched; `message` says what and what to do.
    Error,
}

impl Kind {
    /// The name JS sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Add => "add",
            Kind::Remove => "remove",
            Kind::Update => "update",
            Kind::Rename => "rename",
            Kind::Rescan => "rescan",
            Kind::Error => "error",
        }
    }
}

/// One change, relative to the watched root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: Kind,
    /// The path it happened to (empty for a rescan or an error about the root).
    pub path: String,
    /// For a rename, the old path.
    pub from: Option<String>,
    /// Whether the path is a directory.
    pub is_dir: bool,
    /// The writer closed the file (`IN_CLOSE_WRITE`) or it arrived whole (a
    /// rename): it is likely complete.
    pub closed: bool,
    /// For an error, what went wrong and what to do.
    pub message: Option<String>,
}

impl Event {
    fn new(kind: Kind, path: String, is_dir: bool) -> Event {
        Event {
            kind,
            path,
            from: None,
            is_dir,
            closed: false,
            message: None,
        }
    }

    fn error(path: String, message: String) -> Event {
        Event {
            message: Some(message),
            ..Event::new(Kind::Error, path, false)
        }
    }
}

/// Why a watch could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchError(pub String);

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WatchError {}

const MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR
    | libc::IN_DONT_FOLLOW;

/// How long an `IN_MOVED_FROM` waits for its `IN_MOVED_TO` before it counts
/// as a move out of the tree.
const MOVE_WAIT: Duration = Duration::from_millis(20);
/// Reads per [`Tree::read_events`] call: one 64 KiB read (about 2,000
/// events) makes a batch, so a consumer that holds a few batches holds a
/// bounded number of events.
const MAX_READS: usize = 1;
const HEADER: usize = std::mem::size_of::<libc::inotify_event>();

/// Whether a file name is a partial file (`.name.part`), as `isPartialName` in TS.
pub fn is_partial_name(name: &str) -> bool {
    name.len() > 6 && name.starts_with('.') && name.ends_with(".part")
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn read_sysctl(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The message for ENOSPC from `inotify_add_watch`.
pub fn watch_limit_message(dir: &Path) -> String {
    let now = read_sysctl("/proc/sys/fs/inotify/max_user_watches");
    let suggested = now
        .parse::<u64>()
        .map(|n| (n * 2).max(524_288))
        .unwrap_or(524_288);
    format!(
        "cannot watch {}: the inotify watch limit fs.inotify.max_user_watches ({now}) is reached; \
         raise it with 'sysctl fs.inotify.max_user_watches={suggested}' \
         (and add that line to /etc/sysctl.d/ to keep it)",
        dir.display()
    )
}

fn instance_limit_message() -> String {
    let now = read_sysctl("/proc/sys/fs/inotify/max_user_instances");
    format!(
        "cannot create an inotify instance: fs.inotify.max_user_instances ({now}) is reached; \
         raise it with 'sysctl fs.inotify.max_user_instances=1024' or stop other watchers"
    )
}

struct PendingMove {
    cookie: u32,
    path: String,
    is_dir: bool,
    since: Instant,
}

/// The watches of one tree, driven by hand: [`Tree::read_events`] whenever
/// [`Tree::fd`] is readable, [`Tree::flush_moves`] when a move has waited long
/// enough. [`Watcher`] does this on a thread.
pub struct Tree {
    fd: OwnedFd,
    root: PathBuf,
    wds: HashMap<i32, String>,
    dirs: HashMap<String, i32>,
    moves: Vec<PendingMove>,
    buf: Vec<u8>,
}

impl Tree {
    /// Watches every directory under `root` (following `root` itself if it is
    /// a symlink, nothing below it). Problems below the root (a
    /// directory that cannot be read) become error events in `out`; a missing
    /// root or an exhausted watch limit fail the whole watch.
    pub fn open(root: &Path, out: &mut Vec<Event>) -> Result<Tree, WatchError> {
        // The root itself may be a symlink (an arena configured through one);
        // nothing below it is followed.
        let given = root;
        let root = &std::fs::canonicalize(given).map_err(|e| {
            WatchError(format!(
                "cannot watch {}: {}",
                given.display(),
                describe(&e)
            ))
        })?;
        match std::fs::symlink_metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(WatchError(format!(
                    "cannot watch {}: not a directory",
                    root.display()
                )))
            }
            Err(e) => {
                return Err(WatchError(format!(
                    "cannot watch {}: {}",
                    root.display(),
                    describe(&e)
                )))
            }
        }
        // SAFETY: plain syscall; the result is checked.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(WatchError(if e.raw_os_error() == Some(libc::EMFILE) {
                instance_limit_message()
            } else {
                format!("cannot create an inotify instance: {}", describe(&e))
            }));
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut tree = Tree {
            fd,
            root: root.to_path_buf(),
            wds: HashMap::new(),
            dirs: HashMap::new(),
            moves: Vec::new(),
            buf: vec![0; 64 * 1024],
        };
        if let Err(e) = tree.watch_dir("") {
            return Err(WatchError(if e.raw_os_error() == Some(libc::ENOSPC) {
                watch_limit_message(root)
            } else {
                format!("cannot watch {}: {}", root.display(), describe(&e))
            }));
        }
        tree.walk("", false, out).map_err(WatchError)?;
        Ok(tree)
    }

    /// The inotify descriptor, to poll.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// How many directories are watched.
    pub fn watched_dirs(&self) -> usize {
        self.wds.len()
    }

    /// Whether an `IN_MOVED_FROM` still waits for its pair.
    pub fn has_pending_moves(&self) -> bool {
        !self.moves.is_empty()
    }

    /// Reads what the kernel has queued (without blocking) and appends the
    /// resulting events to `out`. Returns whether anything was read.
    pub fn read_events(&mut self, out: &mut Vec<Event>) -> Result<bool, WatchError> {
        let mut any = false;
        for _ in 0..MAX_READS {
            // SAFETY: the buffer is valid for its length.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => break,
                    Some(libc::EINTR) => continue,
                    _ => {
                        return Err(WatchError(format!(
                            "reading inotify events failed: {}",
                            describe(&e)
                        )))
                    }
                }
            }
            if n == 0 {
                break;
            }
            any = true;
            let n = n as usize;
            let mut off = 0;
            while off + HEADER <= n {
                let b = &self.buf[off..];
                let wd = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
                let mask = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
                let cookie = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
                let len = u32::from_ne_bytes([b[12], b[13], b[14], b[15]]) as usize;
                let end = (off + HEADER + len).min(n);
                let raw_name = &self.buf[off + HEADER..end];
                let name_len = raw_name
                    .iter()
                    .position(|&c| c == 0)
                    .unwrap_or(raw_name.len());
                let name = raw_name[..name_len].to_vec();
                off = end;
                self.handle(wd, mask, cookie, &name, out);
            }
        }
        self.flush_moves(MOVE_WAIT, out);
        Ok(any)
    }

    /// Moves that waited longer than `wait` for their pair left the tree:
    /// they become removals.
    pub fn flush_moves(&mut self, wait: Duration, out: &mut Vec<Event>) {
        let now = Instant::now();
        let (old, young): (Vec<_>, Vec<_>) = std::mem::take(&mut self.moves)
            .into_iter()
            .partition(|m| now.duration_since(m.since) >= wait);
        self.moves = young;
        for m in old {
            if m.is_dir {
                self.forget_subtree(&m.path, true);
                out.push(Event::new(Kind::Remove, m.path, true));
            } else if !is_partial_name(base_name(&m.path)) {
                out.push(Event::new(Kind::Remove, m.path, false));
            }
        }
    }

    /// Time until the oldest pending move must be flushed.
    pub fn next_deadline(&self) -> Option<Duration> {
        let now = Instant::now();
        self.moves
            .iter()
            .map(|m| MOVE_WAIT.saturating_sub(now.duration_since(m.since)))
            .min()
    }

    fn handle(&mut self, wd: i32, mask: u32, cookie: u32, name: &[u8], out: &mut Vec<Event>) {
        if mask & libc::IN_Q_OVERFLOW != 0 {
            self.rescan(out);
            return;
        }
        if mask & libc::IN_IGNORED != 0 {
            if let Some(path) = self.wds.remove(&wd) {
                if self.dirs.get(&path) == Some(&wd) {
                    self.dirs.remove(&path);
                }
            }
            return;
        }
        let Some(dir) = self.wds.get(&wd).cloned() else {
            return;
        };
        if name.is_empty() {
            if dir.is_empty()
                && mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_UNMOUNT) != 0
            {
                out.push(Event::error(
                    String::new(),
                    format!(
                        "the watched directory {} was removed or moved away; watch it again",
                        self.root.display()
                    ),
                ));
            }
            return;
        }
        let Ok(name) = std::str::from_utf8(name) else {
            out.push(Event::error(
                dir.clone(),
                format!(
                    "skipping a file name that is not UTF-8 in {:?}",
                    self.abs(&dir)
                ),
            ));
            return;
        };
        let path = join(&dir, name);
        let is_dir = mask & libc::IN_ISDIR != 0;
        if mask & libc::IN_MOVED_FROM != 0 {
            self.moves.push(PendingMove {
                cookie,
                path,
                is_dir,
                since: Instant::now(),
            });
        } else if mask & libc::IN_MOVED_TO != 0 {
            match self.moves.iter().position(|m| m.cookie == cookie) {
                Some(i) => {
                    let m = self.moves.remove(i);
                    self.renamed(m.path, path, is_dir, out);
                }
                None => self.arrived(path, is_dir, out),
            }
        } else if mask & libc::IN_CREATE != 0 {
            if is_dir {
                out.push(Event::new(Kind::Add, path.clone(), true));
                self.walk_or_report(&path, out);
            } else if !is_partial_name(name) {
                out.push(Event::new(Kind::Add, path, false));
            }
        } else if mask & libc::IN_DELETE != 0 {
            if is_dir || !is_partial_name(name) {
                out.push(Event::new(Kind::Remove, path, is_dir));
            }
        } else if mask & (libc::IN_MODIFY | libc::IN_ATTRIB | libc::IN_CLOSE_WRITE) != 0
            && !is_dir
            && !is_partial_name(name)
        {
            let closed = mask & libc::IN_CLOSE_WRITE != 0;
            if let Some(last) = out.last_mut() {
                if last.path == path
                    && !last.is_dir
                    && matches!(last.kind, Kind::Add | Kind::Update)
                {
                    last.closed |= closed;
                    return;
                }
            }
            out.push(Event {
                closed,
                ..Event::new(Kind::Update, path, false)
            });
        }
    }

    fn renamed(&mut self, from: String, to: String, is_dir: bool, out: &mut Vec<Event>) {
        if is_dir {
            self.reprefix(&from, &to);
            out.push(Event {
                from: Some(from),
                ..Event::new(Kind::Rename, to, true)
            });
            return;
        }
        match (
            is_partial_name(base_name(&from)),
            is_partial_name(base_name(&to)),
        ) {
            (false, false) => out.push(Event {
                from: Some(from),
                closed: true,
                ..Event::new(Kind::Rename, to, false)
            }),
            (true, false) => out.push(Event {
                closed: true,
                ..Event::new(Kind::Add, to, false)
            }),
            (false, true) => out.push(Event::new(Kind::Remove, from, false)),
            (true, true) => {}
        }
    }

    fn arrived(&mut self, path: String, is_dir: bool, out: &mut Vec<Event>) {
        if is_dir {
            out.push(Event::new(Kind::Add, path.clone(), true));
            self.walk_or_report(&path, out);
        } else if !is_partial_name(base_name(&path)) {
            out.push(Event {
                closed: true,
                ..Event::new(Kind::Add, path, false)
            });
        }
    }

    fn reprefix(&mut self, from: &str, to: &str) {
        let prefix = format!("{from}/");
        for path in self.wds.values_mut() {
            if path == from || path.starts_with(&prefix) {
                *path = format!("{to}{}", &path[from.len()..]);
            }
        }
        self.dirs = self.wds.iter().map(|(wd, p)| (p.clone(), *wd)).collect();
    }

    /// Drops the watches of `dir` and everything under it.
    fn forget_subtree(&mut self, dir: &str, remove_watches: bool) {
        let prefix = format!("{dir}/");
        let gone: Vec<i32> = self
            .wds
            .iter()
            .filter(|(_, p)| p.as_str() == dir || p.starts_with(&prefix))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in gone {
            if let Some(p) = self.wds.remove(&wd) {
                if self.dirs.get(&p) == Some(&wd) {
                    self.dirs.remove(&p);
                }
            }
            if remove_watches {
                // SAFETY: plain syscall; failure (already gone) is fine.
                unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
            }
        }
    }

    /// Events were lost: re-watch every directory, drop watches of
    /// directories that are gone, and ask the consumer to rescan.
    fn rescan(&mut self, out: &mut Vec<Event>) {
        self.moves.clear();
        let before: Vec<i32> = self.wds.keys().copied().collect();
        self.wds.clear();
        self.dirs.clear();
        let mut events = Vec::new();
        if let Err(e) = self.watch_dir("") {
            events.push(Event::error(
                String::new(),
                format!("cannot watch {}: {}", self.root.display(), describe(&e)),
            ));
        }
        if let Err(message) = self.walk("", false, &mut events) {
            events.push(Event::error(String::new(), message));
        }
        for wd in before {
            if !self.wds.contains_key(&wd) {
                // SAFETY: plain syscall; failure (already gone) is fine.
                unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
            }
        }
        out.extend(events.into_iter().filter(|e| e.kind == Kind::Error));
        out.push(Event::new(Kind::Rescan, String::new(), true));
    }

    fn abs(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    fn watch_dir(&mut self, rel: &str) -> io::Result<()> {
        let abs = self.abs(rel);
        let c = CString::new(abs.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `c` is a valid NUL-terminated string; the result is checked.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), MASK) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(old) = self.wds.insert(wd, rel.to_string()) {
            if old != rel && self.dirs.get(&old) == Some(&wd) {
                self.dirs.remove(&old);
            }
        }
        self.dirs.insert(rel.to_string(), wd);
        Ok(())
    }

    /// A directory appeared: watch it and everything below, report what is
    /// already there.
    fn walk_or_report(&mut self, dir: &str, out: &mut Vec<Event>) {
        if let Err(message) = self.walk(dir, true, out) {
            out.push(Event::error(dir.to_string(), message));
        }
    }

    /// Watches `start` and every directory below it; with `synthesize`, also
    /// reports everything found as added (closing the creation race). Other
    /// problems become error events; the watch limit stops the walk and is
    /// returned.
    fn walk(&mut self, start: &str, synthesize: bool, out: &mut Vec<Event>) -> Result<(), String> {
        let mut stack = vec![start.to_string()];
        while let Some(dir) = stack.pop() {
            if !dir.is_empty() {
                if let Err(e) = self.watch_dir(&dir) {
                    match e.raw_os_error() {
                        Some(libc::ENOENT) | Some(libc::ENOTDIR) => continue,
                        Some(libc::ENOSPC) => return Err(watch_limit_message(&self.abs(&dir))),
                        _ => {
                            out.push(Event::error(
                                dir.clone(),
                                format!(
                                    "cannot watch {}: {}",
                                    self.abs(&dir).display(),
                                    describe(&e)
                                ),
                            ));
                            continue;
                        }
                    }
                }
            }
            let entries = match std::fs::read_dir(self.abs(&dir)) {
                Ok(entries) => entries,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                    continue
                }
                Err(e) => {
                    out.push(Event::error(
                        dir.clone(),
                        format!("cannot read {}: {}", self.abs(&dir).display(), describe(&e)),
                    ));
                    continue;
                }
            };
            for entry in entries {
                let Ok(entry) = entry else { continue };
                let os_name = entry.file_name();
                let Some(name) = os_name.to_str() else {
                    out.push(Event::error(
                        dir.clone(),
                        format!(
                            "skipping a file name that is not UTF-8 in {:?}",
                            self.abs(&dir)
                        ),
                    ));
                    continue;
                };
                let Ok(ft) = entry.file_type() else { continue };
                let child = join(&dir, name);
                if ft.is_dir() {
                    if synthesize {
                        out.push(Event::new(Kind::Add, child.clone(), true));
                    }
                    stack.push(child);
                } else if synthesize && !is_partial_name(name) {
                    out.push(Event::new(Kind::Add, child, false));
                }
            }
        }
        Ok(())
    }
}

fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_lowercase(),
        None => text,
    }
}

/// Where a [`Watcher`] hands its batches, on its thread.
pub trait Sink: Send + 'static {
    /// Whether the consumer would take a batch now. While it is busy, events
    /// gather into one larger batch (up to [`MAX_BATCH`]); beyond that the
    /// thread stops reading and the kernel queue may overflow into a rescan.
    fn ready(&self) -> bool {
        true
    }
    /// Takes a batch of events, in the order they happened.
    fn deliver(&mut self, events: Vec<Event>);
}

impl<F: FnMut(Vec<Event>) + Send + 'static> Sink for F {
    fn deliver(&mut self, events: Vec<Event>) {
        self(events)
    }
}

/// Events held for a busy consumer before the thread stops reading.
pub const MAX_BATCH: usize = 16_384;
/// How often a held batch is offered again to a busy consumer.
const RETRY: Duration = Duration::from_millis(1);

/// A [`Tree`] read on a background thread, batches handed to a [`Sink`].
pub struct Watcher {
    stop: Arc<AtomicBool>,
    wake: Arc<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Watches `root` (every directory is watched when this returns) and
    /// starts the reading thread.
    pub fn start<S: Sink>(root: &Path, mut sink: S) -> Result<Watcher, WatchError> {
        let mut first = Vec::new();
        let mut tree = Tree::open(root, &mut first)?;
        // SAFETY: plain syscall; the result is checked.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(WatchError(format!(
                "cannot create an eventfd: {}",
                describe(&io::Error::last_os_error())
            )));
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(raw) });
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_stop, thread_wake) = (stop.clone(), wake.clone());
        let thread = std::thread::Builder::new()
            .name("realize-watch".into())
            .spawn(move || {
                let stopping = || thread_stop.load(Ordering::SeqCst);
                let mut out = first;
                loop {
                    if !out.is_empty() {
                        // A full batch waits for the consumer; reading stops meanwhile.
                        while out.len() >= MAX_BATCH && !sink.ready() && !stopping() {
                            std::thread::sleep(RETRY);
                        }
                        if sink.ready() || out.len() >= MAX_BATCH {
                            sink.deliver(std::mem::take(&mut out));
                        }
                    }
                    if stopping() {
                        break;
                    }
                    let mut timeout = tree
                        .next_deadline()
                        .map_or(-1, |d| d.as_millis() as i32 + 1);
                    if !out.is_empty() {
                        timeout = RETRY.as_millis() as i32;
                    }
                    let mut fds = [
                        libc::pollfd {
                            fd: tree.fd(),
                            events: libc::POLLIN,
                            revents: 0,
                        },
                        libc::pollfd {
                            fd: thread_wake.as_raw_fd(),
                            events: libc::POLLIN,
                            revents: 0,
                        },
                    ];
                    // SAFETY: `fds` is a valid array of two pollfds.
                    let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
                    if r < 0 {
                        let e = io::Error::last_os_error();
                        if e.raw_os_error() == Some(libc::EINTR) {
                            continue;
                        }
                        out.push(Event::error(
                            String::new(),
                            format!("waiting for inotify events failed: {}", describe(&e)),
                        ));
                        sink.deliver(std::mem::take(&mut out));
                        break;
                    }
                    if stopping() {
                        break;
                    }
                    if fds[0].revents != 0 {
                        if let Err(e) = tree.read_events(&mut out) {
                            out.push(Event::error(String::new(), e.0));
                            sink.deliver(std::mem::take(&mut out));
                            break;
                        }
                    } else {
                        tree.flush_moves(MOVE_WAIT, &mut out);
                    }
                }
            })
            .map_err(|e| WatchError(format!("cannot start the watch thread: {e}")))?;
        Ok(Watcher {
            stop,
            wake,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it; idempotent.
    pub fn close(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let p =
                std::env::temp_dir().join(format!("realize-watch-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Reads events until `done` holds for what was collected, or 5 s pass.
    fn collect(tree: &mut Tree, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        collect_for(tree, Duration::from_secs(5), done)
    }

    fn collect_for(
        tree: &mut Tree,
        limit: Duration,
        done: impl Fn(&[Event]) -> bool,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        let start = Instant::now();
        while start.elapsed() < limit && !done(&out) {
            let mut fds = [libc::pollfd {
                fd: tree.fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            unsafe { libc::poll(fds.as_mut_ptr(), 1, 30) };
            tree.read_events(&mut out).unwrap();
            tree.flush_moves(MOVE_WAIT, &mut out);
        }
        out
    }

    fn has(events: &[Event], kind: Kind, path: &str) -> bool {
        events.iter().any(|e| e.kind == kind && e.path == path)
    }

    #[test]
    fn reports_a_file_written_at_the_top() {
        let d = Dir::new("top");
        let mut tree = Tree::open(&d.0, &mut Vec::new()).unwrap();
        fs::write(d.0.join("a.txt"), b"hello").unwrap();
        let ev = collect(&mut tree, |e| {
            e.iter().any(|e| e.path == "a.txt" && e.closed)
        });
        assert!(has(&ev, Kind::Add, "a.txt"), "{ev:?}");
        assert!(ev.iter().any(|e| e.path == "a.txt" && e.closed), "{ev:?}");
        fs::remove_file(d.0.join("a.txt")).unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Remove, "a.txt"));
        assert!(has(&ev, Kind::Remove, "a.txt"), "{ev:?}");
    }

    #[test]
    fn new_directories_are_watched_and_scanned() {
        let d = Dir::new("newdir");
        let mut tree = Tree::open(&d.0, &mut Vec::new()).unwrap();
        // Created in one go, before the watcher can add a watch on `a`.
        fs::create_dir_all(d.0.join("a/b/c")).unwrap();
        fs::write(d.0.join("a/b/c/early.txt"), b"x").unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Add, "a/b/c/early.txt"));
        assert!(has(&ev, Kind::Add, "a/b/c/early.txt"), "{ev:?}");
        assert!(ev
            .iter()
            .any(|e| e.path == "a" && e.is_dir && e.kind == Kind::Add));
        assert_eq!(tree.watched_dirs(), 4);
        fs::write(d.0.join("a/b/c/late.txt"), b"y").unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Add, "a/b/c/late.txt"));
        assert!(has(&ev, Kind::Add, "a/b/c/late.txt"), "{ev:?}");
    }

    #[test]
    fn renames_are_paired_and_directories_follow() {
        let d = Dir::new("rename");
        fs::create_dir_all(d.0.join("x/y")).unwrap();
        fs::write(d.0.join("x/y/f"), b"1").unwrap();
        let mut tree = Tree::open(&d.0, &mut Vec::new()).unwrap();
        fs::rename(d.0.join("x/y/f"), d.0.join("x/g")).unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Rename, "x/g"));
        let r = ev.iter().find(|e| e.kind == Kind::Rename).unwrap();
        assert_eq!(r.from.as_deref(), Some("x/y/f"));
        fs::rename(d.0.join("x"), d.0.join("z")).unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Rename, "z"));
        let r = ev.iter().find(|e| e.kind == Kind::Rename).unwrap();
        assert_eq!((r.from.as_deref(), r.is_dir), (Some("x"), true));
        // The renamed directory's watches now report under the new name.
        fs::write(d.0.join("z/y/h"), b"2").unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Add, "z/y/h"));
        assert!(has(&ev, Kind::Add, "z/y/h"), "{ev:?}");
    }

    #[test]
    fn moves_across_the_boundary_are_removals_and_additions() {
        let d = Dir::new("across");
        let outside = Dir::new("across-out");
        fs::create_dir_all(d.0.join("in/sub")).unwrap();
        fs::create_dir_all(outside.0.join("come/deep")).unwrap();
        fs::write(outside.0.join("come/deep/f"), b"1").unwrap();
        let mut tree = Tree::open(&d.0, &mut Vec::new()).unwrap();
        fs::rename(d.0.join("in"), outside.0.join("gone")).unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Remove, "in"));
        assert!(
            ev.iter()
                .any(|e| e.kind == Kind::Remove && e.path == "in" && e.is_dir),
            "{ev:?}"
        );
        assert_eq!(
            tree.watched_dirs(),
            1,
            "the moved-out subtree is no longer watched"
        );
        fs::rename(outside.0.join("come"), d.0.join("came")).unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Add, "came/deep/f"));
        assert!(has(&ev, Kind::Add, "came/deep/f"), "{ev:?}");
        assert_eq!(tree.watched_dirs(), 3);
    }

    #[test]
    fn partial_files_are_never_reported() {
        let d = Dir::new("partial");
        let mut tree = Tree::open(&d.0, &mut Vec::new()).unwrap();
        fs::write(d.0.join(".f.part"), b"data").unwrap();
        fs::rename(d.0.join(".f.part"), d.0.join("f")).unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Add, "f"));
        assert!(
            ev.iter()
                .any(|e| e.kind == Kind::Add && e.path == "f" && e.closed),
            "{ev:?}"
        );
        fs::rename(d.0.join("f"), d.0.join(".f.part")).unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Remove, "f"));
        assert!(has(&ev, Kind::Remove, "f"), "{ev:?}");
        fs::remove_file(d.0.join(".f.part")).unwrap();
        let ev = collect_for(&mut tree, Duration::from_millis(300), |_| false);
        assert!(ev.iter().all(|e| !e.path.contains(".part")), "{ev:?}");
    }

    #[test]
    fn symlinks_are_not_followed() {
        let d = Dir::new("symlink");
        let target = Dir::new("symlink-target");
        std::os::unix::fs::symlink(&target.0, d.0.join("link")).unwrap();
        let mut tree = Tree::open(&d.0, &mut Vec::new()).unwrap();
        assert_eq!(tree.watched_dirs(), 1);
        fs::write(target.0.join("outside"), b"x").unwrap();
        let ev = collect_for(&mut tree, Duration::from_millis(300), |_| false);
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn overflow_rewatches_and_asks_for_a_rescan() {
        let d = Dir::new("overflow");
        fs::create_dir(d.0.join("sub")).unwrap();
        let mut tree = Tree::open(&d.0, &mut Vec::new()).unwrap();
        let max: usize = read_sysctl("/proc/sys/fs/inotify/max_queued_events")
            .parse()
            .unwrap_or(16384);
        // Nobody reads while these are made: three events per file overflow the queue.
        for i in 0..max / 3 + 100 {
            fs::write(d.0.join(format!("sub/f{i}")), b"x").unwrap();
        }
        // Its creation is lost with the overflow: only the rescan can find it.
        fs::create_dir(d.0.join("sub/new")).unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Rescan, ""));
        assert!(
            has(&ev, Kind::Rescan, ""),
            "no rescan among {} events",
            ev.len()
        );
        assert_eq!(
            tree.watched_dirs(),
            3,
            "the rescan watched the new directory"
        );
        fs::write(d.0.join("sub/after"), b"y").unwrap();
        let ev = collect(&mut tree, |e| has(e, Kind::Add, "sub/after"));
        assert!(has(&ev, Kind::Add, "sub/after"));
    }

    #[test]
    fn a_missing_root_is_a_clear_error() {
        let e = Tree::open(Path::new("/nonexistent/realize"), &mut Vec::new())
            .err()
            .unwrap();
        assert!(e.0.contains("no such file or directory"), "{e}");
        assert!(
            watch_limit_message(Path::new("/x")).contains("sysctl fs.inotify.max_user_watches=")
        );
    }

    #[test]
    fn the_thread_delivers_batches_and_closes() {
        let d = Dir::new("thread");
        let (tx, rx) = std::sync::mpsc::channel();
        let mut w = Watcher::start(&d.0, move |batch: Vec<Event>| {
            let _ = tx.send(batch);
        })
        .unwrap();
        fs::write(d.0.join("t"), b"x").unwrap();
        let batch = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(has(&batch, Kind::Add, "t"), "{batch:?}");
        w.close();
        w.close();
    }
}
