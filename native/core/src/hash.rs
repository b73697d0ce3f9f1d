//! The BLAKE3 hash tree of a file, cut at 1 MiB blocks.
//!
//! The root is exactly BLAKE3 of the file (what `b3sum` prints). Each 1 MiB
//! block also has a chaining value: the BLAKE3 subtree value of that block at
//! its offset (`hazmat::set_input_offset` + `finalize_non_root`). Block values
//! combine into the root by BLAKE3's tree rule: a node of `n` blocks splits
//! into a left subtree of the largest power of two of blocks below `n` and the
//! rest. A file of at most one block has no interior nodes: its one "block
//! value" is its root.
//!
//! Blocks are hashed in parallel on rayon's pool, each worker taking the
//! next window of 16 blocks in file order and reading it through a
//! read-only mapping (as `b3sum` does; a copy into a buffer first cost a
//! quarter more time here), so memory does not grow with the file (besides
//! 32 bytes per block of output) and the file is read front to back. A file
//! that another process truncates meanwhile reads as zeros past its new end
//! and is reported as shrunk (see `map`), never a SIGBUS.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use blake3::hazmat::{merge_subtrees_non_root, merge_subtrees_root, HasherExt, Mode};
use rayon::prelude::*;

use crate::file::{FileError, Input};
use crate::map::View;

/// Size of one hash-tree block: 1 MiB.
pub const BLOCK_SIZE: u64 = 1 << 20;

/// A 32-byte BLAKE3 chaining value (or root).
pub type ChainingValue = [u8; 32];

/// Bytes copied (read from the page cache, or written to it) and hashed at a
/// time: small enough that they are still in L1/L2 when hashed right after
/// the copy (64 KiB measured fastest).
const PIECE: usize = 64 << 10;

/// The hash tree of a whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHash {
    /// Bytes hashed (the file's size when it was opened).
    pub size: u64,
    /// BLAKE3 of the file, as `b3sum` prints it.
    pub root: ChainingValue,
    /// One value per block; `[root]` for a file of at most one block.
    pub blocks: Vec<ChainingValue>,
}

/// Block values that do not fit the file size they are said to describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeError {
    /// The file size given.
    pub size: u64,
    /// Blocks such a file has.
    pub expected: u64,
    /// Block values given.
    pub got: u64,
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a file of {} bytes has {} block hash(es), got {}",
            self.size, self.expected, self.got
        )
    }
}

impl std::error::Error for TreeError {}

/// Number of blocks of a file of `size` bytes (1 for an empty file).
pub fn block_count(size: u64) -> u64 {
    if size <= BLOCK_SIZE {
        1
    } else {
        size.div_ceil(BLOCK_SIZE)
    }
}

/// A hasher for block `index` of a file of `size` bytes: the whole file when
/// it has one block, else the subtree at the block's offset.
fn block_hasher(size: u64, index: u64) -> blake3::Hasher {
    let mut hasher = blake3::Hasher::new();
    if size > BLOCK_SIZE {
        hasher.set_input_offset(index * BLOCK_SIZE);
    }
    hasher
}

/// The value of a block fed to [`block_hasher`]: the root when it is the only block.
fn block_finish(size: u64, hasher: &blake3::Hasher) -> ChainingValue {
    if size <= BLOCK_SIZE {
        *hasher.finalize().as_bytes()
    } else {
        hasher.finalize_non_root()
    }
}

/// Value of block `index`, whose bytes are `data`, in a file of `size` bytes.
fn block_value(size: u64, index: u64, data: &[u8]) -> ChainingValue {
    block_finish(size, block_hasher(size, index).update(data))
}

/// Combines `blocks` (at least two) into a non-root subtree value.
fn merge_non_root(blocks: &[ChainingValue]) -> ChainingValue {
    if blocks.len() == 1 {
        return blocks[0];
    }
    let (l, r) = blocks.split_at(left_len(blocks.len()));
    merge_subtrees_non_root(&merge_non_root(l), &merge_non_root(r), Mode::Hash)
}

