//! Hostile catalog files: alias bombs, deep nesting, huge `%`-format widths, and the encodings
//! Intake reads (UTF-8 with a BOM, UTF-16). Each is refused (or read) with a file:line:col, fast,
//! and without recursing once per nesting level.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use inlet::catalog::template::Templater;
use inlet::catalog::tree::load_file;
use inlet::catalog::{view, CatalogFile, Diagnostic, EnvPolicy, Found, Library, Severity};
use serde_json::{json, Value as J};

fn errors(cat: &CatalogFile) -> Vec<&Diagnostic> {
    cat.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

fn load(dir: &Path, name: &str, bytes: &[u8]) -> CatalogFile {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    load_file(
        &path,
        &Templater::default(),
        &inlet::service::builtin_drivers(),
    )
}

/// Runs `f` on a thread with a 256 KiB stack: a walk that recursed once per level of a deep
/// document would overflow it.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("no stack overflow")
}

#[test]
fn alias_bomb_is_refused_fast_at_the_alias_that_exceeds_the_budget() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in ('a'..='h').zip('b'..='i') {
        let row = vec![format!("*{prev}"); 9].join(", ");
        text.push_str(&format!("{name}: &{name} [{row}]\n"));
    }
    text.push_str("sources: {}\n");
    let started = Instant::now();
    let cat = load(dir.path(), "bomb.yaml", text.as_bytes());
    assert!(started.elapsed() < Duration::from_secs(5));
    let errs = errors(&cat);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].line, errs[0].col), (6, 8), "{}", errs[0]);
    assert!(errs[0].message.contains("aliases expand"), "{}", errs[0]);
}

#[test]
fn anchors_and_aliases_still_work_in_entries() {
    let dir = tempfile::tempdir().expect("tmp");
    let cat = load(
        dir.path(),
        "c.yaml",
        b"sources:\n  a:\n    driver: csv\n    args: &args {urlpath: a.csv, csv_kwargs: {sep: ';'}}\n  b:\n    driver: csv\n    args: *args\n",
    );
    assert!(errors(&cat).is_empty(), "{:?}", cat.diagnostics);
    let b = cat.entry("b").expect("b");
    assert_eq!(
        b.args,
        json!({"urlpath": "a.csv", "csv_kwargs": {"sep": ";"}})
    );
}

/// A catalog whose one entry nests `levels` mappings under `args` (block style).
fn deep_catalog(levels: usize) -> String {
    let mut text = String::from("sources:\n  deep:\n    driver: csv\n    args:\n");
    for i in 0..levels {
        text.push_str(&format!("{}k:\n", " ".repeat(6 + i)));
    }
    text.push_str(&format!("{}urlpath: x.csv\n", " ".repeat(6 + levels)));
    text
}

#[test]
fn deep_documents_are_refused_by_the_loader_with_a_position() {
    for levels in [1_500, 5_000] {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("deep.yaml");
        std::fs::write(&path, deep_catalog(levels)).expect("write");
        let cat = on_small_stack(move || {
            load_file(
                &path,
                &Templater::default(),
                &inlet::service::builtin_drivers(),
            )
        });
        let errs = errors(&cat);
        assert_eq!(errs.len(), 1, "{errs:?}");
        // Level 1 is the root mapping, level 4 the mapping under `args` (line 5): level 65 is
        // on line 66.
        assert_eq!(errs[0].line, 66, "{}", errs[0]);
        assert!(
            errs[0].message.contains("deeper than 64 levels"),
            "{}",
            errs[0]
        );
        assert!(cat.entries.is_empty());
    }
}

/// Opens a catalog whose `deep` entry nests its args as deep as the loader accepts (level 64),
/// with a `list` parameter at the bottom that keeps its native type, so a caller's value lands
/// below all of it; describes it (render + redact + JSON) with `value` on a `kib` KiB stack.
fn describe_deep_entry(value: J, kib: usize) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let mut text = String::from(
        "sources:\n  deep:\n    driver: csv\n    parameters:\n      p: {type: list, default: []}\n    args:\n      urlpath: x.csv\n",
    );
    let levels = inlet::catalog::yaml::MAX_DEPTH - 5;
    for i in 0..levels {
        text.push_str(&format!("{}level:\n", " ".repeat(6 + i)));
    }
    text.push_str(&format!("{}token: '{{{{ p }}}}'\n", " ".repeat(6 + levels)));
    std::fs::write(dir.path().join("c.yaml"), text).expect("write");
    let root = dir.path().to_path_buf();
    std::thread::Builder::new()
        .stack_size(kib * 1024)
        .spawn(move || {
            let (lib, diags) = Library::open(
                &[root],
                EnvPolicy::default(),
                std::sync::Arc::new(inlet::service::builtin_drivers()),
            );
            assert!(
                diags.iter().all(|d| d.severity != Severity::Error),
                "{diags:?}"
            );
            let Ok(Found::Source(node, idx)) = lib.find("c.deep") else {
                panic!("c.deep is a source");
            };
            let params = BTreeMap::from([("p".to_string(), value)]);
            let described =
                view::describe(&lib, &node, &node.file.entries[idx], &params).expect("describes");
            serde_json::to_string(&described).expect("serializes")
        })
        .expect("thread")
        .join()
        .expect("no stack overflow")
}

