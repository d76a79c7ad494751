//! Finding catalog files on disk without being led astray. A catalog directory may hold symlinks
//! (git stores them): they are followed only while they stay under the roots the walk may read,
//! and every directory is read once, so link loops (`x -> .`) and link diamonds end.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use super::fs::{CatalogFs, Kind};

/// What a walk found: files (as reached from the start directory, sorted) and the paths it left
/// out, each with why.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// How far a walk may go and what it keeps.
pub struct WalkRules<'a> {
    /// Where the files are (the disk, or a git commit).
    pub fs: &'a dyn CatalogFs,
    /// Canonical directories the walk may read; symlinks leading anywhere else are skipped.
    pub roots: &'a [PathBuf],
    /// Whether hidden (dot) files and directories are read.
    pub hidden: bool,
    /// How many directory levels below the start the files may be (None: any).
    pub max_depth: Option<usize>,
    /// Which files to keep, by the path they were reached by.
    pub keep: &'a dyn Fn(&Path) -> bool,
}

/// A directory to read: the path it is shown by, its real path, its depth below the start.
struct Dir {
    shown: PathBuf,
    real: PathBuf,
    depth: usize,
}

/// Whether `path` lies under one of `roots` (both canonical).
pub fn inside(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|r| path.starts_with(r))
}

/// Every file under `start` that `rules` keep. Real subdirectories are read before symlinked
/// ones, so a directory reachable both ways is named by its real path, whatever the listing
/// order.
pub fn walk(start: &Path, rules: &WalkRules<'_>) -> Walk {
    let mut out = Walk::default();
    let fs = rules.fs;
    let Ok(real) = fs.canonicalize(start) else {
        return out;
    };
    let mut visited: HashSet<PathBuf> = HashSet::new();
    let mut real_dirs = VecDeque::from([Dir {
        shown: start.to_path_buf(),
        real,
        depth: 0,
    }]);
    let mut linked_dirs: VecDeque<Dir> = VecDeque::new();
    while let Some(dir) = real_dirs.pop_front().or_else(|| linked_dirs.pop_front()) {
        if !visited.insert(dir.real.clone()) {
            out.skipped.push((dir.shown, already_read(&dir.real)));
            continue;
        }
        let Ok(mut entries) = fs.read_dir(&dir.shown) else {
            continue;
        };
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for e in entries {
            let hidden = e.name.to_string_lossy().starts_with('.');
            if hidden && !rules.hidden {
                continue;
            }
            let shown = dir.shown.join(&e.name);
            let below = rules.max_depth.is_none_or(|max| dir.depth + 1 < max);
            if e.kind == Kind::Symlink {
                let target = match fs.canonicalize(&shown) {
                    Ok(t) => t,
                    Err(err) => {
                        out.skipped
                            .push((shown, format!("is a broken symlink ({err}); skipped")));
                        continue;
                    }
                };
                if !inside(&target, rules.roots) {
                    out.skipped.push((shown, outside(&target, rules.roots)));
                } else if fs.is_dir(&target) {
                    if below {
                        linked_dirs.push_back(Dir {
                            shown,
                            real: target,
                            depth: dir.depth + 1,
                        });
                    }
                } else if (rules.keep)(&shown) {
                    out.files.push(shown);
                }
            } else if e.kind == Kind::Dir {
                if below {
                    real_dirs.push_back(Dir {
                        real: dir.real.join(&e.name),
                        shown,
                        depth: dir.depth + 1,
                    });
                }
            } else if (rules.keep)(&shown) {
                out.files.push(shown);
            }
        }
    }
    out.files.sort();
    out
}

fn already_read(real: &Path) -> String {
    format!(
        "is a symlink to `{}`, a directory already read (a symlink loop, or a second name for \
         it); skipped: each directory is read once",
        real.display()
    )
}

fn outside(target: &Path, roots: &[PathBuf]) -> String {
    let roots: Vec<String> = roots.iter().map(|r| format!("`{}`", r.display())).collect();
    format!(
        "is a symlink to `{}`, outside the catalog root {}; skipped: move the file under the \
         root, or serve its directory as a catalog root of its own",
        target.display(),
        roots.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(p: &Path) -> bool {
        p.extension().is_some_and(|x| x == "yaml")
    }

    fn rules<'a>(roots: &'a [PathBuf], keep: &'a dyn Fn(&Path) -> bool) -> WalkRules<'a> {
        WalkRules {
            fs: &crate::catalog::fs::Disk,
            roots,
            hidden: false,
            max_depth: None,
            keep,
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_end_and_links_out_of_the_root_are_skipped() {
        use std::os::unix::fs::symlink;
        let outer = tempfile::tempdir().expect("tmp");
        let root = outer.path().join("root");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("a.yaml"), "sources: {}\n").expect("write");
        std::fs::write(root.join("sub/b.yaml"), "sources: {}\n").expect("write");
        std::fs::write(outer.path().join("secret.yaml"), "sources: {}\n").expect("write");
        symlink(".", root.join("x")).expect("link");
        symlink("..", root.join("sub/y")).expect("link");
        symlink(outer.path(), root.join("up")).expect("link");
        symlink(outer.path().join("secret.yaml"), root.join("s.yaml")).expect("link");
        let roots = [root.canonicalize().expect("canonical")];
        let found = walk(&root, &rules(&roots, &yaml));
        assert_eq!(found.files, [root.join("a.yaml"), root.join("sub/b.yaml")]);
        let skipped: Vec<&Path> = found.skipped.iter().map(|(p, _)| p.as_path()).collect();
        assert!(skipped.contains(&root.join("x").as_path()), "{skipped:?}");
        assert!(
            skipped.contains(&root.join("sub/y").as_path()),
            "{skipped:?}"
        );
        assert!(skipped.contains(&root.join("up").as_path()), "{skipped:?}");
        assert!(
            skipped.contains(&root.join("s.yaml").as_path()),
            "{skipped:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_inside_the_root_are_followed_once() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        std::fs::create_dir_all(root.join(".v2")).expect("mkdir");
        std::fs::write(root.join(".v2/c.yaml"), "sources: {}\n").expect("write");
        symlink(".v2", root.join("current")).expect("link");
        symlink(".v2", root.join("latest")).expect("link");
        let roots = [root.canonicalize().expect("canonical")];
        let found = walk(root, &rules(&roots, &yaml));
        assert_eq!(found.files, [root.join("current/c.yaml")]);
        assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    }

    #[test]
    fn max_depth_limits_how_deep_files_are_looked_for() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        for f in ["top.yaml", "a/one.yaml", "a/b/two.yaml"] {
            std::fs::write(root.join(f), "sources: {}\n").expect("write");
        }
        let roots = [root.canonicalize().expect("canonical")];
        let mut r = rules(&roots, &yaml);
        r.max_depth = Some(2);
        let found = walk(root, &r);
        assert_eq!(
            found.files,
            [root.join("a/one.yaml"), root.join("top.yaml")]
        );
    }
}