/// Blocks in the left subtree of a node of `n >= 2` blocks.
fn left_len(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of a file of `size` bytes from its block values.
pub fn root_from_blocks(size: u64, blocks: &[ChainingValue]) -> Result<ChainingValue, TreeError> {
    let expected = block_count(size);
    if blocks.len() as u64 != expected {
        return Err(TreeError {
            size,
            expected,
            got: blocks.len() as u64,
        });
    }
    if blocks.len() == 1 {
        return Ok(blocks[0]);
    }
    let (l, r) = blocks.split_at(left_len(blocks.len()));
    Ok(*merge_subtrees_root(&merge_non_root(l), &merge_non_root(r), Mode::Hash).as_bytes())
}

/// Whether `blocks` are the block values of a file of `size` bytes whose root is `root`.
pub fn verify_blocks(root: &ChainingValue, size: u64, blocks: &[ChainingValue]) -> bool {
    match root_from_blocks(size, blocks) {
        Ok(r) => constant_time_eq(&r, root),
        Err(_) => false,
    }
}

fn constant_time_eq(a: &ChainingValue, b: &ChainingValue) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The hash tree of bytes in memory (same values as [`hash_file`] on a file holding them).
pub fn hash_bytes(data: &[u8]) -> FileHash {
    let size = data.len() as u64;
    let blocks: Vec<ChainingValue> = if size <= BLOCK_SIZE {
        vec![block_value(size, 0, data)]
    } else {
        data.par_chunks(BLOCK_SIZE as usize)
            .enumerate()
            .map(|(i, b)| block_value(size, i as u64, b))
            .collect()
    };
    let root = root_from_blocks(size, &blocks).expect("block count follows from the size");
    FileHash { size, root, blocks }
}

/// Bytes that are not whole blocks of a file starting at a block boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRangeError(pub String);

impl fmt::Display for BlockRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BlockRangeError {}

/// Values of the blocks held in `data`, which starts at block `first` of a
/// file of `size` bytes: the values [`hash_file`] lists for those blocks, so
/// bytes can be hashed as they pass rather than read again. `data` must be
/// whole blocks, the last of them ending at a block boundary or at `size`.
pub fn hash_data_blocks(
    size: u64,
    first: u64,
    data: &[u8],
) -> Result<Vec<ChainingValue>, BlockRangeError> {
    check_whole_blocks(size, first, data.len() as u64)?;
    if size <= BLOCK_SIZE {
        return Ok(vec![block_value(size, 0, data)]);
    }
    Ok(data
        .par_chunks(BLOCK_SIZE as usize)
        .enumerate()
        .map(|(i, b)| block_value(size, first + i as u64, b))
        .collect())
}

/// Bytes handed on at a time by [`pass_and_hash_pieces`]: each write to a
/// file costs a system call and an update of its times, so writing 1 GiB in
/// pieces of 64 KiB took 1.6x the kernel time of these here; whole blocks
/// took a little less, but stalled for seconds in the kernel in 3 runs of 10.
const PASS: usize = 4 * PIECE;

/// Hands `pieces`, in order, to `pass` (a write to disk) [`PASS`] bytes at a
/// time, hashing them right after: the values of the blocks the pieces hold
/// when they are whole blocks from block `first` of a file of `size` bytes
/// (the last may end the file), else none. One pass over bytes that are no
/// longer in the cache, not two.
pub fn pass_and_hash_pieces<E>(
    size: u64,
    first: Option<u64>,
    pieces: &[&[u8]],
    mut pass: impl FnMut(&[&[u8]]) -> Result<(), E>,
) -> Result<Vec<ChainingValue>, E> {
    let total: u64 = pieces.iter().map(|p| p.len() as u64).sum();
    let mut hashes = first
        .filter(|&f| check_whole_blocks(size, f, total).is_ok())
        .map(|f| BlockHashes::new(size, f));
    let mut group: Vec<&[u8]> = Vec::new();
    let mut grouped = 0;
    let mut chunks = pieces.iter().flat_map(|p| p.chunks(PIECE)).peekable();
    while let Some(chunk) = chunks.next() {
        group.push(chunk);
        grouped += chunk.len();
        if grouped < PASS && chunks.peek().is_some() {
            continue;
        }
        pass(&group)?;
        if let Some(h) = hashes.as_mut() {
            group.iter().for_each(|c| h.update(c));
        }
        group.clear();
        grouped = 0;
    }
    Ok(hashes.map(BlockHashes::finish).unwrap_or_default())
}

/// Why [`copy_hashed`] failed.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the source: missing, not a regular file, or shorter than the range.
    Read(FileError),
    /// Writing the copy.
    Write(std::io::Error),
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Read(e) => e.fmt(f),
            CopyError::Write(e) => write!(f, "cannot write the partial file: {e}"),
        }
    }
}

