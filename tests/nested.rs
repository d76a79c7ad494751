//! The catalog tree on real files: root naming, dotted names, lazy nested catalogs, cycles,
//! parameters passed from a parent to a child, and rendering with caller parameters.

use std::collections::BTreeMap;
use std::path::Path;

use inlet::catalog::{CatalogError, EnvPolicy, Found, Library};
use serde_json::{json, Value as J};

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn open(dir: &Path) -> Library {
    let (lib, diags) = Library::open(
        &[dir.to_path_buf()],
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    assert!(
        diags
            .iter()
            .all(|d| d.severity != inlet::catalog::Severity::Error),
        "{diags:#?}"
    );
    lib
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, J> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

fn render(lib: &Library, name: &str, p: &[(&str, &str)]) -> Result<J, CatalogError> {
    match lib.find(name)? {
        Found::Source(node, idx) => lib
            .render(&node, &node.file.entries[idx], &params(p))
            .map(|(a, _)| a),
        Found::Catalog(_) => panic!("{name} is a catalog"),
    }
}

#[test]
fn directory_roots_are_named_by_relative_path_or_name_key() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "climate/cmip6.yaml",
        "sources:\n  tas:\n    driver: zarr\n    args: {urlpath: x.zarr}\n",
    );
    write(
        dir.path(),
        "named.yml",
        "name: custom\nsources:\n  a:\n    driver: csv\n    args: {urlpath: a.csv}\n",
    );
    let lib = open(dir.path());
    let names: Vec<&str> = lib.roots().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["climate.cmip6", "custom"]);
    assert!(matches!(
        lib.find("climate.cmip6.tas"),
        Ok(Found::Source(_, 0))
    ));
    let err = lib
        .find("climate.cmip6.tass")
        .err()
        .expect("not found")
        .to_string();
    assert!(err.contains("did you mean `climate.cmip6.tas`?"), "{err}");
}

#[test]
fn nested_catalogs_load_lazily_relative_to_the_parent_with_dotted_names() {
    let dir = tempfile::tempdir().expect("tmp");
    write(dir.path(), "root.yaml", "sources:\n  sub:\n    driver: yaml_file_cat\n    args:\n      path: '{{ CATALOG_DIR }}/nested/child.yaml'\n  broken:\n    driver: intake.catalog.local.YAMLFileCatalog\n    args: {path: missing.yaml}\n");
    write(
        dir.path(),
        "nested/child.yaml",
        "sources:\n  leaf:\n    driver: csv\n    args: {urlpath: '{{ CATALOG_DIR }}/leaf.csv'}\n",
    );
    let (lib, _) = Library::open(
        &[dir.path().join("root.yaml")],
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    let args = render(&lib, "root.sub.leaf", &[]).expect("renders");
    let want = dir.path().join("nested/leaf.csv");
    assert_eq!(
        args["urlpath"],
        json!(want.to_string_lossy()),
        "CATALOG_DIR is the child's directory"
    );
    // A broken sibling only fails when it is opened.
    let err = lib
        .find("root.broken.x")
        .err()
        .expect("missing file")
        .to_string();
    assert!(
        err.contains("nested catalog `root.broken` cannot be opened")
            && err.contains("missing.yaml"),
        "{err}"
    );
}

#[test]
fn cycles_are_reported_with_the_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "a.yaml",
        "sources:\n  to_b:\n    driver: yaml_file_cat\n    args: {path: b.yaml}\n",
    );
    write(
        dir.path(),
        "b.yaml",
        "sources:\n  to_a:\n    driver: yaml_file_cat\n    args: {path: a.yaml}\n",
    );
    let (lib, _) = Library::open(
        &[dir.path().join("a.yaml")],
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    assert!(matches!(lib.find("a.to_b"), Ok(Found::Catalog(_))));
    let err = lib.find("a.to_b.to_a").err().expect("cycle").to_string();
    assert!(
        err.contains("catalog cycle:") && err.contains("a.yaml -> ") && err.contains("b.yaml -> "),
        "{err}"
    );
}

