//! The catalog revision (ETags, tickets) and the cheap fingerprint that tells a reload is due.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::catalog::tree::yaml_files;

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

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The git commit of the catalogs (`git:<sha12>`, plus `-dirty.<hash>` when catalog files have
/// uncommitted changes, so each edit is a new revision), or `sha256:<hash>` outside git.
pub fn revision(paths: &[PathBuf]) -> String {
    let dir = paths.first().map(|p| {
        if p.is_dir() {
            p.clone()
        } else {
            p.parent().map(Path::to_path_buf).unwrap_or_default()
        }
    });
    let commit = dir
        .as_deref()
        .and_then(|d| git(d, &["rev-parse", "--short=12", "HEAD"]));
    match commit {
        Some(sha) => {
            let mut args = vec!["status", "--porcelain", "--"];
            let shown: Vec<String> = paths
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            args.extend(shown.iter().map(String::as_str));
            let dirty = dir
                .as_deref()
                .and_then(|d| git(d, &args))
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("git:{sha}-dirty.{}", content_hash(paths))
            } else {
                format!("git:{sha}")
            }
        }
        None => format!("sha256:{}", content_hash(paths)),
    }
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
}
