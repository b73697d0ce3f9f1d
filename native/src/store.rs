//! fetchFiles, hashFiles, putFiles, syncFs, startWriteback, scanDir, writeBlocks,
//! tryLockExclusive, versionsOf: batches of whole small files in one call, the
//! durability barrier, early write-back, a directory listed in one call,
//! bytes written and hashed in one pass, the partial-file lock, and exact
//! file versions for the cache of hashes.

use std::fs::File;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::path::PathBuf;

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Result, Task};
use napi_derive::napi;
use realize_core as core;

use crate::args::{fail, invalid, offset};

/// Which version of a file this is.
#[napi(object)]
pub struct FileStamp {
    pub size: f64,
    /// Milliseconds since the epoch, as `fs.Stats.mtimeMs`.
    pub mtime: f64,
    pub ino: f64,
}

impl From<core::Stamp> for FileStamp {
    fn from(s: core::Stamp) -> FileStamp {
        FileStamp {
            size: s.size as f64,
            mtime: s.mtime_ms,
            ino: s.ino as f64,
        }
    }
}

/// A whole file's hash tree and version; its bytes are in the batch's `data`.
#[napi(object)]
pub struct FetchedFile {
    pub root: String,
    pub blocks: Vec<String>,
    pub size: f64,
    pub mtime: f64,
    pub ino: f64,
}

/// One file of a batch: what was read, or why not.
#[napi(object)]
pub struct FetchOutcome {
    pub file: Option<FetchedFile>,
    pub error: Option<String>,
}

/// A batch of whole files: the bytes of those read, end to end in path order
/// (`size` bytes each), in one buffer.
#[napi(object)]
pub struct FetchedFiles {
    pub data: Buffer,
    pub files: Vec<FetchOutcome>,
}

/// The arguments of fetchFiles and hashFiles: whole files, each at most `max` bytes.
pub struct WholeFiles {
    paths: Vec<PathBuf>,
    max: u64,
}

impl WholeFiles {
    fn new(paths: Vec<String>, max_size: f64) -> Result<WholeFiles> {
        Ok(WholeFiles {
            paths: paths.into_iter().map(PathBuf::from).collect(),
            max: offset("maxSize", max_size)?,
        })
    }
}

/// What reading one whole file gave: its hash tree and version, or why not.
type WholeRead = std::result::Result<(core::FileHash, core::Stamp), core::StoreError>;

pub struct FetchFilesTask(WholeFiles);

impl Task for FetchFilesTask {
    type Output = core::FetchedBatch;
    type JsValue = FetchedFiles;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(core::fetch_files(&self.0.paths, self.0.max))
    }

    fn resolve(&mut self, _: Env, out: Self::Output) -> Result<FetchedFiles> {
        Ok(FetchedFiles {
            data: out.data.into(),
            files: out.files.into_iter().map(FetchOutcome::from).collect(),
        })
    }
}

impl From<WholeRead> for FetchOutcome {
    fn from(r: WholeRead) -> Self {
        match r {
            Ok((hash, stamp)) => {
                let stamp = FileStamp::from(stamp);
                FetchOutcome {
                    file: Some(FetchedFile {
                        root: core::to_hex(&hash.root),
                        blocks: hash.blocks.iter().map(core::to_hex).collect(),
                        size: stamp.size,
                        mtime: stamp.mtime,
                        ino: stamp.ino,
                    }),
                    error: None,
                }
            }
            Err(e) => FetchOutcome {
                file: None,
                error: Some(e.to_string()),
            },
        }
    }
}

pub struct HashFilesTask(WholeFiles);

impl Task for HashFilesTask {
    type Output = Vec<WholeRead>;
    type JsValue = Vec<FetchOutcome>;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(core::hash_files(&self.0.paths, self.0.max))
    }

    fn resolve(&mut self, _: Env, out: Self::Output) -> Result<Vec<FetchOutcome>> {
        Ok(out.into_iter().map(FetchOutcome::from).collect())
    }
}

/// Reads and hashes each whole regular file of `paths` (symbolic links refused), each at most `maxSize` bytes.
#[napi(ts_return_type = "Promise<FetchedFiles>")]
pub fn fetch_files(paths: Vec<String>, max_size: f64) -> Result<AsyncTask<FetchFilesTask>> {
    Ok(AsyncTask::new(FetchFilesTask(WholeFiles::new(
        paths, max_size,
    )?)))
}

