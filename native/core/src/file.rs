//! Opening and reading the files the hash tree and the deltas work on.
//!
//! Only regular files are read. A FIFO must not block the open, so files are
//! opened non-blocking and checked with `fstat` before any read. The size is
//! taken once, at open; a file that shrinks while it is read is an error
//! (never a short or zero-padded result), and growth past that size is ignored.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug)]
pub enum FileError {
    /// The operating system refused (missing file, permissions, I/O error).
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// The path names a directory, a FIFO, a device or a socket.
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead ("a directory", ...).
        kind: &'static str,
    },
    /// The file became shorter than its size at open while it was being read.
    Shrank {
        /// The file.
        path: PathBuf,
        /// Its size when it was opened.
        size: u64,
        /// The offset at which the data ended.
        at: u64,
    },
    /// The file was written to (its size, mtime or ctime changed) while it was being read.
    Changed {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Io { path, error } => write!(f, "cannot read {}: {}", path.display(), error),
            FileError::NotRegular { path, kind } => {
                write!(f, "{} is {}, not a regular file", path.display(), kind)
            }
            FileError::Shrank { path, size, at } => write!(
                f,
                "{} shrank while it was being read (it had {} bytes, data ended at {})",
                path.display(),
                size,
                at
            ),
            FileError::Changed { path } => {
                write!(f, "{} changed while it was being read", path.display())
            }
        }
    }
}

impl std::error::Error for FileError {}

/// A regular file opened for reading, with its size at open.
pub(crate) struct Input {
    file: File,
    path: PathBuf,
    meta: std::fs::Metadata,
}

impl Input {
    /// Opens `path`, refusing anything that is not a regular file.
    pub(crate) fn open(path: &Path) -> Result<Input, FileError> {
        Input::open_with(path, 0)
    }

    /// Opens `path` with extra `open(2)` flags (e.g. `O_NOFOLLOW`).
    pub(crate) fn open_with(path: &Path, flags: i32) -> Result<Input, FileError> {
        let io_err = |error| FileError::Io {
            path: path.to_owned(),
            error,
        };
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | flags)
            .open(path)
            .map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        let ft = meta.file_type();
        if !ft.is_file() {
            let kind = if ft.is_dir() {
                "a directory"
            } else if ft.is_fifo() {
                "a FIFO"
            } else if ft.is_socket() {
                "a socket"
            } else if ft.is_block_device() || ft.is_char_device() {
                "a device"
            } else {
                "not a file"
            };
            return Err(FileError::NotRegular {
                path: path.to_owned(),
                kind,
            });
        }
        Ok(Input {
            file,
            path: path.to_owned(),
            meta,
        })
    }

    /// Size of the file when it was opened.
    pub(crate) fn size(&self) -> u64 {
        self.meta.len()
    }

    /// The open file.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The path it was opened by.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's metadata when it was opened.
    pub(crate) fn metadata(&self) -> &std::fs::Metadata {
        &self.meta
    }

    /// Fails with [`FileError::Changed`] if the file's size, mtime or ctime is
    /// no longer what it was at open: what was read may then mix two versions.
    /// (ctime too: a writer can put the mtime back, not the ctime.)
    pub(crate) fn check_unchanged(&self) -> Result<(), FileError> {
        use std::os::unix::fs::MetadataExt;
        let now = self.file.metadata().map_err(|error| FileError::Io {
            path: self.path.clone(),
            error,
        })?;
        let was = &self.meta;
        if now.len() != was.len()
            || now.mtime() != was.mtime()
            || now.mtime_nsec() != was.mtime_nsec()
            || now.ctime() != was.ctime()
            || now.ctime_nsec() != was.ctime_nsec()
        {
            return Err(FileError::Changed {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Tells the kernel the file will be read front to back (readahead).
    pub(crate) fn advise_sequential(&self) {
        use std::os::fd::AsRawFd;
        // Advisory only: failure changes nothing but speed.
        unsafe { libc::posix_fadvise(self.file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL) };
    }

    /// The part of `[offset, offset + len)` that lies before the size at open.
    pub(crate) fn clip(&self, offset: u64, len: u64) -> u64 {
        len.min(self.size().saturating_sub(offset))
    }

    /// Fills `buf` from `offset`; the bytes must exist (within the size at open).
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), FileError> {
        let mut done = 0usize;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => {
                    return Err(FileError::Shrank {
                        path: self.path.clone(),
                        size: self.size(),
                        at: offset + done as u64,
                    })
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return Err(FileError::Io {
                        path: self.path.clone(),
                        error,
                    })
                }
            }
        }
        Ok(())
    }

    /// Reads `[offset, offset + len)`, clipped at the size at open, into
    /// `buf` (a reused buffer: see `reuse`).
    pub(crate) fn read_range_into(
        &self,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), FileError> {
        crate::reuse::size_to(buf, self.clip(offset, len) as usize);
        self.read_exact_at(buf, offset)
    }
}
