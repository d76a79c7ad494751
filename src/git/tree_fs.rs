//! One commit's tree as a [`CatalogFs`]: paths under the work tree are looked up in the tree
//! (symlinks stored in git are followed as git stores them), paths outside it are read from
//! disk, as they are not versioned with the catalogs.

use std::io;
use std::path::{Component, Path, PathBuf};

use gix::object::tree::EntryKind;

use crate::catalog::fs::{normalize, CatalogFs, DirEntry, Disk, Kind};

/// Links followed in one lookup before giving up (as Linux's `ELOOP`).
const MAX_LINKS: usize = 40;

pub struct TreeFs {
    repo: gix::ThreadSafeRepository,
    tree: gix::ObjectId,
    workdir: PathBuf,
}

/// Where a path leads once its links are followed.
enum Place {
    /// In the tree: its path relative to the work tree, and what it is.
    Inside(PathBuf, Node),
    /// Outside the work tree: on disk.
    Outside(PathBuf),
}

#[derive(Clone, Copy)]
enum Node {
    Dir(gix::ObjectId),
    File(gix::ObjectId),
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "`{}` is not in the catalogs at this revision",
            path.display()
        ),
    )
}

fn git_io(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("reading git objects: {e}"))
}

impl TreeFs {
    pub fn new(repo: gix::ThreadSafeRepository, tree: gix::ObjectId, workdir: PathBuf) -> Self {
        TreeFs {
            repo,
            tree,
            workdir,
        }
    }

    /// `path` made absolute, and mapped onto the work tree when it reaches it through links
    /// on disk (a symlinked temporary directory, say).
    fn absolute(&self, path: &Path) -> PathBuf {
        let abs = normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
        if abs.starts_with(&self.workdir) {
            return abs;
        }
        match abs.canonicalize() {
            Ok(real) if real.starts_with(&self.workdir) => real,
            _ => abs,
        }
    }

    /// Follows `path` through the tree.
    fn place(&self, path: &Path) -> io::Result<Place> {
        let repo = self.repo.to_thread_local();
        let mut path = self.absolute(path);
        let mut links = 0;
        'restart: loop {
            let Ok(rel) = path.strip_prefix(&self.workdir) else {
                return Ok(Place::Outside(path));
            };
            let parts: Vec<Component<'_>> = rel.components().collect();
            let mut node = Node::Dir(self.tree);
            let mut walked = PathBuf::new();
            for (i, part) in parts.iter().enumerate() {
                let Node::Dir(dir) = node else {
                    return Err(not_found(&path));
                };
                let tree = repo.find_tree(dir).map_err(git_io)?;
                let name = part.as_os_str().as_encoded_bytes();
                let Some(entry) = tree.find_entry(name) else {
                    return Err(not_found(&path));
                };
                let (kind, id) = (entry.mode().kind(), entry.object_id());
                walked.push(part);
                node = match kind {
                    EntryKind::Tree => Node::Dir(id),
                    EntryKind::Blob | EntryKind::BlobExecutable => Node::File(id),
                    EntryKind::Link => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(io::Error::other(format!(
                                "`{}`: too many levels of symbolic links",
                                path.display()
                            )));
                        }
                        let target = repo.find_blob(id).map_err(git_io)?.data.clone();
                        let target = PathBuf::from(String::from_utf8_lossy(&target).into_owned());
                        let base = self.workdir.join(walked.parent().unwrap_or(Path::new("")));
                        let mut next = normalize(&base.join(target));
                        for rest in &parts[i + 1..] {
                            next.push(rest);
                        }
                        path = normalize(&next);
                        continue 'restart;
                    }
                    // A submodule: its files are not in this repository.
                    EntryKind::Commit => return Err(not_found(&path)),
                };
            }
            return Ok(Place::Inside(walked, node));
        }
    }
}

impl CatalogFs for TreeFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.place(path)? {
            Place::Outside(p) => Disk.read(&p),
            Place::Inside(_, Node::File(id)) => {
                let repo = self.repo.to_thread_local();
                let mut blob = repo.find_blob(id).map_err(git_io)?;
                Ok(blob.take_data())
            }
            Place::Inside(..) => Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("`{}` is a directory", path.display()),
            )),
        }
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        match self.place(dir)? {
            Place::Outside(p) => Disk.read_dir(&p),
            Place::Inside(_, Node::Dir(id)) => {
                let repo = self.repo.to_thread_local();
                let tree = repo.find_tree(id).map_err(git_io)?;
                let mut out = vec![];
                for entry in tree.iter() {
                    let entry = entry.map_err(git_io)?;
                    let kind = match entry.mode().kind() {
                        EntryKind::Tree => Kind::Dir,
                        EntryKind::Link => Kind::Symlink,
                        EntryKind::Blob | EntryKind::BlobExecutable => Kind::File,
                        EntryKind::Commit => continue,
                    };
                    let name = String::from_utf8_lossy(entry.filename()).into_owned();
                    out.push(DirEntry {
                        name: name.into(),
                        kind,
                    });
                }
                Ok(out)
            }
            Place::Inside(..) => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("`{}` is not a directory", dir.display()),
            )),
        }
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        match self.place(path)? {
            Place::Outside(p) => p.canonicalize(),
            Place::Inside(rel, _) => Ok(self.workdir.join(rel)),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        match self.place(path) {
            Ok(Place::Outside(p)) => p.is_dir(),
            Ok(Place::Inside(_, node)) => matches!(node, Node::Dir(_)),
            Err(_) => false,
        }
    }
}