#[test]
fn dotted_entry_names_resolve_longest_first() {
    let dir = tempfile::tempdir().expect("tmp");
    write(dir.path(), "c.yaml", "sources:\n  leaf:\n    driver: csv\n    args: {urlpath: one}\n  leaf.dot:\n    driver: csv\n    args: {urlpath: two}\n");
    let lib = open(dir.path());
    assert_eq!(render(&lib, "c.leaf", &[]).expect("leaf")["urlpath"], "one");
    assert_eq!(
        render(&lib, "c.leaf.dot", &[]).expect("leaf.dot")["urlpath"],
        "two"
    );
}

#[test]
fn parent_passes_parameter_values_and_declarations_to_a_child() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "regions.yaml",
        "\
metadata:
  parameters:
    bucket: {type: str, default: shared}
sources:
  europe:
    driver: yaml_file_cat
    args:
      path: regional.yaml
      parameters:
        region: eu
  legacy:
    driver: yaml_file_cat
    args:
      path: regional.yaml
      user_parameters:
        region: {type: str, default: us, allowed: [us, ca]}
",
    );
    write(
        dir.path(),
        "regional.yaml",
        "\
sources:
  sales:
    driver: parquet
    parameters:
      year: {type: int, default: 2024, min: 2000, max: 2030}
    args:
      urlpath: 's3://{{ bucket }}/{{ region }}/{{ year }}.parquet'
",
    );
    let (lib, diags) = Library::open(
        &[dir.path().join("regions.yaml")],
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    assert!(diags.is_empty(), "{diags:?}");
    // Pinned by the parent: not settable by callers, inherited catalog-wide `bucket` applies.
    assert_eq!(
        render(&lib, "regions.europe.sales", &[]).expect("eu")["urlpath"],
        "s3://shared/eu/2024.parquet"
    );
    let err = render(&lib, "regions.europe.sales", &[("region", "us")]).expect_err("pinned");
    assert!(
        err.to_string().contains("fixed by the parent catalog"),
        "{err}"
    );
    // Declared by the parent (Intake's user_parameters): a normal, validated parameter.
    let ok = render(
        &lib,
        "regions.legacy.sales",
        &[("region", "ca"), ("year", "2020")],
    )
    .expect("legacy");
    assert_eq!(ok["urlpath"], "s3://shared/ca/2020.parquet");
    let bad = render(
        &lib,
        "regions.legacy.sales",
        &[("region", "mx"), ("year", "1999")],
    )
    .expect_err("invalid");
    match bad {
        CatalogError::Params(errs) => {
            let fields: Vec<&str> = errs.iter().map(|e| e.name.as_str()).collect();
            assert_eq!(
                fields,
                ["region", "year"],
                "every bad field is reported: {errs:?}"
            );
        }
        other => panic!("expected parameter errors, got {other}"),
    }
}

#[test]
fn implicit_parameters_are_required_and_warned() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "c.yaml",
        "sources:\n  grid:\n    driver: zarr\n    args: {urlpath: 'grid_{{ res }}.zarr'}\n",
    );
    let (lib, diags) = Library::open(
        &[dir.path().to_path_buf()],
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    let warning = diags
        .iter()
        .find(|d| d.message.contains("`res`"))
        .expect("implicit parameter warning");
    assert_eq!((warning.line, warning.col), (4, 21));
    let err = render(&lib, "c.grid", &[])
        .expect_err("required")
        .to_string();
    assert!(err.contains("`res` is required"), "{err}");
    assert_eq!(
        render(&lib, "c.grid", &[("res", "1deg")]).expect("ok")["urlpath"],
        "grid_1deg.zarr"
    );
    let err = render(&lib, "c.grid", &[("res", "1"), ("urlpath", "/etc/passwd")])
        .expect_err("args are not params");
    assert!(
        err.to_string().contains("unknown parameter `urlpath`"),
        "{err}"
    );
}