impl std::error::Error for CopyError {}

/// Copies `[offset, offset + len)` of the file at `path` to the same place
/// of `out` through one buffer of [`PASS`] bytes, hashing each piece between
/// its read and its write (while it is in the cache): the values of the
/// blocks copied when they are whole blocks from a block boundary of a file
/// of `size` bytes, else none. The source must hold the whole range.
pub fn copy_hashed(
    path: &Path,
    offset: u64,
    len: u64,
    size: u64,
    out: &File,
) -> Result<Vec<ChainingValue>, CopyError> {
    let input = Input::open(path).map_err(CopyError::Read)?;
    if input.clip(offset, len) < len {
        return Err(CopyError::Read(FileError::Shrank {
            path: path.to_owned(),
            size: input.size(),
            at: input.size(),
        }));
    }
    let mut hashes = offset
        .is_multiple_of(BLOCK_SIZE)
        .then_some(offset / BLOCK_SIZE)
        .filter(|&f| check_whole_blocks(size, f, len).is_ok())
        .map(|f| BlockHashes::new(size, f));
    let mut buf = vec![0u8; PASS.min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let piece = &mut buf[..(len - done).min(PASS as u64) as usize];
        input
            .read_exact_at(piece, offset + done)
            .map_err(CopyError::Read)?;
        if let Some(h) = hashes.as_mut() {
            h.update(piece);
        }
        out.write_all_at(piece, offset + done)
            .map_err(CopyError::Write)?;
        done += piece.len() as u64;
    }
    Ok(hashes.map(BlockHashes::finish).unwrap_or_default())
}

/// Reads `[offset, offset + buf.len())` of the file at `path` into `buf` a
/// chunk at a time, hashing each chunk right after its read (still in the
/// cache): how many bytes were read (fewer if the file is shorter now) and,
/// when that is all of `buf`, the values of its blocks as blocks of a file of
/// `size` bytes (none if they are not whole blocks from a block boundary).
pub fn read_hashed(
    path: &Path,
    offset: u64,
    buf: &mut [u8],
    size: u64,
) -> Result<(usize, Vec<ChainingValue>), FileError> {
    let input = Input::open(path)?;
    let len = input.clip(offset, buf.len() as u64) as usize;
    let first = offset
        .is_multiple_of(BLOCK_SIZE)
        .then_some(offset / BLOCK_SIZE);
    let mut hashes = first
        .filter(|&f| len == buf.len() && check_whole_blocks(size, f, len as u64).is_ok())
        .map(|f| BlockHashes::new(size, f));
    let mut done = 0;
    while done < len {
        let n = (len - done).min(PIECE);
        match input.read_exact_at(&mut buf[done..done + n], offset + done as u64) {
            Ok(()) => {}
            // Shrank since it was opened: what was read, without values.
            Err(FileError::Shrank { at, .. }) => return Ok(((at - offset) as usize, Vec::new())),
            Err(e) => return Err(e),
        }
        if let Some(h) = hashes.as_mut() {
            h.update(&buf[done..done + n]);
        }
        done += n;
    }
    Ok((len, hashes.map(BlockHashes::finish).unwrap_or_default()))
}

