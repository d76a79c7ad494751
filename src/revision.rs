//! The catalog revision (ETags, tickets) and the cheap fingerprint that tells a reload is due.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::fs::CatalogFs;
use crate::catalog::tree::{yaml_files, yaml_walk};
use crate::git::{CommitId, Repo};

/// Every YAML file the catalogs are made of, sorted.
fn catalog_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = paths
        .iter()
        .flat_map(|p| {
            if p.is_dir() {
                yaml_files(p)
            } else {
                vec![p.clone()]
            }
        })
        .collect();
    files.sort();
    files
}

/// Paths, sizes and modification times: changes whenever a catalog file is edited, added or
/// removed, without reading file contents.
pub fn fingerprint(paths: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for f in catalog_files(paths) {
        let meta = std::fs::metadata(&f).ok();
        let mtime = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        h.update(format!("{}|{:?}|{:?}\n", f.display(), meta.map(|m| m.len()), mtime).as_bytes());
    }
    hex(&h.finalize()[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the search index of a snapshot is keyed by: its `revision` and a hash of the files
/// served (names relative to their root, and contents), so servers sharing a database that
/// serve different catalogs of one commit never share an index.
pub fn index_key(revision: &str, paths: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for root in paths {
        let files = if root.is_dir() {
            let mut f = yaml_files(root);
            f.sort();
            f
        } else {
            vec![root.clone()]
        };
        for f in files {
            let rel = if root.is_dir() {
                f.strip_prefix(root).unwrap_or(&f)
            } else {
                Path::new(f.file_name().unwrap_or_default())
            };
            h.update(rel.to_string_lossy().as_bytes());
            h.update([0]);
            h.update(std::fs::read(&f).unwrap_or_default());
            h.update([0]);
        }
    }
    format!("{revision}@{}", hex(&h.finalize()[..8]))
}

/// A hash of the catalog files' names and contents.
pub fn content_hash(paths: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for f in catalog_files(paths) {
        h.update(f.to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap_or_default());
    }
    hex(&h.finalize()[..8])
}

/// The git commit of the catalogs (`git:<sha12>`, plus `-dirty.<hash>` when the catalog files
/// on disk are not those of `HEAD`, so each edit is a new revision), or `sha256:<hash>` outside
/// git. Read from git objects (no `git` process); a catalog file that is untracked or ignored
/// counts as an edit, so its revision still follows its content.
pub fn revision(paths: &[PathBuf]) -> String {
    match head_state(paths) {
        Some((commit, true)) => Repo::revision_of(commit),
        Some((commit, false)) => {
            format!(
                "{}-dirty.{}",
                Repo::revision_of(commit),
                content_hash(paths)
            )
        }
        None => format!("sha256:{}", content_hash(paths)),
    }
}

/// `HEAD` of the catalogs' repository, and whether the catalog files on disk are exactly its
/// own (the same YAML files, found by the same walk, with the same bytes).
fn head_state(paths: &[PathBuf]) -> Option<(CommitId, bool)> {
    let repo = Repo::discover(paths).ok()?;
    let head = repo.resolve("HEAD").ok()?;
    let committed = repo.tree_fs(head).ok()?;
    let clean = paths.iter().all(|p| {
        let (on_disk, in_head) = if p.is_dir() {
            (yaml_files(p), yaml_walk(&committed, p).files)
        } else {
            let here = committed.read(p).is_ok().then(|| p.clone());
            (vec![p.clone()], here.into_iter().collect())
        };
        on_disk == in_head
            && on_disk
                .iter()
                .all(|f| matches!((std::fs::read(f), committed.read(f)), (Ok(a), Ok(b)) if a == b))
    });
    Some((head, clean))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_revision_and_fingerprint_follow_edits() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, "sources: {}\n").expect("write");
        let paths = vec![dir.path().to_path_buf()];
        let (r1, f1) = (revision(&paths), fingerprint(&paths));
        assert!(r1.starts_with("sha256:"), "{r1}");
        assert_eq!(revision(&paths), r1, "stable while nothing changes");
        std::fs::write(&f, "sources: {a: {driver: csv}}\n").expect("write");
        assert_ne!(revision(&paths), r1);
        assert_ne!(fingerprint(&paths), f1);
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn git_revisions_are_the_commit_while_the_catalog_files_are_the_commits() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        let cats = root.join("cats");
        std::fs::create_dir_all(&cats).expect("mkdir");
        std::fs::write(cats.join("a.yaml"), "sources: {}\n").expect("write");
        std::fs::write(root.join("notes.txt"), "x").expect("write");
        git(root, &["init", "-q"]);
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "one"]);
        let paths = vec![cats.clone()];
        let head = git(root, &["rev-parse", "--short=12", "HEAD"]);
        assert_eq!(revision(&paths), format!("git:{head}"));
        // Files that are not catalogs do not matter.
        std::fs::write(root.join("notes.txt"), "y").expect("write");
        std::fs::write(cats.join("data.csv"), "x\n1\n").expect("write");
        assert_eq!(revision(&paths), format!("git:{head}"));
        // An edit, an untracked catalog file, a deleted one: each is dirty, by content.
        std::fs::write(cats.join("a.yaml"), "sources: {b: {driver: csv}}\n").expect("write");
        let edited = revision(&paths);
        assert!(
            edited.starts_with(&format!("git:{head}-dirty.")),
            "{edited}"
        );
        git(root, &["commit", "-qam", "two"]);
        let two = git(root, &["rev-parse", "--short=12", "HEAD"]);
        assert_eq!(revision(&paths), format!("git:{two}"));
        std::fs::write(cats.join("new.yaml"), "sources: {}\n").expect("write");
        assert!(revision(&paths).contains("-dirty."));
        std::fs::remove_file(cats.join("new.yaml")).expect("rm");
        std::fs::remove_file(cats.join("a.yaml")).expect("rm");
        assert!(revision(&paths).contains("-dirty."));
        // Catalogs git ignores are never the commit's: their revision follows their content.
        std::fs::write(root.join(".gitignore"), "ignored/\n").expect("write");
        let ignored = root.join("ignored");
        std::fs::create_dir_all(&ignored).expect("mkdir");
        std::fs::write(ignored.join("c.yaml"), "sources: {}\n").expect("write");
        let first = revision(std::slice::from_ref(&ignored));
        std::fs::write(ignored.join("c.yaml"), "sources: {c: {driver: csv}}\n").expect("write");
        assert_ne!(revision(std::slice::from_ref(&ignored)), first);
    }
}
