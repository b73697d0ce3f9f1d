//! Whole small files in one call each, so a tree of thousands of them costs
//! one thread-pool round trip per file rather than a dozen: `fetch_file`
//! (open, read, hash) on the sending side, `put_file` (check the hash, write,
//! set the mtime, rename into place) on the receiving side. Also the
//! durability barrier (`sync_fs`) and the early start of write-back for large
//! writes (`start_writeback`).
//!
//! The caller has resolved and checked the directory; the file's own name is
//! never followed if it is a symbolic link (`O_NOFOLLOW`), and `put_file`
//! never replaces a final file that appeared meanwhile (`RENAME_NOREPLACE`).

use std::ffi::CString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::file::{FileError, Input};
use crate::hash::{hash_bytes, ChainingValue, FileHash};
use crate::iov::Pieces;

/// Which version of a file this is: a move deletes its source only if it still matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// Bytes.
    pub size: u64,
    /// Modification time in milliseconds, computed as Node computes `mtimeMs`.
    pub mtime_ms: f64,
    /// Inode number.
    pub ino: u64,
}

impl Stamp {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: meta.len(),
            mtime_ms: meta.mtime() as f64 * 1e3 + meta.mtime_nsec() as f64 / 1e6,
            ino: meta.ino(),
        }
    }
}

/// A whole file read in one go, with its hash tree.
#[derive(Debug)]
pub struct Fetched {
    /// Its bytes.
    pub data: Vec<u8>,
    /// Its BLAKE3 hash tree.
    pub hash: FileHash,
    /// The version that was read.
    pub stamp: Stamp,
}

