//! hashFile, hashBlocks, rootFromBlocks, verifyBlocks, readHashed,
//! copyHashed: the BLAKE3 hash tree.

use std::fs::File;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::path::PathBuf;

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Result, Task};
use napi_derive::napi;
use realize_core as core;

use crate::args::{fail, invalid, offset};

/// Size of one hash-tree block, in bytes.
#[napi]
pub const BLOCK_SIZE: u32 = core::BLOCK_SIZE as u32;

/// The BLAKE3 hash tree of a file.
#[napi(object)]
pub struct FileHash {
    /// BLAKE3 of the whole file, 64 hex digits, as `b3sum` prints it.
    pub root: String,
    /// Bytes per block: 1048576.
    pub block_size: u32,
    /// One chaining value per block, in hex; `[root]` for a file of at most one block.
    pub blocks: Vec<String>,
    /// Bytes hashed: the file's size when it was opened.
    pub size: f64,
}

pub struct HashFileTask(PathBuf);

impl Task for HashFileTask {
    type Output = core::FileHash;
    type JsValue = FileHash;

    fn compute(&mut self) -> Result<Self::Output> {
        core::hash_file(&self.0).map_err(fail)
    }

    fn resolve(&mut self, _: Env, h: Self::Output) -> Result<FileHash> {
        Ok(FileHash {
            root: core::to_hex(&h.root),
            block_size: core::BLOCK_SIZE as u32,
            blocks: h.blocks.iter().map(core::to_hex).collect(),
            size: h.size as f64,
        })
    }
}

/// Hashes the file at `path` on the libuv pool, blocks in parallel.
#[napi(ts_return_type = "Promise<FileHash>")]
pub fn hash_file(path: String) -> AsyncTask<HashFileTask> {
    AsyncTask::new(HashFileTask(path.into()))
}

pub struct HashBlocksTask {
    path: PathBuf,
    first: u64,
    count: u64,
}

impl Task for HashBlocksTask {
    type Output = Vec<core::ChainingValue>;
    type JsValue = Vec<String>;

    fn compute(&mut self) -> Result<Self::Output> {
        core::hash_blocks(&self.path, self.first, self.count).map_err(fail)
    }

    fn resolve(&mut self, _: Env, blocks: Self::Output) -> Result<Vec<String>> {
        Ok(blocks.iter().map(core::to_hex).collect())
    }
}

/// Chaining values of blocks `[firstBlock, firstBlock + count)`, clipped at the end of the file.
#[napi(ts_return_type = "Promise<string[]>")]
pub fn hash_blocks(
    path: String,
    first_block: f64,
    count: f64,
) -> Result<AsyncTask<HashBlocksTask>> {
    Ok(AsyncTask::new(HashBlocksTask {
        path: path.into(),
        first: offset("firstBlock", first_block)?,
        count: offset("count", count)?,
    }))
}

fn parse_blocks(blocks: &[String]) -> Result<Vec<core::ChainingValue>> {
    blocks
        .iter()
        .enumerate()
        .map(|(i, b)| core::from_hex(b, i).map_err(invalid))
        .collect()
}

/// The root of a file of `fileSize` bytes from its block values (hex).
#[napi]
pub fn root_from_blocks(file_size: f64, blocks: Vec<String>) -> Result<String> {
    let size = offset("fileSize", file_size)?;
    let cvs = parse_blocks(&blocks)?;
    core::root_from_blocks(size, &cvs)
        .map(|r| core::to_hex(&r))
        .map_err(invalid)
}

/// Whether `blocks` are the block values of a file of `fileSize` bytes with this root.
#[napi]
pub fn verify_blocks(root: String, file_size: f64, blocks: Vec<String>) -> Result<bool> {
    let root = core::from_hex(&root, 0).map_err(|_| invalid("root is not 64 hex digits"))?;
    let size = offset("fileSize", file_size)?;
    let cvs = parse_blocks(&blocks)?;
    Ok(core::verify_blocks(&root, size, &cvs))
}

pub struct CopyHashedTask {
    path: PathBuf,
    offset: u64,
    length: u64,
    size: u64,
    out_fd: i32,
}

impl Task for CopyHashedTask {
    type Output = Vec<core::ChainingValue>;
    type JsValue = Vec<String>;

    fn compute(&mut self) -> Result<Self::Output> {
        // The caller's open file, borrowed: JS keeps it open until this task
        // settles, and closes it itself.
        // SAFETY: ManuallyDrop never closes the descriptor; a bad fd fails the write.
        let out = ManuallyDrop::new(unsafe { File::from_raw_fd(self.out_fd) });
        core::copy_hashed(&self.path, self.offset, self.length, self.size, &out).map_err(fail)
    }

    fn resolve(&mut self, _: Env, values: Self::Output) -> Result<Vec<String>> {
        Ok(values.iter().map(core::to_hex).collect())
    }
}

/// Copies `length` bytes at `offset` of the file at `path` to the same place
/// of the open file `outFd` (kept open until the promise settles), hashing
/// them on the way: the values of the blocks copied when they are whole
/// blocks from a block boundary of a file of `fileSize` bytes, else none.
#[napi(ts_return_type = "Promise<string[]>")]
pub fn copy_hashed(
    path: String,
    offset_: f64,
    length: f64,
    file_size: f64,
    out_fd: i32,
) -> Result<AsyncTask<CopyHashedTask>> {
    Ok(AsyncTask::new(CopyHashedTask {
        path: path.into(),
        offset: offset("offset", offset_)?,
        length: offset("length", length)?,
        size: offset("fileSize", file_size)?,
        out_fd,
    }))
}

pub struct ReadHashedTask {
    path: PathBuf,
    offset: u64,
    into: Buffer,
    length: usize,
    size: u64,
}

/// What readHashed read.
#[napi(object)]
pub struct HashedRead {
    /// Bytes read into the buffer (fewer than asked if the file is shorter now).
    pub length: u32,
    /// Values of the blocks read, when all asked for was read.
    pub blocks: Vec<String>,
}

impl Task for ReadHashedTask {
    type Output = (usize, Vec<core::ChainingValue>);
    type JsValue = HashedRead;

    fn compute(&mut self) -> Result<Self::Output> {
        let buf = &mut self.into[..self.length];
        core::read_hashed(&self.path, self.offset, buf, self.size).map_err(fail)
    }

    fn resolve(&mut self, _: Env, (length, blocks): Self::Output) -> Result<HashedRead> {
        Ok(HashedRead {
            length: length as u32,
            blocks: blocks.iter().map(core::to_hex).collect(),
        })
    }
}

/// Reads `length` bytes at `offset` of the file at `path` into `into` (which
/// must stay untouched until the promise settles), each chunk hashed right
/// after its read: the values of the blocks read, as blocks of a file of
/// `fileSize` bytes.
#[napi(ts_return_type = "Promise<HashedRead>")]
pub fn read_hashed(
    path: String,
    offset_: f64,
    length: u32,
    file_size: f64,
    into: Buffer,
) -> Result<AsyncTask<ReadHashedTask>> {
    if length as usize > into.len() {
        return Err(invalid(format!(
            "a buffer of {} bytes cannot take {length}",
            into.len()
        )));
    }
    Ok(AsyncTask::new(ReadHashedTask {
        path: path.into(),
        offset: offset("offset", offset_)?,
        into,
        length: length as usize,
        size: offset("fileSize", file_size)?,
    }))
}