#[test]
fn yaml_files_cat_merges_a_glob_of_files() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "root.yaml",
        "sources:\n  many:\n    driver: yaml_files_cat\n    args: {path: 'parts/*.yaml'}\n",
    );
    write(
        dir.path(),
        "parts/a.yaml",
        "sources:\n  one:\n    driver: csv\n    args: {urlpath: '{{ CATALOG_DIR }}/1.csv'}\n",
    );
    write(
        dir.path(),
        "parts/b.yaml",
        "sources:\n  two:\n    driver: csv\n    args: {urlpath: 2.csv}\n",
    );
    let (lib, _) = Library::open(
        &[dir.path().join("root.yaml")],
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    let Ok(Found::Catalog(node)) = lib.find("root.many") else {
        panic!("catalog")
    };
    let names: Vec<&str> = node.file.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
    assert!(render(&lib, "root.many.one", &[]).expect("one")["urlpath"]
        .as_str()
        .expect("str")
        .ends_with("parts/1.csv"));
}

#[test]
fn files_with_errors_are_skipped_and_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "good.yaml",
        "sources:\n  a:\n    driver: csv\n    args: {urlpath: a.csv}\n",
    );
    write(
        dir.path(),
        "bad.yaml",
        "sources:\n  a:\n    driver: csv\n    desciption: typo\n  a:\n    driver: csv\n",
    );
    let (lib, diags) = Library::open(
        &[dir.path().to_path_buf()],
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    assert_eq!(lib.roots().len(), 1);
    let msgs: Vec<String> = diags
        .iter()
        .map(|d| format!("{}:{} {}", d.line, d.col, d.message))
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("4:5") && m.contains("did you mean `description`?")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("5:3") && m.contains("duplicate key `a`")),
        "{msgs:?}"
    );
}