/// Why a whole-file call failed.
#[derive(Debug)]
pub enum StoreError {
    /// Opening or reading the file failed.
    File(FileError),
    /// The system refused an operation on `path`.
    Io {
        /// What was being done ("write", "rename", ...).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// The file is larger than the caller's limit (it grew since it was listed).
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size now.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The bytes to put do not hash to the root they came with.
    Mismatch {
        /// The file's final name.
        name: String,
    },
    /// A final file of that name appeared while the new one was on its way.
    Exists {
        /// The file's final name.
        name: String,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::File(e) => e.fmt(f),
            StoreError::Io { what, path, error } => {
                write!(f, "cannot {} {}: {}", what, path.display(), error)
            }
            StoreError::TooLarge { path, size, max } => write!(
                f,
                "{} has grown to {} bytes since it was listed (more than {}); kept",
                path.display(),
                size,
                max
            ),
            StoreError::Mismatch { name } => write!(
                f,
                "{name}: the data does not match its BLAKE3 root; nothing written"
            ),
            StoreError::Exists { name } => write!(
                f,
                "{name} appeared at the destination while it was being synced; kept both"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<FileError> for StoreError {
    fn from(e: FileError) -> StoreError {
        StoreError::File(e)
    }
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |error| StoreError::Io {
        what,
        path: path.to_owned(),
        error,
    }
}

/// Reads the whole regular file at `path` (not following a symbolic link) and
/// hashes it, refusing one larger than `max` bytes.
pub fn fetch_file(path: &Path, max: u64) -> Result<Fetched, StoreError> {
    let mut data = Vec::new();
    let (hash, stamp) = fetch_file_into(path, max, &mut data)?;
    Ok(Fetched { data, hash, stamp })
}

/// [`fetch_file`], its bytes appended to `out` (left as it was on failure).
fn fetch_file_into(
    path: &Path,
    max: u64,
    out: &mut Vec<u8>,
) -> Result<(FileHash, Stamp), StoreError> {
    let input = Input::open_with(path, libc::O_NOFOLLOW)?;
    if input.size() > max {
        return Err(StoreError::TooLarge {
            path: path.to_owned(),
            size: input.size(),
            max,
        });
    }
    let start = out.len();
    out.resize(start + input.size() as usize, 0);
    // A write during the read would make the bytes a mix of two versions.
    if let Err(e) = input
        .read_exact_at(&mut out[start..], 0)
        .and_then(|()| input.check_unchanged())
    {
        out.truncate(start);
        return Err(e.into());
    }
    Ok((hash_bytes(&out[start..]), Stamp::of(input.metadata())))
}

/// Writes `data` as the file `final_name` in the directory `dir`: checks it
/// hashes to `root` before touching anything, writes it to `part_name`, sets
/// its mtime and renames it to `final_name`, which must not exist. Not
/// durable by itself: see [`sync_fs`].
pub fn put_file(
    dir: &Path,
    part_name: &str,
    final_name: &str,
    data: &[u8],
    mtime_ms: f64,
    root: &ChainingValue,
) -> Result<Stamp, StoreError> {
    let r = PutRequest {
        dir,
        part_name,
        final_name,
        data,
        mtime_ms,
        root: *root,
    };
    put_in(&open_dir(dir)?, &r)
}

fn open_dir(dir: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(io_err("open directory", dir))
}

/// [`put_file`] of `r`, its directory already open as `dir_file`.
fn put_in(dir_file: &File, r: &PutRequest<'_>) -> Result<Stamp, StoreError> {
    if hash_bytes(r.data).root != r.root {
        return Err(StoreError::Mismatch {
            name: r.final_name.to_owned(),
        });
    }
    let part_path = r.dir.join(r.part_name);
    let part = c_name(r.part_name, &part_path)?;
    let fin = c_name(r.final_name, &part_path)?;
    let file = create_partial(dir_file, &part, &part_path)?;
    let put = write_then_rename(
        file,
        dir_file,
        &part,
        &fin,
        r.data,
        r.mtime_ms,
        &part_path,
        r.final_name,
    );
    if put.is_err() {
        // A small file is cheaper to send again than to resume: leave no
        // partial behind (on a full disk least of all).
        // SAFETY: a valid directory fd and a NUL-terminated name.
        unsafe { libc::unlinkat(dir_file.as_raw_fd(), part.as_ptr(), 0) };
    }
    put
}

/// The partial `part` in `dir`, empty and open for writing. Made new
/// (`O_EXCL`: certainly a regular file of ours, no stat needed); one left by
/// an earlier run is opened, checked to be a regular file, and truncated.
fn create_partial(dir: &File, part: &CString, part_path: &Path) -> Result<File, StoreError> {
    let open = |extra: libc::c_int| {
        // SAFETY: a valid directory fd and a NUL-terminated name.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                part.as_ptr(),
                libc::O_WRONLY
                    | libc::O_CREAT
                    | libc::O_NOFOLLOW
                    | libc::O_NONBLOCK
                    | libc::O_CLOEXEC
                    | extra,
                0o644 as libc::c_uint,
            )
        };
        if fd < 0 {
            Err(io::Error::last_os_error())
        } else {
            // SAFETY: fd was just opened and is owned by nobody else.
            Ok(unsafe { File::from_raw_fd(fd) })
        }
    };
    match open(libc::O_EXCL) {
        Ok(file) => return Ok(file),
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(io_err("create", part_path)(e))
        }
        Err(_) => {}
    }
    let file = open(libc::O_TRUNC).map_err(io_err("create", part_path))?;
    let meta = file.metadata().map_err(io_err("stat", part_path))?;
    if !meta.is_file() {
        return Err(io_err("write", part_path)(io::Error::other(
            "not a regular file",
        )));
    }
    Ok(file)
}

#[allow(clippy::too_many_arguments)]
fn write_then_rename(
    mut file: File,
    dir: &File,
    part: &CString,
    fin: &CString,
    data: &[u8],
    mtime_ms: f64,
    part_path: &Path,
    final_name: &str,
) -> Result<Stamp, StoreError> {
    file.write_all(data).map_err(io_err("write", part_path))?;
    set_mtime(&file, mtime_ms).map_err(io_err("set the mtime of", part_path))?;
    let stamp = Stamp::of(&file.metadata().map_err(io_err("stat", part_path))?);
    drop(file);
    rename_no_replace(dir, part, fin).map_err(|e| {
        if e.raw_os_error() == Some(libc::EEXIST) {
            StoreError::Exists {
                name: final_name.to_owned(),
            }
        } else {
            io_err("rename", part_path)(e)
        }
    })?;
    Ok(stamp)
}

/// One file for [`put_files`]: the arguments of [`put_file`].
#[derive(Debug, Clone, Copy)]
pub struct PutRequest<'a> {
    /// The checked directory that will hold it.
    pub dir: &'a Path,
    /// Its partial name in `dir`.
    pub part_name: &'a str,
    /// Its final name in `dir`.
    pub final_name: &'a str,
    /// Its bytes.
    pub data: &'a [u8],
    /// Its mtime, in milliseconds.
    pub mtime_ms: f64,
    /// The BLAKE3 root `data` must hash to.
    pub root: ChainingValue,
}

