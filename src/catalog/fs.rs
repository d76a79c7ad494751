//! Where catalog files are read from: the disk (the working tree), or one commit of a git
//! repository (see [`crate::git`]). The loader, the directory walk and nested catalogs go
//! through this, so the rules (confinement to the root, symlinks, globs) exist once.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// What a directory entry is, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: OsString,
    pub kind: Kind,
}

/// The file-system operations the catalog loader needs. Paths are absolute and shown as they
/// are on disk, whatever the source, so `CATALOG_DIR` and diagnostics name the same places.
pub trait CatalogFs: Send + Sync {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The entries of `dir` (any order).
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>>;
    /// `path` with symlinks and `.`/`..` resolved; an error when it does not exist.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
    fn is_dir(&self, path: &Path) -> bool;
}

/// The local file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct Disk;

impl CatalogFs for Disk {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = vec![];
        for e in std::fs::read_dir(dir)?.flatten() {
            let Ok(t) = e.file_type() else { continue };
            let kind = if t.is_symlink() {
                Kind::Symlink
            } else if t.is_dir() {
                Kind::Dir
            } else {
                Kind::File
            };
            out.push(DirEntry {
                name: e.file_name(),
                kind,
            });
        }
        Ok(out)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        path.canonicalize()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
}

/// `path` with `.` and `..` resolved as written, without touching any file system.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
