//! One directory listed in one call: every entry's name and kind, with the
//! size, mtime and inode of regular files from an `lstat` relative to the
//! directory (symbolic links are never followed). A tree of thousands of
//! small files then costs one thread-pool round trip per directory rather
//! than one per file.

use std::fs;
use std::io;
use std::path::Path;

use crate::store::Stamp;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A device, fifo or socket.
    Special,
}

/// One entry of a directory.
#[derive(Debug, Clone)]
pub struct DirItem {
    /// Its name (entries whose names are not UTF-8 are left out).
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// For a regular file: its size, mtime and inode.
    pub stamp: Option<Stamp>,
}

/// The entries of the directory `dir`. An entry that vanishes while it is
/// listed is left out.
pub fn scan_dir(dir: &Path) -> io::Result<Vec<DirItem>> {
    let mut items = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(ft) = entry.file_type() else { continue };
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Special
        };
        let stamp = if kind == EntryKind::File {
            // DirEntry::metadata is an lstat relative to the directory.
            match entry.metadata() {
                Ok(m) if m.is_file() => Some(Stamp::of(&m)),
                _ => continue,
            }
        } else {
            None
        };
        items.push(DirItem { name, kind, stamp });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn lists_kinds_and_stamps_without_following_links() {
        let dir = TempDir::new("scan");
        fs::write(dir.path().join("f"), b"12345").unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("l")).unwrap();
        let mut items = scan_dir(dir.path()).unwrap();
        items.sort_by(|a, b| a.name.cmp(&b.name));
        let kinds: Vec<_> = items.iter().map(|i| (i.name.as_str(), i.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("d", EntryKind::Dir),
                ("f", EntryKind::File),
                ("l", EntryKind::Symlink)
            ]
        );
        assert_eq!(items[1].stamp.unwrap().size, 5);
        assert!(items[2].stamp.is_none());
        assert!(scan_dir(&dir.path().join("missing")).is_err());
    }
}