/// Block values of bytes fed a piece at a time, starting at block `first`
/// of a file of `size` bytes: each block's value is computed as its last
/// byte passes, so the bytes are hashed while still in the cache.
struct BlockHashes {
    size: u64,
    index: u64,
    hasher: blake3::Hasher,
    fed: u64,
    values: Vec<ChainingValue>,
}

impl BlockHashes {
    /// Values from block `first` of a file of `size` bytes on.
    fn new(size: u64, first: u64) -> BlockHashes {
        BlockHashes {
            size,
            index: first,
            hasher: block_hasher(size, first),
            fed: 0,
            values: Vec::new(),
        }
    }

    /// Feeds the next bytes.
    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = bytes.len().min((BLOCK_SIZE - self.fed) as usize);
            self.hasher.update(&bytes[..take]);
            bytes = &bytes[take..];
            self.fed += take as u64;
            if self.fed == BLOCK_SIZE {
                self.values.push(block_finish(self.size, &self.hasher));
                self.index += 1;
                self.hasher = block_hasher(self.size, self.index);
                self.fed = 0;
            }
        }
    }

    /// Values of the whole blocks fed, the last one included only if it
    /// ends the file (or the file is empty and nothing was fed).
    fn finish(mut self) -> Vec<ChainingValue> {
        let end = self.index * BLOCK_SIZE + self.fed;
        if (self.fed > 0 && end == self.size) || (self.size == 0 && self.values.is_empty()) {
            self.values.push(block_finish(self.size, &self.hasher));
        }
        self.values
    }
}

/// Checks that `len` bytes at block `first` are whole blocks of a file of
/// `size` bytes, the last ending at a block boundary or at `size`.
fn check_whole_blocks(size: u64, first: u64, len: u64) -> Result<(), BlockRangeError> {
    let start = first
        .checked_mul(BLOCK_SIZE)
        .filter(|s| *s <= size)
        .ok_or_else(|| {
            BlockRangeError(format!("block {first} is beyond a file of {size} bytes"))
        })?;
    let end = start + len;
    if end > size || (!end.is_multiple_of(BLOCK_SIZE) && end != size) || (len == 0 && size > 0) {
        return Err(BlockRangeError(format!(
            "{len} bytes at block {first} are not whole blocks of a file of {size} bytes"
        )));
    }
    Ok(())
}

/// The hash tree of the file at `path`.
pub fn hash_file(path: &Path) -> Result<FileHash, FileError> {
    let input = Input::open(path)?;
    input.advise_sequential();
    let size = input.size();
    let blocks = hash_open_blocks(&input, 0, block_count(size))?;
    let root = root_from_blocks(size, &blocks).expect("block count follows from the size");
    Ok(FileHash { size, root, blocks })
}

/// Values of blocks `[first, first + count)` of the file at `path`, clipped at
/// its end; the same values [`hash_file`] lists.
pub fn hash_blocks(path: &Path, first: u64, count: u64) -> Result<Vec<ChainingValue>, FileError> {
    let input = Input::open(path)?;
    let total = block_count(input.size());
    let start = first.min(total);
    let end = first.saturating_add(count).min(total);
    if end > start + 1 {
        input.advise_sequential();
    }
    hash_open_blocks(&input, start, end)
}

