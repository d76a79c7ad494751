//! Past revisions of the catalogs: snapshots of a git ref (cached per commit), the commits that
//! changed the catalogs, and those that changed one source's entry.

use std::sync::Arc;

use super::access::{authorize, Caller};
use super::snapshot::{AtRevision, Snapshot};
use super::{Core, ServiceError};
use crate::catalog::parse::parse_catalog;
use crate::catalog::template::Templater;
use crate::git::{CommitId, CommitInfo, EntryChange, GitError, Repo};

/// Snapshots of past commits kept at once (each holds its parsed catalogs).
const PINNED_SNAPSHOTS: usize = 8;
/// Commits looked at by one history or revisions request at most.
const SCAN_COMMITS: usize = 10_000;
/// Answers hold at most this many commits.
pub const MAX_COMMITS: usize = 500;

/// The repository state of a core: opened once it is first needed.
#[derive(Default)]
pub struct Revisions {
    repo: std::sync::Mutex<Option<Arc<Repo>>>,
    /// Snapshots of commits, most recently used last.
    pinned: std::sync::Mutex<Vec<(CommitId, Arc<Snapshot>)>>,
}

impl Core {
    /// The snapshot a caller reads: the revision it asked for, or the current one.
    pub fn snapshot_for(&self, caller: &Caller) -> Arc<Snapshot> {
        match &caller.at {
            Some(AtRevision(snap)) => snap.clone(),
            None => self.snapshot(),
        }
    }

    /// The git repository holding the catalogs.
    pub fn repo(&self) -> Result<Arc<Repo>, ServiceError> {
        let mut slot = self
            .revisions
            .repo
            .lock()
            .map_err(|_| ServiceError::Encoding("repository lock poisoned".into()))?;
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let repo = Arc::new(Repo::discover(&self.config.catalogs)?);
        *slot = Some(repo.clone());
        Ok(repo)
    }

    /// The catalogs at `name` (a commit id, branch, tag or `HEAD~n`), for a request's `ref`.
    pub async fn snapshot_at(&self, name: &str) -> Result<AtRevision, ServiceError> {
        let repo = self.repo()?;
        let commit = {
            let (repo, name) = (repo.clone(), name.to_string());
            blocking(move || repo.resolve(&name)).await?
        };
        self.snapshot_of_commit(repo, commit).await.map(AtRevision)
    }

    /// The snapshot a ticket planned at `revision` reads: the current one if it is at that
    /// revision, else that commit's (None: not a clean commit, so it cannot be loaded again).
    pub(super) async fn snapshot_of_revision(
        &self,
        revision: &str,
    ) -> Result<Option<Arc<Snapshot>>, ServiceError> {
        let current = self.snapshot();
        if current.revision == revision {
            return Ok(Some(current));
        }
        let Some(short) = revision.strip_prefix("git:") else {
            return Ok(None);
        };
        if !short.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Ok(repo) = self.repo() else {
            return Ok(None);
        };
        let commit = {
            let (repo, short) = (repo.clone(), short.to_string());
            match blocking(move || repo.resolve(&short)).await {
                Ok(c) => c,
                Err(_) => return Ok(None),
            }
        };
        self.snapshot_of_commit(repo, commit).await.map(Some)
    }

    async fn snapshot_of_commit(
        &self,
        repo: Arc<Repo>,
        commit: CommitId,
    ) -> Result<Arc<Snapshot>, ServiceError> {
        let cached = |core: &Core| {
            let mut pinned = core.revisions.pinned.lock().ok()?;
            let at = pinned.iter().position(|(c, _)| *c == commit)?;
            let hit = pinned.remove(at);
            let snap = hit.1.clone();
            pinned.push(hit);
            Some(snap)
        };
        if let Some(s) = cached(self) {
            return Ok(s);
        }
        let current = self.snapshot();
        if current.revision == Repo::revision_of(commit) {
            return Ok(current);
        }
        let (config, drivers, budget) = (
            self.config.clone(),
            self.drivers.clone(),
            self.budget.clone(),
        );
        let mut snap =
            blocking(move || Snapshot::load_commit(&repo, commit, &config, drivers, &budget))
                .await?;
        snap.cache.clone_from(&current.cache);
        let snap = Arc::new(snap);
        if let Ok(mut pinned) = self.revisions.pinned.lock() {
            if let Some(again) = pinned.iter().find(|(c, _)| *c == commit) {
                return Ok(again.1.clone());
            }
            if pinned.len() >= PINNED_SNAPSHOTS {
                pinned.remove(0);
            }
            pinned.push((commit, snap.clone()));
        }
        Ok(snap)
    }

    /// Commits that changed the catalogs, newest first, from `from` (a ref; None: HEAD).
    pub async fn revisions(
        &self,
        caller: &Caller,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CommitInfo>, ServiceError> {
        if caller.visible().is_some_and(|v| v.is_empty()) {
            authorize(caller, "")?;
        }
        let repo = self.repo()?;
        let from = from.unwrap_or("HEAD").to_string();
        blocking(move || {
            let tip = repo.resolve(&from)?;
            repo.log(tip, limit.clamp(1, MAX_COMMITS), SCAN_COMMITS)
        })
        .await
    }

    /// Commits that added, changed or removed `source`'s entry, newest first, from `from` (a
    /// ref; None: HEAD). The entry is followed in the file that holds it at `from`.
    pub async fn history(
        &self,
        caller: &Caller,
        source: &str,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EntryChange>, ServiceError> {
        authorize(caller, source)?;
        let repo = self.repo()?;
        let snap = self.snapshot_for(caller);
        let (node, idx) = snap.service.entry(source).map_err(|e| caller.conceal(e))?;
        let file = node.file.path.clone();
        let local = node.file.entries[idx].name.clone();
        let drivers = self.drivers.clone();
        let from = from.unwrap_or("HEAD").to_string();
        blocking(move || {
            let tip = repo.resolve(&from)?;
            let templater = Templater::default();
            let digest = |path: &std::path::Path, bytes: &[u8]| -> Option<String> {
                let text = crate::catalog::yaml::decode(bytes).ok()?;
                let parsed = parse_catalog(path, &text, &templater, &drivers);
                let i = parsed.entry_under(&local)?;
                let entry = parsed.entries.get(i).filter(|e| e.name == local)?;
                Some(entry.digest())
            };
            repo.entry_history(
                tip,
                &file,
                &digest,
                limit.clamp(1, MAX_COMMITS),
                SCAN_COMMITS,
            )
        })
        .await
    }
}

/// Runs git work (object reads, catalog parsing) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::Encoding(format!("git task failed: {e}")))?
        .map_err(ServiceError::from)
}
