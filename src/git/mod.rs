//! Past revisions of the catalogs, read from the objects of their git repository with gix (no
//! checkout, no `git` process): a ref resolved to a commit, that commit's catalog files as a
//! [`crate::catalog::fs::CatalogFs`], and the commits that changed them.

mod log;
mod tree_fs;

use std::path::{Path, PathBuf};

pub use log::{CommitInfo, EntryChange};
pub use tree_fs::TreeFs;

/// The git layer's one error type.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GitError {
    /// The catalogs are not (all) in one git work tree.
    #[error("{0}: revisions (`ref`, /api/v1/revisions, history) need the catalogs in a git repository; serve them from a git work tree, or leave `ref` out")]
    NotARepository(String),
    #[error("no commit, branch or tag `{name}` in the catalogs' repository; {known}")]
    UnknownRef { name: String, known: String },
    #[error("cannot read the catalogs' git repository: {0}")]
    Read(String),
}

fn read_err(e: impl std::fmt::Display) -> GitError {
    GitError::Read(e.to_string())
}

/// One commit, by its full id.
pub type CommitId = gix::ObjectId;

/// The repository holding the catalogs.
pub struct Repo {
    repo: gix::ThreadSafeRepository,
    /// The work tree (canonical): catalog paths are shown under it, as on disk.
    workdir: PathBuf,
    /// The catalog paths, relative to the work tree (empty: the whole tree).
    catalogs: Vec<PathBuf>,
}

impl Repo {
    /// The repository whose work tree holds every one of `catalogs`.
    pub fn discover(catalogs: &[PathBuf]) -> Result<Repo, GitError> {
        let first = catalogs
            .first()
            .ok_or_else(|| GitError::NotARepository("no catalogs are served".into()))?;
        let first = first.canonicalize().map_err(|e| {
            GitError::NotARepository(format!("`{}` cannot be read ({e})", first.display()))
        })?;
        let start = if first.is_dir() {
            first.clone()
        } else {
            first.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let repo = gix::ThreadSafeRepository::discover(&start).map_err(|_| {
            GitError::NotARepository(format!("`{}` is not in a git repository", first.display()))
        })?;
        let workdir = repo
            .work_dir()
            .ok_or_else(|| {
                GitError::NotARepository(format!(
                    "the repository of `{}` has no work tree",
                    first.display()
                ))
            })?
            .canonicalize()
            .map_err(read_err)?;
        let mut rel = vec![];
        for c in catalogs {
            let real = c.canonicalize().map_err(read_err)?;
            let inside = real.strip_prefix(&workdir).map_err(|_| {
                GitError::NotARepository(format!(
                    "`{}` is outside the repository at `{}`",
                    c.display(),
                    workdir.display()
                ))
            })?;
            rel.push(inside.to_path_buf());
        }
        Ok(Repo {
            repo,
            workdir,
            catalogs: rel,
        })
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    fn local(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }

    /// The commit `name` (a full or abbreviated id, a branch, a tag, `HEAD~2`...) points at.
    pub fn resolve(&self, name: &str) -> Result<CommitId, GitError> {
        let repo = self.local();
        let unknown = || GitError::UnknownRef {
            name: name.to_string(),
            known: self.known_refs(),
        };
        if name.is_empty() || name.starts_with('-') || name.contains(['\0', '\n']) {
            return Err(unknown());
        }
        let id = repo.rev_parse_single(name).map_err(|_| unknown())?;
        let commit = id
            .object()
            .map_err(read_err)?
            .peel_to_commit()
            .map_err(|_| unknown())?;
        Ok(commit.id)
    }

    /// Branches and tags, for an error that says what exists.
    fn known_refs(&self) -> String {
        let repo = self.local();
        let mut names: Vec<String> = vec![];
        if let Ok(refs) = repo.references() {
            if let Ok(all) = refs.all() {
                for r in all.flatten() {
                    let full = r.name().as_bstr().to_string();
                    for prefix in ["refs/heads/", "refs/tags/"] {
                        if let Some(short) = full.strip_prefix(prefix) {
                            names.push(short.to_string());
                        }
                    }
                }
            }
        }
        names.sort();
        const SHOWN: usize = 20;
        let more = names.len().saturating_sub(SHOWN);
        names.truncate(SHOWN);
        let mut text = if names.is_empty() {
            "the repository has no branches or tags; use a commit id".to_string()
        } else {
            format!("refs that exist: {}", names.join(", "))
        };
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
        text.push_str(" (or any commit id; GET /api/v1/revisions lists recent ones)");
        text
    }

    /// The catalog files of `commit`, readable as a file system shown under the work tree.
    pub fn tree_fs(&self, commit: CommitId) -> Result<TreeFs, GitError> {
        let repo = self.local();
        let tree = repo
            .find_commit(commit)
            .map_err(read_err)?
            .tree_id()
            .map_err(read_err)?
            .detach();
        Ok(TreeFs::new(self.repo.clone(), tree, self.workdir.clone()))
    }

    /// `git:<first 12 hex digits>`: the revision string of a clean checkout of `commit`.
    pub fn revision_of(commit: CommitId) -> String {
        let hex = commit.to_hex().to_string();
        format!("git:{}", &hex[..12.min(hex.len())])
    }

    /// A key of what `commit` holds under the catalog paths (their tree or blob ids).
    pub fn content_key(&self, commit: CommitId) -> Result<String, GitError> {
        let repo = self.local();
        let tree = repo
            .find_commit(commit)
            .map_err(read_err)?
            .tree()
            .map_err(read_err)?;
        let mut key = String::new();
        for rel in &self.catalogs {
            let id = if rel.as_os_str().is_empty() {
                Some(tree.id)
            } else {
                tree.lookup_entry_by_path(rel)
                    .map_err(read_err)?
                    .map(|e| e.object_id())
            };
            key.push_str(&id.map(|i| i.to_hex().to_string()).unwrap_or_default());
            key.push('|');
        }
        Ok(key)
    }
}