thread_local! {
    /// One read buffer per rayon worker, reused across calls (for windows
    /// too short to map, or when no mapping slot is free).
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Blocks a worker maps and hashes at a time: large enough that mapping
/// costs little per byte, small enough that memory stays bounded whatever
/// the file's size.
const WINDOW_BLOCKS: u64 = 16;

fn hash_open_blocks(input: &Input, start: u64, end: u64) -> Result<Vec<ChainingValue>, FileError> {
    let n = (end - start) as usize;
    let windows = (end - start).div_ceil(WINDOW_BLOCKS);
    // Each worker takes the next window from a shared counter: the file is
    // read in order whatever the number of workers, and a worker the OS
    // pauses delays only the window it holds (no barrier to wait at).
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let done: Mutex<Vec<(u64, ChainingValue)>> = Mutex::new(Vec::with_capacity(n));
    let error: Mutex<Option<FileError>> = Mutex::new(None);
    let work = || {
        let mut mine = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let w = next.fetch_add(1, Ordering::Relaxed);
            if w >= windows {
                break;
            }
            let first = start + w * WINDOW_BLOCKS;
            let last = (first + WINDOW_BLOCKS).min(end);
            match BUFFER.with(|cell| hash_window(input, first, last, &mut cell.borrow_mut())) {
                Ok(values) => mine.extend((first..last).zip(values)),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
            }
        }
        done.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
    };
    if windows <= 1 {
        work();
    } else {
        rayon::scope(|scope| {
            for _ in 0..rayon::current_num_threads().min(windows as usize) {
                scope.spawn(|_| work());
            }
        });
    }
    if let Some(e) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut out = vec![[0u8; 32]; n];
    for (i, cv) in done.into_inner().unwrap_or_else(|p| p.into_inner()) {
        out[(i - start) as usize] = cv;
    }
    Ok(out)
}

