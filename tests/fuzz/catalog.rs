//! Target 1: catalog bytes through the real loader (`load_file`, `parse_catalog`,
//! `Library::open`, then every entry found, described and listed recursively). Seeds are the
//! real corpus; inputs that make the loader say something new join the pool.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use inlet::catalog::parse::parse_catalog;
use inlet::catalog::template::Templater;
use inlet::catalog::tree::load_file;
use inlet::catalog::{view, Diagnostic, EnvPolicy, Found, Library};
use inlet::service::describe;

use crate::engine::{Target, Verdict};
use crate::mutate;

pub fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/intake-catalogs");
    assert!(
        dir.is_dir(),
        "the corpus is missing: expected {} (clone the repo next to `shared/`, as CI does)",
        dir.display()
    );
    dir
}

/// Every catalog of the corpus, and the repository's example catalogs.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("read the corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")))
        .collect();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogs");
    files.push(repo.join("example.yaml"));
    files.push(repo.join("regions/sales.yaml"));
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("read a seed"))
        .collect();
    assert!(seeds.len() > 50, "the corpus has {} catalogs", seeds.len());
    seeds
}

/// Where a position may be in `text`: lines counted with every kind of line break (so the
/// bound is loose, never wrong), columns up to the longest line (split on `\n` only) plus one.
fn bounds(text: &str) -> (u32, u32) {
    let breaks = text.matches('\n').count()
        + text.matches('\r').count()
        + text.matches('\u{85}').count()
        + text.matches('\u{2028}').count()
        + text.matches('\u{2029}').count();
    let longest = text
        .split('\n')
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    (breaks as u32 + 1, longest as u32 + 1)
}

/// Every diagnostic of `file` has a 1-based line:col inside `text`, and says something.
fn check_positions(diags: &[Diagnostic], file: &Path, text: Option<&str>) -> Result<(), String> {
    for d in diags.iter().filter(|d| d.file == file) {
        if d.line == 0 || d.col == 0 {
            return Err(format!("diagnostic without a 1-based line:col\n{d}"));
        }
        if let Some(text) = text {
            let (lines, cols) = bounds(text);
            if d.line > lines || d.col > cols {
                return Err(format!(
                    "diagnostic outside the file (it has {lines} lines, the longest {} chars)\n{d}",
                    cols - 1
                ));
            }
        }
        if d.message.trim().is_empty() {
            return Err(format!("diagnostic without a message\n{d}"));
        }
        let shown = d.to_string();
        let prefix = format!("{}:{}:{}: ", file.display(), d.line, d.col);
        if !shown.starts_with(&prefix) {
            return Err(format!("diagnostic not shown as file:line:col\n{shown}"));
        }
    }
    Ok(())
}

/// A diagnostic's kind, without the names, numbers and positions in it.
fn message_class(m: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in m.chars() {
        match c {
            '`' => {
                quoted = !quoted;
                out.push('`');
            }
            _ if quoted => {}
            c if c.is_ascii_digit() => {
                if !out.ends_with('#') {
                    out.push('#');
                }
            }
            c => out.push(c),
        }
    }
    out.chars().take(120).collect()
}

/// What one case loads: the file as written, and a valid sibling it may nest.
struct Workspace {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Workspace {
    fn new(sibling: &[u8]) -> Workspace {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("other.yaml"), sibling).expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/inner.yaml"), sibling).expect("write");
        let path = dir.path().join("cat.yaml");
        Workspace { _dir: dir, path }
    }
}

/// Loads `bytes` every way a server or the CLI would, checking what comes back.
pub fn check_catalog(
    path: &Path,
    bytes: &[u8],
    templater: &Templater,
) -> Result<Vec<Diagnostic>, String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write the case: {e}"))?;
    let drivers = inlet::service::builtin_drivers();
    let text = inlet::catalog::yaml::decode(bytes).ok();
    let file = load_file(path, templater, &drivers);
    check_positions(&file.diagnostics, path, text.as_deref())?;
    if text.is_none() {
        // Text the decoder refuses still goes through the parser, as lossy UTF-8.
        let lossy = String::from_utf8_lossy(bytes);
        let direct = parse_catalog(path, &lossy, templater, &drivers);
        check_positions(&direct.diagnostics, path, Some(&lossy))?;
    }
    let mut diags = file.diagnostics.clone();
    // A file with errors gives the library nothing to open but its diagnostics again: one in
    // four of those (chosen by content, so a shrink sees the same) goes through it anyway.
    let sampled = bytes
        .iter()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)))
        % 4
        == 0;
    if file.has_errors() && !sampled {
        return Ok(diags);
    }
    let (lib, lib_diags) = Library::open(
        &[path.to_path_buf()],
        EnvPolicy::default(),
        Arc::new(drivers),
    );
    check_positions(&lib_diags, path, text.as_deref())?;
    if file.has_errors() != lib.roots().is_empty() {
        return Err(format!(
            "load_file and Library::open disagree: errors {} but {} roots",
            file.has_errors(),
            lib.roots().len()
        ));
    }
    diags.extend(lib_diags);
    let none = BTreeMap::new();
    for root in lib.roots() {
        // Every entry by name, opening nested catalogs on the way, and described.
        let _ = describe::entries(&lib, root, true);
        let names: Vec<String> = root
            .file
            .entries
            .iter()
            .map(|e| format!("{}.{}", root.name, e.name))
            .collect();
        for name in names.iter().take(64) {
            match lib.find(name) {
                Ok(Found::Source(node, idx)) => {
                    let entry = &node.file.entries[idx];
                    let _ = view::describe(&lib, &node, entry, &none);
                }
                Ok(Found::Catalog(node)) => {
                    for (idx, entry) in node.file.entries.iter().enumerate().take(16) {
                        if entry.is_catalog() {
                            let _ = lib.child(&node, idx);
                        } else {
                            let _ = view::describe(&lib, &node, entry, &none);
                        }
                    }
                }
                Err(_) => {}
            }
        }
    }
    Ok(diags)
}

pub fn target() -> Target<Vec<u8>> {
    let seeds = seeds();
    let pool: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(seeds.clone()));
    let seen: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    let gen_pool = pool.clone();
    let others = seeds.clone();
    let ws = Workspace::new(&seeds[0]);
    let templater = Templater::default();
    Target {
        name: "catalog",
        generate: Box::new(move |rng| {
            let base = {
                let p = gen_pool.lock().expect("pool");
                p[rng.usize(..p.len())].clone()
            };
            mutate::mutate(rng, &base, &others)
        }),
        check: Box::new(move |bytes| {
            // The whole workspace (its directory lives as long as the closure).
            let ws: &Workspace = &ws;
            let diags = check_catalog(&ws.path, bytes, &templater)?;
            // Inputs that make the loader say something new are mutated further.
            let mut novel = false;
            if let Ok(mut s) = seen.lock() {
                for d in &diags {
                    novel |= s.insert(message_class(&d.message));
                }
            }
            if novel && bytes.len() < 256 << 10 {
                if let Ok(mut p) = pool.lock() {
                    if p.len() < 4000 {
                        p.push(bytes.clone());
                    }
                }
            }
            Ok(Verdict::Pass)
        }),
        shrink: Box::new(|b| mutate::shrink_bytes(b)),
        show: |b| mutate::show_bytes(b),
    }
}