/// Whole files read by [`fetch_files`]: their bytes end to end in `data`, in
/// the order of the paths (a file's are `stamp.size` bytes), so a batch
/// crosses into JavaScript as one buffer rather than one per file.
#[derive(Debug)]
pub struct FetchedBatch {
    /// The bytes of the files read, end to end.
    pub data: Vec<u8>,
    /// Per path, its hash tree and the version read, or why not.
    pub files: Vec<Result<(FileHash, Stamp), StoreError>>,
}

/// [`fetch_file`] for each path, one result per path. One after another:
/// the batches in flight already keep the cores busy.
pub fn fetch_files(paths: &[PathBuf], max: u64) -> FetchedBatch {
    let mut data = Vec::new();
    let files = paths
        .iter()
        .map(|p| fetch_file_into(p, max, &mut data))
        .collect();
    FetchedBatch { data, files }
}

/// The hash tree and version of each path as [`fetch_file`] reads them, without
/// the bytes: how a batch of small files the other side holds is compared.
/// One read buffer serves the batch.
pub fn hash_files(paths: &[PathBuf], max: u64) -> Vec<Result<(FileHash, Stamp), StoreError>> {
    let mut buf = Vec::new();
    paths
        .iter()
        .map(|p| {
            buf.clear();
            fetch_file_into(p, max, &mut buf)
        })
        .collect()
}

