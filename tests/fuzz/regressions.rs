//! What the fuzzer found, minimised, one named test each. Each runs the target's own check on
//! the input, so it asserts every property the fuzzer does.

use inlet::catalog::template::Templater;

/// Runs the catalog target's checks on `bytes`.
fn catalog(bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("cat.yaml");
    if let Err(e) = crate::catalog::check_catalog(&path, bytes, &Templater::default()) {
        panic!("{e}");
    }
}

/// yaml-rust2 marks some errors and events at the end of a file without a final line break
/// one line below the last: a syntax error was reported at 9:1 of an 8-line file, and an empty
/// entry at 4:1 of a 3-line one. Positions are now kept inside the file (src/catalog/yaml.rs).
#[test]
fn positions_at_the_end_of_a_file_without_a_final_line_break_stay_inside_it() {
    catalog(b":\n\n\n\n\n        description: B\n\nt");
    catalog(b"sources:\n :\n ");
    catalog(b"sources:\n  a:\n    driver: csv\n  :");
}