/// fetchFiles without the bytes: each file's hash tree and version, or why not.
#[napi(ts_return_type = "Promise<FetchOutcome[]>")]
pub fn hash_files(paths: Vec<String>, max_size: f64) -> Result<AsyncTask<HashFilesTask>> {
    Ok(AsyncTask::new(HashFilesTask(WholeFiles::new(
        paths, max_size,
    )?)))
}

/// One file to put: its place, its bytes, its mtime and root.
#[napi(object)]
pub struct PutFile {
    pub dir: String,
    pub part_name: String,
    pub final_name: String,
    pub data: Buffer,
    pub mtime: f64,
    pub root: String,
}

/// One file of a batch: its new version, or why not.
#[napi(object)]
pub struct PutOutcome {
    pub stamp: Option<FileStamp>,
    pub error: Option<String>,
}

struct PutSpec {
    dir: PathBuf,
    part_name: String,
    final_name: String,
    data: Buffer,
    mtime: f64,
    root: core::ChainingValue,
}

pub struct PutFilesTask(Vec<PutSpec>);

impl Task for PutFilesTask {
    type Output = Vec<std::result::Result<core::Stamp, core::StoreError>>;
    type JsValue = Vec<PutOutcome>;

    fn compute(&mut self) -> Result<Self::Output> {
        let requests: Vec<core::PutRequest<'_>> = self
            .0
            .iter()
            .map(|f| core::PutRequest {
                dir: &f.dir,
                part_name: &f.part_name,
                final_name: &f.final_name,
                data: &f.data,
                mtime_ms: f.mtime,
                root: f.root,
            })
            .collect();
        Ok(core::put_files(&requests))
    }

    fn resolve(&mut self, _: Env, out: Self::Output) -> Result<Vec<PutOutcome>> {
        Ok(out
            .into_iter()
            .map(|r| match r {
                Ok(s) => PutOutcome {
                    stamp: Some(s.into()),
                    error: None,
                },
                Err(e) => PutOutcome {
                    stamp: None,
                    error: Some(e.to_string()),
                },
            })
            .collect())
    }
}

/// Writes each file of `files` through its partial name, checked against its root, with its mtime in ms.
/// The bytes are used where they are, never copied.
#[napi(ts_return_type = "Promise<PutOutcome[]>")]
pub fn put_files(files: Vec<PutFile>) -> Result<AsyncTask<PutFilesTask>> {
    let mut specs = Vec::with_capacity(files.len());
    for f in files {
        let root = core::from_hex(&f.root, 0).map_err(|_| invalid("root is not 64 hex digits"))?;
        specs.push(PutSpec {
            dir: f.dir.into(),
            part_name: f.part_name,
            final_name: f.final_name,
            data: f.data,
            mtime: f.mtime,
            root,
        });
    }
    Ok(AsyncTask::new(PutFilesTask(specs)))
}

pub struct SyncFsTask(PathBuf);

impl Task for SyncFsTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        core::sync_fs(&self.0).map_err(fail)
    }

    fn resolve(&mut self, _: Env, _: ()) -> Result<()> {
        Ok(())
    }
}

/// Makes everything written to the file system holding `dir` durable (syncfs).
#[napi(ts_return_type = "Promise<void>")]
pub fn sync_fs(dir: String) -> AsyncTask<SyncFsTask> {
    AsyncTask::new(SyncFsTask(dir.into()))
}

pub struct WritebackTask {
    fd: i32,
    offset: u64,
    length: u64,
}

impl Task for WritebackTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        core::start_writeback(self.fd, self.offset, self.length).map_err(fail)
    }

    fn resolve(&mut self, _: Env, _: ()) -> Result<()> {
        Ok(())
    }
}

/// Starts writing a range of the open file `fd` to disk, without waiting for the disk.
#[napi(ts_return_type = "Promise<void>")]
pub fn start_writeback(fd: i32, offset_: f64, length: f64) -> Result<AsyncTask<WritebackTask>> {
    Ok(AsyncTask::new(WritebackTask {
        fd,
        offset: offset("offset", offset_)?,
        length: offset("length", length)?,
    }))
}

/// One entry of a directory; `size`, `mtime` and `ino` only for a regular file.
pub struct WriteBlocksTask {
    fd: i32,
    offset: u64,
    file_size: u64,
    pieces: Vec<Buffer>,
}

impl Task for WriteBlocksTask {
    type Output = Vec<core::ChainingValue>;
    type JsValue = Vec<String>;