fn nested_error(lib: &Library, name: &str) -> String {
    match lib.find(name) {
        Ok(_) => panic!("`{name}` opened"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn nested_catalogs_outside_the_root_are_refused_naming_the_entry() {
    let outer = tempfile::tempdir().expect("tmp");
    let root = outer.path().join("catalogs");
    write(
        outer.path(),
        "elsewhere/outside.yaml",
        "sources:\n  stolen:\n    driver: csv\n    args: {urlpath: '{{ CATALOG_DIR }}/x.csv'}\n",
    );
    write(outer.path(), "elsewhere/passwords", "root:x:0:0\n");
    let outside = outer.path().join("elsewhere/outside.yaml");
    write(
        &root,
        "main.yaml",
        &format!(
            "sources:\n  abs:\n    driver: yaml_file_cat\n    args: {{path: '{}'}}\n  \
             up:\n    driver: yaml_file_cat\n    args: {{path: '{{{{ CATALOG_DIR }}}}/../elsewhere/outside.yaml'}}\n  \
             sneaky:\n    driver: yaml_file_cat\n    args: {{path: 'sub/../../elsewhere/passwords'}}\n  \
             many:\n    driver: yaml_files_cat\n    args: {{path: '../elsewhere/*.yaml'}}\n  \
             inside:\n    driver: yaml_file_cat\n    args: {{path: 'sub/child.yaml'}}\n",
            outside.display()
        ),
    );
    write(
        &root,
        "sub/child.yaml",
        "sources:\n  ok:\n    driver: csv\n    args: {urlpath: ok.csv}\n",
    );
    let lib = open(&root);
    for entry in ["abs", "up", "sneaky", "many"] {
        let err = nested_error(&lib, &format!("main.{entry}.x"));
        assert!(
            err.contains(&format!("nested catalog `main.{entry}` cannot be opened"))
                && err.contains("outside the catalog root")
                && err.contains("--allow-path"),
            "{err}"
        );
        // Refused before reading: nothing of the file shows up.
        assert!(
            !err.contains("root:x") && !err.contains("has errors"),
            "{err}"
        );
    }
    assert!(render(&lib, "main.inside.ok", &[]).is_ok());
}

#[test]
fn allowed_paths_admit_nested_catalogs_outside_the_root() {
    let outer = tempfile::tempdir().expect("tmp");
    let root = outer.path().join("catalogs");
    write(
        outer.path(),
        "shared/common.yaml",
        "sources:\n  a:\n    driver: csv\n    args: {urlpath: a.csv}\n",
    );
    write(
        &root,
        "main.yaml",
        "sources:\n  common:\n    driver: yaml_file_cat\n    args: {path: ../shared/common.yaml}\n",
    );
    let lib = open(&root);
    assert!(nested_error(&lib, "main.common.a").contains("outside the catalog root"));
    let lib = open(&root).with_allowed_paths(&[outer.path().join("shared")]);
    assert!(render(&lib, "main.common.a", &[]).is_ok());
}

#[cfg(unix)]
#[test]
fn a_symlink_cannot_lead_a_nested_catalog_out_of_the_root() {
    let outer = tempfile::tempdir().expect("tmp");
    let root = outer.path().join("catalogs");
    write(
        outer.path(),
        "secret.yaml",
        "sources:\n  s:\n    driver: csv\n    args: {urlpath: s.csv}\n",
    );
    write(
        &root,
        "main.yaml",
        "sources:\n  linked:\n    driver: yaml_file_cat\n    args: {path: link.yaml}\n",
    );
    std::os::unix::fs::symlink(outer.path().join("secret.yaml"), root.join("link.yaml"))
        .expect("link");
    let (lib, diags) = Library::open(
        std::slice::from_ref(&root),
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    // The walk skips the link too, with a warning that says why.
    assert!(
        diags.iter().any(|d| d.file.ends_with("link.yaml")
            && d.severity == inlet::catalog::Severity::Warning
            && d.message.contains("outside the catalog root")),
        "{diags:#?}"
    );
    assert_eq!(lib.roots().len(), 1);
    let err = nested_error(&lib, "main.linked.s");
    assert!(err.contains("outside the catalog root"), "{err}");
}

#[cfg(unix)]
#[test]
fn symlink_loops_end_the_directory_walk_and_nested_globs() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("catalogs");
    write(
        &root,
        "main.yaml",
        "sources:\n  all:\n    driver: yaml_files_cat\n    args: {path: 'parts/**/*.yaml'}\n",
    );
    write(
        &root,
        "parts/a.yaml",
        "sources:\n  one:\n    driver: csv\n    args: {urlpath: 1.csv}\n",
    );
    write(
        &root,
        "parts/deeper/b.yaml",
        "sources:\n  two:\n    driver: csv\n    args: {urlpath: 2.csv}\n",
    );
    // Two links back to where they are: every walk that follows them blindly never ends.
    symlink(".", root.join("x")).expect("link");
    symlink(".", root.join("parts/x")).expect("link");
    symlink("..", root.join("parts/deeper/up")).expect("link");
    let (tx, rx) = std::sync::mpsc::channel();
    let walked = root.clone();
    std::thread::spawn(move || {
        let (lib, diags) = Library::open(
            std::slice::from_ref(&walked),
            EnvPolicy::default(),
            std::sync::Arc::new(inlet::service::builtin_drivers()),
        );
        let names: Vec<String> = lib.roots().iter().map(|r| r.name.clone()).collect();
        let merged = match lib.find("main.all") {
            Ok(Found::Catalog(node)) => node.file.entries.len(),
            _ => 0,
        };
        let loops = diags
            .iter()
            .filter(|d| d.message.contains("already read"))
            .count();
        let fingerprint = inlet::revision::fingerprint(&[walked]);
        let _ = tx.send((names, merged, loops, fingerprint));
    });
    let (names, merged, loops, fingerprint) = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the walks end");
    assert_eq!(
        names,
        ["main", "parts.a", "parts.deeper.b"],
        "each file once, by its real path"
    );
    assert_eq!(merged, 2, "the glob finds both parts once");
    assert_eq!(loops, 3, "each looping link is reported");
    assert!(!fingerprint.is_empty());
}