#[test]
fn values_at_the_depth_limit_render_and_redact_on_a_small_stack() {
    let shown = describe_deep_entry(json!(["a"]), 256);
    assert!(shown.contains("\"token\":\"***\""), "{shown}");
}

#[test]
fn the_deepest_caller_values_render_and_redact_well_within_a_worker_stack() {
    // The deepest JSON a caller can send: serde_json refuses more than 128 levels. Placed below
    // 64 levels of catalog values, every walk (render, redact, clone, serialize) recurses ~190
    // times; even a debug build does that on 256 KiB (tokio's workers have 2 MiB).
    let deep = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let value: J = serde_json::from_str(&deep).expect("serde_json accepts it");
    let shown = describe_deep_entry(value, 256);
    // The secret-named key holds the caller's value: redacted, however deep it sits.
    assert!(shown.contains("\"token\":\"***\""), "{shown}");
}

#[test]
fn huge_format_width_is_a_load_error_at_its_position() {
    let dir = tempfile::tempdir().expect("tmp");
    let cat = load(
        dir.path(),
        "c.yaml",
        b"sources:\n  a:\n    driver: csv\n    args:\n      urlpath: \"f_{{ '%0999999999d' % 1 }}.csv\"\n",
    );
    let errs = errors(&cat);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].line, errs[0].col), (5, 16), "{}", errs[0]);
    assert!(
        errs[0].message.contains("over the limit of 1000"),
        "{}",
        errs[0]
    );
}

#[test]
fn utf8_bom_and_utf16_catalogs_load_with_positions_as_editors_show_them() {
    let text = "description: Café\nsources:\n  a:\n    driver: csv\n    args: {urlpath: a.csv}\n    typo_key: 1\n";
    let utf8_bom = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    let dir = tempfile::tempdir().expect("tmp");
    for (name, bytes) in [("bom.yaml", utf8_bom), ("le.yaml", le), ("be.yaml", be)] {
        let cat = load(dir.path(), name, &bytes);
        assert!(errors(&cat).is_empty(), "{name}: {:?}", cat.diagnostics);
        assert_eq!(cat.description.as_deref(), Some("Café"), "{name}");
        assert!(cat.entry("a").is_some(), "{name}");
        let warning = &cat.diagnostics[0];
        assert_eq!((warning.line, warning.col), (6, 5), "{name}: {warning}");
    }
    let cat = load(
        dir.path(),
        "latin1.yaml",
        b"description: Caf\xe9\nsources: {}\n",
    );
    let errs = errors(&cat);
    assert_eq!((errs[0].line, errs[0].col), (1, 17), "{}", errs[0]);
    assert!(errs[0].message.contains("not valid UTF-8"), "{}", errs[0]);
}

#[test]
fn a_hierarchical_catalog_at_the_depth_limit_loads_on_a_small_stack() {
    // The hierarchical dialect turns every level of groups into a nested catalog: parsing it
    // recurses once per level, so it too must fit a small stack at the loader's limit.
    let levels = inlet::catalog::yaml::MAX_DEPTH - 3;
    let mut text = String::from("metadata: {hierarchical_catalog: true}\n");
    for i in 0..levels {
        text.push_str(&format!("{}g{i}:\n", " ".repeat(i)));
    }
    text.push_str(&format!(
        "{}leaf: {{driver: csv, args: {{urlpath: x.csv}}}}\n",
        " ".repeat(levels)
    ));
    let dotted: Vec<String> = (0..levels).map(|i| format!("g{i}")).collect();
    let name = format!("c.{}.leaf", dotted.join("."));
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("c.yaml"), text).expect("write");
    let root = dir.path().to_path_buf();
    let found = on_small_stack(move || {
        let path = root.join("c.yaml");
        let cat = load_file(
            &path,
            &Templater::default(),
            &inlet::service::builtin_drivers(),
        );
        assert!(errors(&cat).is_empty(), "{:?}", cat.diagnostics);
        let (lib, _) = Library::open(
            &[root],
            EnvPolicy::default(),
            std::sync::Arc::new(inlet::service::builtin_drivers()),
        );
        matches!(lib.find(&name), Ok(Found::Source(..)))
    });
    assert!(found);
}
