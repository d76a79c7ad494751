//! The `inlet` binary as a user runs it: exit codes, output formats, redaction.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as J;

fn inlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inlet"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("INLET_CATALOGS")
        .env_remove("INLET_ALLOW_ENV")
        .output()
        .expect("run inlet")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn corpus(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/intake-catalogs")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

fn write_tmp(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("cat.yaml");
    std::fs::write(&p, text).expect("write");
    (dir, p)
}

#[test]
fn validate_reports_every_problem_with_positions_and_exits_1() {
    let (_d, p) = write_tmp("sources:\n  a:\n    driver: csv\n    desciption: x\n    parameters:\n      n: {type: integer}\n  a:\n    driver: csv\n");
    let o = inlet(&["validate", p.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let path = p.display().to_string();
    assert!(
        out.contains(&format!("{path}:4:5: warning: unknown key `desciption`")),
        "{out}"
    );
    assert!(out.contains("did you mean `description`?"), "{out}");
    assert!(
        out.contains(&format!(
            "{path}:6:17: error: parameter `n` has invalid type `integer` (did you mean `int`?)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{path}:7:3: error: duplicate key `a`")),
        "{out}"
    );
    assert!(out.contains("1 file(s): 2 error(s), 1 warning(s)"), "{out}");
}

#[test]
fn validate_json_and_strict() {
    let (_d, p) = write_tmp(
        "sources:\n  a:\n    driver: csv\n    args: {urlpath: x.csv}\n    origin: elsewhere\n",
    );
    let path = p.to_str().expect("utf8");
    let o = inlet(&["validate", path]);
    assert_eq!(o.status.code(), Some(0), "warnings alone pass");
    let o = inlet(&["validate", "--strict", path]);
    assert_eq!(o.status.code(), Some(1), "--strict fails on warnings");
    let o = inlet(&["validate", "--format", "json", path]);
    let v: J = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 1);
    assert_eq!(v["diagnostics"][0]["line"], 5);
    assert_eq!(v["diagnostics"][0]["col"], 5);
    assert_eq!(v["diagnostics"][0]["severity"], "warning");
}

#[test]
fn validate_the_shipped_catalogs_and_a_corpus_directory() {
    let o = inlet(&["validate", "--strict", "catalogs"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = inlet(&[
        "validate",
        &corpus("intake__intake__intake__catalog__tests__obsolete_data_source_list.yml"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(":2:3: error: `sources` is a list, the obsolete Intake form"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn ls_lists_catalogs_and_entries_by_dotted_name() {
    let o = inlet(&["ls"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for name in [
        "example ",
        "example.trips ",
        "example.stations ",
        "example.regions ",
        "regions.sales.sales ",
    ] {
        assert!(out.contains(name), "missing {name} in\n{out}");
    }
    let o = inlet(&["ls", "-r", "example.regions", "--format", "json"]);
    let rows: J = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(rows[0]["name"], "example.regions.sales");
    assert_eq!(rows[0]["driver"], "csv");
    assert_eq!(rows[0]["description"], "Daily sales of one region");
}

#[test]
fn ls_shows_unsupported_drivers_and_nested_errors_without_failing() {
    let o = inlet(&[
        "ls",
        "-r",
        "--catalog",
        &corpus("intake__intake-sql__tests__cat.yaml"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("[unsupported driver: sql_cat]"),
        "{}",
        stdout(&o)
    );
    // Intake's self-referencing catalog, under its original name so that it finds itself.
    let dir = tempfile::tempdir().expect("tmp");
    let text = std::fs::read_to_string(corpus(
        "intake__intake__intake__catalog__tests__dot-nest.yaml",
    ))
    .expect("read");
    std::fs::write(dir.path().join("dot-nest.yaml"), text).expect("write");
    let o = inlet(&[
        "ls",
        "-r",
        "--catalog",
        dir.path().join("dot-nest.yaml").to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("dot-nest.self  ") && out.contains("dot-nest.leaf.dot  "),
        "{out}"
    );
    assert!(
        out.contains("[error: nested catalog `dot-nest.self` cannot be opened: catalog cycle: "),
        "{out}"
    );
}

#[test]
fn describe_renders_parameters_and_validates_them() {
    let o = inlet(&[
        "describe",
        "example.trips_monthly",
        "--param",
        "month=2",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: J = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(
        v["driver"]["written"],
        "intake_parquet.source.ParquetSource"
    );
    assert_eq!(v["driver"]["resolved"], "parquet");
    assert!(v["args"]["urlpath"]
        .as_str()
        .expect("str")
        .ends_with("catalogs/data/monthly/trips_2024-02.parquet"));
    assert_eq!(v["parameters"][0]["name"], "month");
    assert_eq!(v["status"], "ok");
    let o = inlet(&["describe", "example.trips_monthly", "--param", "month=7"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("7 is above the maximum 3"),
        "{}",
        stderr(&o)
    );
    let o = inlet(&[
        "describe",
        "example.trips_monthly",
        "--param",
        "urlpath=/etc/passwd",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown parameter `urlpath`"),
        "{}",
        stderr(&o)
    );
    let o = inlet(&["describe", "example.trip"]);
    assert!(
        stderr(&o).contains("did you mean `example.trips`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn describe_redacts_secrets_and_env_needs_the_allowlist() {
    let (_d, p) = write_tmp(
        "sources:\n  s:\n    driver: parquet\n    args:\n      urlpath: 's3://b/{{ env(INLET_CLI_TEST_BUCKET) }}/x.parquet'\n      storage_options:\n        key: AKIAEXAMPLE\n        secret: hunter2\n        client_kwargs: {endpoint_url: 'http://127.0.0.1:9000'}\n",
    );
    let path = p.to_str().expect("utf8");
    let run = |allow: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_inlet"));
        c.args(["describe", "cat.s", "--catalog", path, "--format", "json"])
            .env("INLET_CLI_TEST_BUCKET", "prod");
        if allow {
            c.args(["--allow-env", "INLET_CLI_TEST_BUCKET"]);
        }
        c.output().expect("run")
    };
    let denied = stdout(&run(false));
    let v: J = serde_json::from_str(&denied).expect("json");
    assert!(
        v["args_error"]
            .as_str()
            .expect("error")
            .contains("--allow-env INLET_CLI_TEST_BUCKET"),
        "{denied}"
    );
    let allowed = stdout(&run(true));
    assert!(
        !allowed.contains("hunter2") && !allowed.contains("AKIAEXAMPLE"),
        "{allowed}"
    );
    let v: J = serde_json::from_str(&allowed).expect("json");
    assert_eq!(v["args"]["urlpath"], "s3://b/prod/x.parquet");
    assert_eq!(v["args"]["storage_options"]["secret"], "***");
    assert_eq!(
        v["args"]["storage_options"]["client_kwargs"]["endpoint_url"],
        "http://127.0.0.1:9000"
    );
}

#[test]
fn describe_text_output_for_a_source_and_a_catalog() {
    let o = inlet(&["describe", "example.stations"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("name: example.stations")
            && out.contains("status: ok")
            && out.contains("\"comment\": \"#\""),
        "{out}"
    );
    let o = inlet(&["describe", "example"]);
    assert!(stdout(&o).contains("example.trips"), "{}", stdout(&o));
}