/// Values of blocks `[first, last)`, whose bytes are mapped (or read) at once.
fn hash_window(
    input: &Input,
    first: u64,
    last: u64,
    buf: &mut Vec<u8>,
) -> Result<Vec<ChainingValue>, FileError> {
    let view = View::new(input, first * BLOCK_SIZE, (last - first) * BLOCK_SIZE, buf)?;
    let bytes = view.bytes();
    // Block by block (the empty file has one empty block).
    let values = (first..last)
        .map(|index| {
            let at = ((index - first) * BLOCK_SIZE) as usize;
            let block = &bytes[at.min(bytes.len())..(at + BLOCK_SIZE as usize).min(bytes.len())];
            let mut hasher = block_hasher(input.size(), index);
            hasher.update(block);
            block_finish(input.size(), &hasher)
        })
        .collect();
    // A file that shrank while mapped read zeros: its values are not its own.
    view.check()?;
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;
    const SIZES: &[usize] = &[
        0,
        1,
        1023,
        1024,
        1025,
        MIB - 1,
        MIB,
        MIB + 1,
        2 * MIB,
        3 * MIB + 5,
        5 * MIB,
        7 * MIB + 3,
        64 * MIB + 7,
    ];

    #[test]
    fn blocks_hashed_in_passing_equal_the_file_tree() {
        for &n in SIZES {
            let data = crate::testutil::noise(n, n as u64 + 1);
            let h = hash_bytes(&data);
            let mut got = Vec::new();
            for (i, piece) in data.chunks(3 * MIB).enumerate() {
                got.extend(hash_data_blocks(n as u64, 3 * i as u64, piece).unwrap());
            }
            if n == 0 {
                got = hash_data_blocks(0, 0, &[]).unwrap();
            }
            assert_eq!(got, h.blocks, "size {n}");
        }
        let data = crate::testutil::noise(3 * MIB, 9);
        assert!(hash_data_blocks(3 * MIB as u64, 0, &data[..MIB + 1]).is_err());
        assert!(hash_data_blocks(3 * MIB as u64, 3, &data[..1]).is_err());
        assert!(hash_data_blocks(2 * MIB as u64, 1, &data[..2 * MIB]).is_err());
        assert!(hash_data_blocks(MIB as u64, u64::MAX, &data[..1]).is_err());
    }

    #[test]
    fn blocks_hashed_in_odd_pieces_equal_the_file_tree() {
        for &n in SIZES {
            let data = crate::testutil::noise(n, n as u64 + 2);
            let h = hash_bytes(&data);
            // Pieces of 64 KiB + 7 bytes: they straddle every block boundary.
            let pieces: Vec<&[u8]> = data.chunks(65_543).collect();
            let mut passed = Vec::new();
            let mut calls = 0;
            let values = pass_and_hash_pieces(n as u64, Some(0), &pieces, |group| {
                group.iter().for_each(|c| passed.extend_from_slice(c));
                calls += 1;
                Ok::<(), ()>(())
            });
            assert_eq!(values.unwrap(), h.blocks, "size {n}");
            assert_eq!(passed, data, "every byte passed on, in order");
            assert!(
                calls <= n.div_ceil(PASS).max(1),
                "at least {PASS} bytes a time"
            );
            if n > 2 * MIB {
                let tail: Vec<&[u8]> = data[MIB..].chunks(1000).collect();
                let values = pass_and_hash_pieces(n as u64, Some(1), &tail, |_| Ok::<(), ()>(()));
                assert_eq!(values.unwrap(), h.blocks[1..], "size {n}");
            }
        }
        let data = crate::testutil::noise(3 * MIB, 9);
        let short: Vec<&[u8]> = data[..MIB + 1].chunks(4096).collect();
        let values = pass_and_hash_pieces(3 * MIB as u64, Some(0), &short, |_| Ok::<(), ()>(()));
        assert!(values.unwrap().is_empty(), "not whole blocks: no values");
        let failed = pass_and_hash_pieces(3 * MIB as u64, Some(0), &short, |_| Err("full"));
        assert_eq!(failed, Err("full"), "a failed pass is the error");
    }

    #[test]
    fn copies_hashed_on_the_way_equal_the_file_tree() {
        let dir = crate::testutil::TempDir::new("copy-hashed");
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        let data = crate::testutil::noise(3 * MIB + 5, 6);
        std::fs::write(&src, &data).unwrap();
        let h = hash_bytes(&data);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&dst)
            .unwrap();
        let size = data.len() as u64;
        // The tail from block 1, then block 0: each lands where it was.
        let tail = copy_hashed(&src, MIB as u64, size - MIB as u64, size, &out).unwrap();
        assert_eq!(tail, h.blocks[1..]);
        let head = copy_hashed(&src, 0, MIB as u64, size, &out).unwrap();
        assert_eq!(head, h.blocks[..1]);
        assert_eq!(std::fs::read(&dst).unwrap(), data);
        // Not whole blocks: copied, no values.
        assert!(copy_hashed(&src, 5, 100, size, &out).unwrap().is_empty());
        // A source shorter than the range copies nothing.
        let e = copy_hashed(&src, 3 * MIB as u64, 6, size, &out).unwrap_err();
        assert!(e.to_string().contains("shrank"), "{e}");
        assert_eq!(std::fs::read(&dst).unwrap(), data);
    }

    #[test]
    fn reads_hashed_as_they_go_equal_the_file_tree() {
        let dir = crate::testutil::TempDir::new("read-hashed");
        let path = dir.path().join("f");
        let data = crate::testutil::noise(3 * MIB + 5, 4);
        std::fs::write(&path, &data).unwrap();
        let h = hash_bytes(&data);
        let size = data.len() as u64;
        let mut buf = vec![0u8; 2 * MIB + 5];
        let (n, values) = read_hashed(&path, MIB as u64, &mut buf, size).unwrap();
        assert_eq!(
            (n, &buf[..], &values[..]),
            (2 * MIB + 5, &data[MIB..], &h.blocks[1..])
        );
        // The file shorter than asked for: what is there, without values.
        let mut buf = vec![0u8; 2 * MIB];
        let (n, values) = read_hashed(&path, 2 * MIB as u64, &mut buf, size).unwrap();
        assert_eq!((n, values.len()), (MIB + 5, 0));
        assert_eq!(&buf[..n], &data[2 * MIB..]);
    }

    #[test]
    fn block_hashes_keep_only_whole_blocks_or_the_files_end() {
        let data = crate::testutil::noise(3 * MIB + 5, 3);
        let h = hash_bytes(&data);
        let mut part = BlockHashes::new(data.len() as u64, 1);
        part.update(&data[MIB..2 * MIB + 10]);
        assert_eq!(
            part.finish(),
            h.blocks[1..2],
            "a block not fed whole has no value"
        );
        let mut tail = BlockHashes::new(data.len() as u64, 3);
        tail.update(&data[3 * MIB..]);
        assert_eq!(tail.finish(), h.blocks[3..]);
    }

    #[test]
    fn root_matches_blake3_for_all_sizes() {
        for &n in SIZES {
            let data = crate::testutil::noise(n, n as u64);
            let h = hash_bytes(&data);
            assert_eq!(h.root, *blake3::hash(&data).as_bytes(), "size {n}");
            assert_eq!(h.blocks.len() as u64, block_count(n as u64), "size {n}");
            if n <= MIB {
                assert_eq!(h.blocks, vec![h.root]);
            }
            assert!(verify_blocks(&h.root, n as u64, &h.blocks));
        }
    }

    #[test]
    fn block_values_are_the_subtree_values() {
        // For 2 blocks the left block value is the left child of the root.
        let data = crate::testutil::noise(2 * MIB, 5);
        let h = hash_bytes(&data);
        let left = blake3::Hasher::new()
            .update(&data[..MIB])
            .finalize_non_root();
        assert_eq!(h.blocks[0], left);
    }

    #[test]
    fn a_flipped_byte_changes_only_its_block() {
        let mut data = crate::testutil::noise(5 * MIB + 17, 9);
        let before = hash_bytes(&data);
        data[3 * MIB + 12345] ^= 1;
        let after = hash_bytes(&data);
        let differ: Vec<usize> = (0..before.blocks.len())
            .filter(|&i| before.blocks[i] != after.blocks[i])
            .collect();
        assert_eq!(differ, vec![3]);
        assert_ne!(before.root, after.root);
        assert!(!verify_blocks(
            &before.root,
            data.len() as u64,
            &after.blocks
        ));
    }

    #[test]
    fn wrong_block_counts_are_refused() {
        let h = hash_bytes(&crate::testutil::noise(3 * MIB, 1));
        assert_eq!(
            root_from_blocks(3 * MIB as u64, &h.blocks[..2]),
            Err(TreeError {
                size: 3 * MIB as u64,
                expected: 3,
                got: 2
            })
        );
        assert!(root_from_blocks(2 * MIB as u64 + 1, &h.blocks).is_ok());
        assert!(root_from_blocks(4 * MIB as u64 + 1, &h.blocks).is_err());
        assert!(root_from_blocks(0, &[]).is_err());
        assert!(!verify_blocks(&h.root, 3 * MIB as u64, &[]));
        // The size is part of what is verified: same blocks, other size, other tree shape.
        assert!(!verify_blocks(&h.root, 3 * MIB as u64 - 1, &h.blocks[..2]));
    }

    #[test]
    fn files_match_memory_and_ranges_match_the_list() {
        let dir = crate::testutil::TempDir::new("hash");
        for &n in SIZES {
            let data = crate::testutil::noise(n, 77 + n as u64);
            let path = dir.path().join(format!("f{n}"));
            std::fs::write(&path, &data).unwrap();
            let h = hash_file(&path).unwrap();
            assert_eq!(h, hash_bytes(&data), "size {n}");
            let total = h.blocks.len() as u64;
            for (first, count) in [
                (0, total),
                (0, 1),
                (1, 2),
                (total - 1, 5),
                (total, 1),
                (0, 0),
            ] {
                let got = hash_blocks(&path, first, count).unwrap();
                let s = (first.min(total)) as usize;
                let e = (first + count).min(total) as usize;
                assert_eq!(
                    got,
                    h.blocks[s..e].to_vec(),
                    "size {n} blocks {first}+{count}"
                );
            }
        }
    }

    #[test]
    fn directories_and_missing_files_are_errors() {
        let dir = crate::testutil::TempDir::new("hash-bad");
        let e = hash_file(dir.path()).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let e = hash_file(&dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn fifos_do_not_block() {
        let dir = crate::testutil::TempDir::new("hash-fifo");
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = hash_file(&p).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }
}