/// [`put_file`] for each request, one result per request. One after another:
/// files created in one directory at once contend for its lock.
/// Each directory is opened once for the files it receives in a row.
pub fn put_files(requests: &[PutRequest<'_>]) -> Vec<Result<Stamp, StoreError>> {
    let mut open: Option<(&Path, File)> = None;
    requests
        .iter()
        .map(|r| {
            if open.as_ref().is_none_or(|(d, _)| *d != r.dir) {
                open = Some((r.dir, open_dir(r.dir)?));
            }
            let (_, dir_file) = open.as_ref().expect("opened above");
            put_in(dir_file, r)
        })
        .collect()
}

fn c_name(name: &str, for_path: &Path) -> Result<CString, StoreError> {
    if name.is_empty() || name.contains('/') {
        return Err(io_err("name", for_path)(io::Error::other(
            "not a single path segment",
        )));
    }
    CString::new(name.as_bytes())
        .map_err(|_| io_err("name", for_path)(io::Error::other("name holds a NUL byte")))
}

fn set_mtime(file: &File, mtime_ms: f64) -> io::Result<()> {
    if !mtime_ms.is_finite() {
        return Err(io::Error::other("mtime is not a finite number"));
    }
    let secs = (mtime_ms / 1e3).floor();
    let nanos = ((mtime_ms - secs * 1e3) * 1e6)
        .round()
        .clamp(0.0, 999_999_999.0);
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: nanos as libc::c_long,
    };
    let times = [t, t];
    // SAFETY: a valid fd and two timespecs.
    if unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `renameat2(RENAME_NOREPLACE)`; where the file system cannot do it, a check
/// then a plain rename (a window of one system call).
fn rename_no_replace(dir: &File, from: &CString, to: &CString) -> io::Result<()> {
    let d = dir.as_raw_fd();
    // SAFETY: valid fd and NUL-terminated names.
    let r = unsafe { libc::renameat2(d, from.as_ptr(), d, to.as_ptr(), libc::RENAME_NOREPLACE) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) {
        return Err(e);
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid fd, name and out pointer.
    if unsafe { libc::fstatat(d, to.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) } == 0 {
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    // SAFETY: as above.
    if unsafe { libc::renameat(d, from.as_ptr(), d, to.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes everything written to the file system holding `dir` durable
/// (`syncfs`): one barrier for a whole batch of finished files.
pub fn sync_fs(dir: &Path) -> Result<(), StoreError> {
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(io_err("open directory", dir))?;
    // SAFETY: a valid fd.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(io_err("flush", dir)(io::Error::last_os_error()));
    }
    Ok(())
}

/// Bytes of one record of [`versions_of`].
pub const VERSION_RECORD: usize = 40;

/// File systems whose ctime changes with every write and cannot be set back:
/// ext2/3/4, XFS, Btrfs, tmpfs, F2FS, ZFS, bcachefs, overlayfs. On others
/// (FAT and exFAT keep no ctime at all; FUSE and network file systems may
/// not keep one faithfully) no version is given, so no hash is remembered.
const TRUSTED_CTIME: [i64; 8] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0xF2F5_2010,
    0x2FC1_2FC1,
    0xCA45_1A4E,
    0x794C_7630,
];

/// The exact version of each path, for a cache of hashes: one record of
/// device, inode, size, mtime and ctime (nanoseconds since the epoch), each
/// 8 bytes little-endian, per path, in order; all zeros for a path that is
/// not a regular file (lstat: a symbolic link is never followed), cannot be
/// stat'ed, has a time out of range, or lies on a file system not in
/// [`TRUSTED_CTIME`]. One call for a batch: a stat is cheap, a round trip is not.
pub fn versions_of(paths: &[PathBuf]) -> Vec<u8> {
    let mut out = vec![0u8; paths.len() * VERSION_RECORD];
    let mut trusted = std::collections::HashMap::new();
    for (record, path) in out.chunks_exact_mut(VERSION_RECORD).zip(paths) {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            continue;
        };
        if !meta.file_type().is_file()
            || !*trusted
                .entry(meta.dev())
                .or_insert_with(|| keeps_ctime(path))
        {
            continue;
        }
        let ns = |sec: i64, nsec: i64| i64::try_from(sec as i128 * 1_000_000_000 + nsec as i128);
        let (Ok(mtime), Ok(ctime)) = (
            ns(meta.mtime(), meta.mtime_nsec()),
            ns(meta.ctime(), meta.ctime_nsec()),
        ) else {
            continue;
        };
        let fields = [
            meta.dev().to_le_bytes(),
            meta.ino().to_le_bytes(),
            meta.size().to_le_bytes(),
            mtime.to_le_bytes(),
            ctime.to_le_bytes(),
        ];
        for (slot, field) in record.chunks_exact_mut(8).zip(fields) {
            slot.copy_from_slice(&field);
        }
    }
    out
}

/// Whether the file system holding `path` is one of [`TRUSTED_CTIME`].
fn keeps_ctime(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes only into the struct it is given.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    TRUSTED_CTIME.contains(&(st.f_type as i64))
}

/// Starts writing `[offset, offset + len)` of the open file `fd` to disk
/// without waiting for it, so a later barrier finds little left to do.
pub fn start_writeback(fd: i32, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(off), Ok(n)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(io::Error::other("range out of bounds"));
    };
    // SAFETY: sync_file_range only reads its integer arguments; a bad fd is EBADF.
    if unsafe { libc::sync_file_range(fd, off, n, libc::SYNC_FILE_RANGE_WRITE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Writes `pieces`, in order, at `offset` of `file`: one pwritev for many
/// pieces, carrying on after a short write.
pub fn write_pieces_at(file: &File, mut offset: u64, pieces: &[&[u8]]) -> io::Result<()> {
    let mut rest = Pieces::new(pieces);
    while !rest.is_done() {
        let iov = rest.iovecs(|_| true);
        let Ok(at) = i64::try_from(offset) else {
            return Err(io::Error::other("offset out of bounds"));
        };
        // SAFETY: every iovec points into a slice borrowed for this call; the
        // kernel only reads them.
        let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), iov.len() as i32, at) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the file took no bytes",
            ));
        }
        offset += n as u64;
        rest.advance(n as usize);
    }
    Ok(())
}

