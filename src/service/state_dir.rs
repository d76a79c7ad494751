//! Where a server keeps what it makes for itself (the ticket key today; the SQLite database with
//! the SQL state): never in the catalogs, never in git, readable by the server's user only.

use std::path::{Path, PathBuf};

/// The state directory when none is configured: `$XDG_STATE_HOME/inlet`, else
/// `$HOME/.local/state/inlet` (the XDG default), else `./.inlet`.
pub fn default_dir() -> PathBuf {
    let from = |var: &str, rest: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(|v| PathBuf::from(v).join(rest))
    };
    from("XDG_STATE_HOME", "inlet")
        .or_else(|| from("HOME", ".local/state/inlet"))
        .unwrap_or_else(|| PathBuf::from(".inlet"))
}

/// Creates `dir` (and its parents) if needed and makes it 0700 whatever the umask. An existing
/// directory that others can read is tightened too: it holds keys.
pub fn ensure_private(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the state directory `{}`: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            format!(
                "cannot make the state directory `{}` private (0700): {e}",
                dir.display()
            )
        })?;
    }
    Ok(())
}

/// Whether git tracks `file` (a key committed by mistake is public).
pub fn tracked_by_git(file: &Path) -> bool {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return false;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["ls-files", "--error-unmatch", "--"])
        .arg(name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_state_dir_is_private_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("a/b/state");
        ensure_private(&dir).expect("create");
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        ensure_private(&dir).expect("again");
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "an existing open directory is tightened"
        );
    }

    #[test]
    fn files_git_tracks_are_recognised() {
        let tmp = tempfile::tempdir().expect("tmp");
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(tmp.path())
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        if !git(&["init", "-q"]) {
            return; // no git on this machine: nothing can be tracked either
        }
        std::fs::write(tmp.path().join("k"), "x").expect("write");
        std::fs::write(tmp.path().join("untracked"), "x").expect("write");
        assert!(git(&["add", "k"]));
        assert!(tracked_by_git(&tmp.path().join("k")));
        assert!(!tracked_by_git(&tmp.path().join("untracked")));
    }
}
