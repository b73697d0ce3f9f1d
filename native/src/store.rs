//! fetchFile, putFile, syncFs, startWriteback: whole small files in one call,
//! the durability barrier and early write-back.

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

/// A whole file and its hash tree.
#[napi(object)]
pub struct FetchedFile {
    pub data: Buffer,
    pub root: String,
    pub blocks: Vec<String>,
    pub size: f64,
    pub mtime: f64,
    pub ino: f64,
}

pub struct FetchTask {
    path: PathBuf,
    max: u64,
}

impl Task for FetchTask {
    type Output = core::Fetched;
    type JsValue = FetchedFile;

    fn compute(&mut self) -> Result<Self::Output> {
        core::fetch_file(&self.path, self.max).map_err(fail)
    }

    fn resolve(&mut self, _: Env, f: Self::Output) -> Result<FetchedFile> {
        let stamp = FileStamp::from(f.stamp);
        Ok(FetchedFile {
            data: f.data.into(),
            root: core::to_hex(&f.hash.root),
            blocks: f.hash.blocks.iter().map(core::to_hex).collect(),
            size: stamp.size,
            mtime: stamp.mtime,
            ino: stamp.ino,
        })
    }
}

/// Reads and hashes the whole regular file at `path` (a symbolic link is refused), at most `maxSize` bytes.
#[napi(ts_return_type = "Promise<FetchedFile>")]
pub fn fetch_file(path: String, max_size: f64) -> Result<AsyncTask<FetchTask>> {
    Ok(AsyncTask::new(FetchTask {
        path: path.into(),
        max: offset("maxSize", max_size)?,
    }))
}

pub struct PutTask {
    dir: PathBuf,
    part_name: String,
    final_name: String,
    data: Vec<u8>,
    mtime: f64,
    root: core::ChainingValue,
}

impl Task for PutTask {
    type Output = core::Stamp;
    type JsValue = FileStamp;

    fn compute(&mut self) -> Result<Self::Output> {
        core::put_file(
            &self.dir,
            &self.part_name,
            &self.final_name,
            &self.data,
            self.mtime,
            &self.root,
        )
        .map_err(fail)
    }

    fn resolve(&mut self, _: Env, s: Self::Output) -> Result<FileStamp> {
        Ok(s.into())
    }
}

/// Writes `data` as `finalName` in `dir` (through `partName`), checked against `root`, with mtime `mtime` ms.
#[napi(ts_return_type = "Promise<FileStamp>")]
pub fn put_file(
    dir: String,
    part_name: String,
    final_name: String,
    data: &[u8],
    mtime: f64,
    root: String,
) -> Result<AsyncTask<PutTask>> {
    let root = core::from_hex(&root, 0).map_err(|_| invalid("root is not 64 hex digits"))?;
    Ok(AsyncTask::new(PutTask {
        dir: dir.into(),
        part_name,
        final_name,
        data: data.to_vec(),
        mtime,
        root,
    }))
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