/// Takes an exclusive open-file-description lock on the whole of `fd`
/// without waiting: true when taken, false when another open file (another
/// process, or another open of the file here) holds one. Released when every
/// descriptor of this open file is closed.
pub fn try_lock_exclusive(fd: i32) -> io::Result<bool> {
    // SAFETY: flock is plain data; zeroed is a valid value for every field.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: fcntl reads the flock we own; a bad fd is EBADF.
    if unsafe { libc::fcntl(fd, libc::F_OFD_SETLK, &lock) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn versions_are_records_of_regular_files_only() {
        let dir = TempDir::new("store-versions");
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("l")).unwrap();
        let paths = ["f", "l", "missing", "."].map(|n| dir.path().join(n));
        let out = versions_of(&paths);
        assert_eq!(out.len(), 4 * VERSION_RECORD);
        let meta = std::fs::metadata(&file).unwrap();
        let field = |r: usize, i: usize| {
            let at = r * VERSION_RECORD + i * 8;
            u64::from_le_bytes(out[at..at + 8].try_into().unwrap())
        };
        assert_eq!(
            (field(0, 0), field(0, 1), field(0, 2)),
            (meta.dev(), meta.ino(), 5)
        );
        let mtime_ns = meta.mtime() as u64 * 1_000_000_000 + meta.mtime_nsec() as u64;
        assert_eq!(field(0, 3), mtime_ns);
        assert_eq!(
            field(0, 4),
            meta.ctime() as u64 * 1_000_000_000 + meta.ctime_nsec() as u64
        );
        assert!(
            out[VERSION_RECORD..].iter().all(|&b| b == 0),
            "a link, a missing file, a directory: zeros"
        );
    }

    #[test]
    fn pieces_are_written_in_order_at_the_offset() {
        let dir = TempDir::new("store-pieces");
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let many: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| vec![b'a' + (i % 26) as u8; 1 + (i % 3) as usize])
            .collect();
        let pieces: Vec<&[u8]> = std::iter::once(&b""[..])
            .chain(many.iter().map(|p| &p[..]))
            .collect();
        write_pieces_at(&file, 4, &pieces).unwrap();
        let got = std::fs::read(&path).unwrap();
        let want: Vec<u8> = b"0123".iter().copied().chain(many.concat()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_exclusive_lock_excludes_other_opens_until_closed() {
        use std::os::fd::AsRawFd;
        let dir = TempDir::new("store-lock");
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        let a = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let b = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        assert!(try_lock_exclusive(a.as_raw_fd()).unwrap());
        assert!(
            try_lock_exclusive(a.as_raw_fd()).unwrap(),
            "the holder may take it again"
        );
        assert!(!try_lock_exclusive(b.as_raw_fd()).unwrap());
        drop(a);
        assert!(try_lock_exclusive(b.as_raw_fd()).unwrap());
    }

    #[test]
    fn put_then_fetch_round_trips() {
        let dir = TempDir::new("store-put");
        let data = b"hello, store".to_vec();
        let root = hash_bytes(&data).root;
        let stamp = put_file(
            dir.path(),
            ".a.part",
            "a",
            &data,
            1_600_000_000_123.5,
            &root,
        )
        .unwrap();
        assert_eq!(stamp.size, data.len() as u64);
        assert_eq!(stamp.mtime_ms, 1_600_000_000_123.5);
        assert!(!dir.path().join(".a.part").exists());
        let got = fetch_file(&dir.path().join("a"), 1 << 20).unwrap();
        assert_eq!(got.data, data);
        assert_eq!(got.hash.root, root);
        assert_eq!(got.stamp, stamp);
    }

    #[test]
    fn put_refuses_bad_hash_and_existing_final() {
        let dir = TempDir::new("store-refuse");
        let root = hash_bytes(b"other").root;
        let e = put_file(dir.path(), ".a.part", "a", b"data", 0.0, &root).unwrap_err();
        assert!(e.to_string().contains("does not match its BLAKE3"), "{e}");
        assert!(!dir.path().join(".a.part").exists());
        std::fs::write(dir.path().join("a"), b"newer").unwrap();
        let root = hash_bytes(b"data").root;
        let e = put_file(dir.path(), ".a.part", "a", b"data", 0.0, &root).unwrap_err();
        assert!(e.to_string().contains("appeared at the destination"), "{e}");
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"newer");
        assert!(
            !dir.path().join(".a.part").exists(),
            "no partial left behind"
        );
    }

    #[test]
    fn put_replaces_a_partial_left_behind_but_never_writes_through_anything_else() {
        let dir = TempDir::new("store-stale");
        let data = b"fresh".to_vec();
        let root = hash_bytes(&data).root;
        std::fs::write(
            dir.path().join(".a.part"),
            b"an earlier run, longer than the file",
        )
        .unwrap();
        put_file(dir.path(), ".a.part", "a", &data, 0.0, &root).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), data);
        // A FIFO (or a device) under the partial name is refused, not opened for writing.
        let fifo = std::ffi::CString::new(dir.path().join(".b.part").to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        assert!(put_file(dir.path(), ".b.part", "b", &data, 0.0, &root).is_err());
        assert!(!dir.path().join("b").exists());
    }

    #[test]
    fn fetch_refuses_links_and_large_files() {
        let dir = TempDir::new("store-fetch");
        std::fs::write(dir.path().join("big"), vec![7u8; 100]).unwrap();
        let e = fetch_file(&dir.path().join("big"), 99).unwrap_err();
        assert!(e.to_string().contains("since it was listed"), "{e}");
        std::os::unix::fs::symlink("big", dir.path().join("link")).unwrap();
        assert!(fetch_file(&dir.path().join("link"), 1000).is_err());
    }

    #[test]
    fn hashed_in_a_batch_as_fetched() {
        let dir = TempDir::new("store-hash-batch");
        std::fs::write(dir.path().join("a"), b"first").unwrap();
        std::fs::write(dir.path().join("c"), vec![3u8; 5000]).unwrap();
        let paths = ["a", "missing", "c"].map(|n| dir.path().join(n));
        let got = hash_files(&paths, 4096);
        assert_eq!(got.len(), 3);
        let (hash, stamp) = got[0].as_ref().unwrap();
        assert_eq!(hash.root, hash_bytes(b"first").root);
        assert_eq!(stamp.size, 5);
        assert!(got[1].is_err());
        // Over the limit: it grew since it was listed.
        assert!(got[2]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("since it was listed"));
    }

    #[test]
    fn a_file_written_to_while_read_is_refused() {
        use std::os::unix::fs::FileExt;
        let dir = TempDir::new("store-changed");
        let path = dir.path().join("f");
        std::fs::write(&path, b"before").unwrap();
        let input = Input::open(&path).unwrap();
        input.check_unchanged().unwrap();
        // The same size: only the file's times show the write.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(b"after!", 0).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        f.set_modified(later).unwrap();
        let e = input.check_unchanged().unwrap_err();
        assert!(
            e.to_string().contains("changed while it was being read"),
            "{e}"
        );
    }

    #[test]
    fn put_refuses_names_with_slashes() {
        let dir = TempDir::new("store-names");
        let root = hash_bytes(b"x").root;
        assert!(put_file(dir.path(), "../x", "x", b"x", 0.0, &root).is_err());
        sync_fs(dir.path()).unwrap();
    }

    #[test]
    fn batches_give_one_result_per_file() {
        let dir = TempDir::new("store-batch");
        let (a, b) = (b"first".as_slice(), b"second".as_slice());
        let req = |name, part, data: &'static [u8], root| PutRequest {
            dir: dir.path(),
            part_name: part,
            final_name: name,
            data,
            mtime_ms: 1e12,
            root,
        };
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let missing = dir.path().join("missing");
        let in_dir = |d, name, part| PutRequest {
            dir: d,
            ..req(name, part, a, hash_bytes(a).root)
        };
        let got = put_files(&[
            req("a", ".a.part", a, hash_bytes(a).root),
            req("b", ".b.part", b, hash_bytes(a).root),
            in_dir(&missing, "c", ".c.part"),
            in_dir(&sub, "d", ".d.part"),
            req("e", ".e.part", b, hash_bytes(b).root),
        ]);
        assert!(got[0].is_ok() && got[1].is_err() && got[2].is_err());
        assert!(
            got[3].is_ok() && got[4].is_ok(),
            "each directory opened for the files it receives"
        );
        assert_eq!(std::fs::read(sub.join("d")).unwrap(), a);
        assert_eq!(std::fs::read(dir.path().join("e")).unwrap(), b);
        std::fs::write(dir.path().join("f"), b"fff").unwrap();
        let paths = [
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("f"),
        ];
        let got = fetch_files(&paths, 100);
        assert!(got.files[1].is_err(), "b was never put");
        let (hash, stamp) = got.files[0].as_ref().unwrap();
        assert_eq!(
            (hash.root, stamp.size),
            (hash_bytes(a).root, a.len() as u64)
        );
        assert_eq!(
            got.files[2].as_ref().unwrap().0.root,
            hash_bytes(b"fff").root
        );
        assert_eq!(
            got.data,
            [a, b"fff"].concat(),
            "the files read, end to end; none of the failed one"
        );
    }
}
