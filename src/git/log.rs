//! The commits that changed the catalogs, and those that changed one entry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gix::object::tree::EntryKind;
use gix::revision::walk::Sorting;
use gix::traverse::commit::simple::CommitTimeOrder;

use super::{read_err, CommitId, GitError, Repo};

/// One commit that changed catalog files.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CommitInfo {
    /// The full commit id.
    pub commit: String,
    /// The catalog revision string of this commit (`git:<12 hex digits>`), as answers carry it.
    pub revision: String,
    /// Commit time, Unix seconds.
    pub time: i64,
    pub author: String,
    pub message: String,
    /// Catalog files (YAML) the commit added, changed or removed, relative to the repository.
    pub files: Vec<String>,
}

/// One commit that changed an entry.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EntryChange {
    #[serde(flatten)]
    pub commit: CommitInfo,
    /// `added`, `modified` or `removed`.
    pub change: &'static str,
}

fn is_yaml(name: &[u8]) -> bool {
    name.ends_with(b".yaml") || name.ends_with(b".yml")
}

impl Repo {
    /// Commits reachable from `from`, newest first, that changed catalog files: at most
    /// `limit` of them, looking at no more than `scan` commits.
    pub fn log(
        &self,
        from: CommitId,
        limit: usize,
        scan: usize,
    ) -> Result<Vec<CommitInfo>, GitError> {
        let mut out = vec![];
        self.walk(from, scan, |repo, commit, parent| {
            let mut files = vec![];
            for rel in &self.catalogs {
                let now = entry_at(repo, commit, rel)?;
                let before = match parent {
                    Some(p) => entry_at(repo, p, rel)?,
                    None => None,
                };
                changed_files(repo, rel, before, now, &mut files)?;
            }
            if !files.is_empty() {
                files.sort();
                files.dedup();
                out.push(info(repo, commit, files)?);
            }
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Commits reachable from `from`, newest first, that changed what `digest` makes of the
    /// catalog file `file` (shown under the work tree): `digest` returns a fingerprint of the
    /// entry in the file's bytes, None where the file does not hold it.
    pub fn entry_history(
        &self,
        from: CommitId,
        file: &Path,
        digest: &dyn Fn(&Path, &[u8]) -> Option<String>,
        limit: usize,
        scan: usize,
    ) -> Result<Vec<EntryChange>, GitError> {
        let rel = file
            .strip_prefix(&self.workdir)
            .map_err(|_| {
                GitError::NotARepository(format!("`{}` is outside the repository", file.display()))
            })?
            .to_path_buf();
        let mut digests: HashMap<gix::ObjectId, Option<String>> = HashMap::new();
        // The entry's digest in a blob, once per blob (most commits leave the file alone).
        let mut of = |repo: &gix::Repository,
                      blob: Option<(EntryKind, gix::ObjectId)>|
         -> Result<Option<String>, GitError> {
            let Some((_, id)) = blob.filter(|(k, _)| *k != EntryKind::Tree) else {
                return Ok(None);
            };
            if let Some(d) = digests.get(&id) {
                return Ok(d.clone());
            }
            let data = repo.find_blob(id).map_err(read_err)?.take_data();
            let d = digest(file, &data);
            digests.insert(id, d.clone());
            Ok(d)
        };
        let mut out = vec![];
        self.walk(from, scan, |repo, commit, parent| {
            let now_blob = entry_at(repo, commit, &rel)?;
            let before_blob = match parent {
                Some(p) => entry_at(repo, p, &rel)?,
                None => None,
            };
            if now_blob == before_blob {
                return Ok(true);
            }
            let (now, before) = (of(repo, now_blob)?, of(repo, before_blob)?);
            let change = match (&before, &now) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(a), Some(b)) if a != b => "modified",
                _ => return Ok(true),
            };
            let files = vec![rel.to_string_lossy().into_owned()];
            out.push(EntryChange {
                commit: info(repo, commit, files)?,
                change,
            });
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Calls `visit(repo, commit, first parent)` for commits from `from`, newest first, until
    /// it returns false or `scan` commits were seen.
    fn walk(
        &self,
        from: CommitId,
        scan: usize,
        mut visit: impl FnMut(&gix::Repository, CommitId, Option<CommitId>) -> Result<bool, GitError>,
    ) -> Result<(), GitError> {
        let repo = self.local();
        let walk = repo
            .rev_walk([from])
            .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
            .all()
            .map_err(read_err)?;
        for info in walk.take(scan) {
            let info = info.map_err(read_err)?;
            let parent = info.parent_ids().next().map(|p| p.detach());
            if !visit(&repo, info.id, parent)? {
                break;
            }
        }
        Ok(())
    }
}

fn info(repo: &gix::Repository, id: CommitId, files: Vec<String>) -> Result<CommitInfo, GitError> {
    let commit = repo.find_commit(id).map_err(read_err)?;
    let author = commit.author().map_err(read_err)?;
    let time = commit.time().map_err(read_err)?.seconds;
    let message = commit.message_raw_sloppy().to_string().trim().to_string();
    Ok(CommitInfo {
        commit: id.to_hex().to_string(),
        revision: Repo::revision_of(id),
        time,
        author: author.name.to_string().trim().to_string(),
        message,
        files,
    })
}

/// What `rel` (relative to the work tree; empty: the root) is in `commit`: kind and id.
fn entry_at(
    repo: &gix::Repository,
    commit: CommitId,
    rel: &Path,
) -> Result<Option<(EntryKind, gix::ObjectId)>, GitError> {
    let tree = repo
        .find_commit(commit)
        .map_err(read_err)?
        .tree()
        .map_err(read_err)?;
    if rel.as_os_str().is_empty() {
        return Ok(Some((EntryKind::Tree, tree.id)));
    }
    Ok(tree
        .lookup_entry_by_path(rel)
        .map_err(read_err)?
        .map(|e| (e.mode().kind(), e.object_id())))
}

/// The YAML files under `rel` that differ between `before` and `now` (each a tree or a blob).
fn changed_files(
    repo: &gix::Repository,
    rel: &Path,
    before: Option<(EntryKind, gix::ObjectId)>,
    now: Option<(EntryKind, gix::ObjectId)>,
    out: &mut Vec<String>,
) -> Result<(), GitError> {
    if before == now {
        return Ok(());
    }
    let is_tree =
        |e: Option<(EntryKind, gix::ObjectId)>| e.is_some_and(|(k, _)| k == EntryKind::Tree);
    if !is_tree(before) && !is_tree(now) {
        if is_yaml(rel.as_os_str().as_encoded_bytes()) {
            out.push(rel.to_string_lossy().into_owned());
        }
        return Ok(());
    }
    let children = |e: Option<(EntryKind, gix::ObjectId)>| -> Result<HashMap<Vec<u8>, (EntryKind, gix::ObjectId)>, GitError> {
        let mut map = HashMap::new();
        if let Some((EntryKind::Tree, id)) = e {
            let tree = repo.find_tree(id).map_err(read_err)?;
            for entry in tree.iter() {
                let entry = entry.map_err(read_err)?;
                map.insert(entry.filename().to_vec(), (entry.mode().kind(), entry.object_id()));
            }
        }
        Ok(map)
    };
    let (a, b) = (children(before)?, children(now)?);
    // A file became a directory or the other way round: the file side changed too.
    let file_side = |e: Option<(EntryKind, gix::ObjectId)>| e.is_some() && !is_tree(e);
    if (file_side(before) || file_side(now)) && is_yaml(rel.as_os_str().as_encoded_bytes()) {
        out.push(rel.to_string_lossy().into_owned());
    }
    let mut names: Vec<&Vec<u8>> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let child: PathBuf = rel.join(String::from_utf8_lossy(name).as_ref());
        changed_files(
            repo,
            &child,
            a.get(name).copied(),
            b.get(name).copied(),
            out,
        )?;
    }
    Ok(())
}