    fn compute(&mut self) -> Result<Self::Output> {
        // SAFETY: ManuallyDrop: the descriptor is the caller's, open until
        // this task settles; a bad one fails the write.
        let file = ManuallyDrop::new(unsafe { File::from_raw_fd(self.fd) });
        let pieces: Vec<&[u8]> = self.pieces.iter().map(|p| &p[..]).collect();
        // Each chunk hashed right after its write, while still in the cache;
        // bytes that are not whole blocks from a block boundary have no values.
        let first = self
            .offset
            .is_multiple_of(core::BLOCK_SIZE)
            .then_some(self.offset / core::BLOCK_SIZE);
        let mut at = self.offset;
        core::pass_and_hash_pieces(self.file_size, first, &pieces, |group| {
            core::write_pieces_at(&file, at, group)?;
            at += group.iter().map(|c| c.len() as u64).sum::<u64>();
            Ok(())
        })
        .map_err(|e: std::io::Error| fail(format!("cannot write the partial file: {e}")))
    }

    fn resolve(&mut self, _: Env, values: Self::Output) -> Result<Vec<String>> {
        Ok(values.iter().map(core::to_hex).collect())
    }
}

/// Writes `pieces`, in order, at `offset` of the open file `fd` (borrowed:
/// it must stay open until the promise settles), then hashes them: the
/// values of the blocks they hold when they are whole blocks from a block
/// boundary (the last may end the file) of a file of `fileSize` bytes, else
/// none.
#[napi(ts_return_type = "Promise<string[]>")]
pub fn write_blocks(
    fd: i32,
    offset_: f64,
    file_size: f64,
    pieces: Vec<Buffer>,
) -> Result<AsyncTask<WriteBlocksTask>> {
    Ok(AsyncTask::new(WriteBlocksTask {
        fd,
        offset: offset("offset", offset_)?,
        file_size: offset("fileSize", file_size)?,
        pieces,
    }))
}

/// Takes an exclusive lock on the open file `fd` (an open-file-description
/// lock, so two opens in one process exclude each other too) without
/// waiting: false when another open of the file holds one.
#[napi]
pub fn try_lock_exclusive(fd: i32) -> Result<bool> {
    core::try_lock_exclusive(fd).map_err(fail)
}

/// Bytes per path of versionsOf.
#[napi]
pub const VERSION_RECORD: u32 = core::VERSION_RECORD as u32;

pub struct VersionsTask(Vec<PathBuf>);

impl Task for VersionsTask {
    type Output = Vec<u8>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(core::versions_of(&self.0))
    }

    fn resolve(&mut self, _: Env, out: Self::Output) -> Result<Buffer> {
        Ok(out.into())
    }
}

/// The exact version of each path (lstat), 40 bytes per path in order:
/// device, inode, size, mtime and ctime in nanoseconds, each a 64-bit
/// little-endian integer; all zeros for a path that is not a regular file.
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn versions_of(paths: Vec<String>) -> AsyncTask<VersionsTask> {
    AsyncTask::new(VersionsTask(paths.into_iter().map(PathBuf::from).collect()))
}

#[napi(object)]
pub struct DirEntryInfo {
    pub name: String,
    /// "file", "dir", "symlink" or "special".
    pub kind: String,
    pub size: Option<f64>,
    pub mtime: Option<f64>,
    pub ino: Option<f64>,
}

pub struct ScanDirTask(PathBuf);

impl Task for ScanDirTask {
    type Output = Vec<core::DirItem>;
    type JsValue = Vec<DirEntryInfo>;

    fn compute(&mut self) -> Result<Self::Output> {
        core::scan_dir(&self.0).map_err(|e| fail(format!("cannot list {}: {e}", self.0.display())))
    }

    fn resolve(&mut self, _: Env, items: Self::Output) -> Result<Vec<DirEntryInfo>> {
        Ok(items
            .into_iter()
            .map(|i| {
                let stamp = i.stamp.map(FileStamp::from);
                DirEntryInfo {
                    name: i.name,
                    kind: match i.kind {
                        core::EntryKind::File => "file",
                        core::EntryKind::Dir => "dir",
                        core::EntryKind::Symlink => "symlink",
                        core::EntryKind::Special => "special",
                    }
                    .to_owned(),
                    size: stamp.as_ref().map(|s| s.size),
                    mtime: stamp.as_ref().map(|s| s.mtime),
                    ino: stamp.as_ref().map(|s| s.ino),
                }
            })
            .collect())
    }
}

/// Every entry of the directory `dir` with its kind, and the size, mtime and inode of its regular files (lstat, links never followed).
#[napi(ts_return_type = "Promise<DirEntryInfo[]>")]
pub fn scan_dir(dir: String) -> AsyncTask<ScanDirTask> {
    AsyncTask::new(ScanDirTask(dir.into()))
}
