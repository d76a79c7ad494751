//! Catalog load + validate at scale: 100,000 entries in one file, and 1,000 files x 100 entries.
//!
//!     cargo bench --bench catalog_load
//!
//! Each measurement runs in a fresh child process so that its peak RSS (VmHWM) is its own and
//! not the generator's. Targets: <= 0.5 s for the one file (#14), <= 300 MB. With
//! `INLET_BENCH_INTAKE_PYTHON` (a Python with `intake<2`), Intake loads the same file in the same run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use inlet::catalog::{EnvPolicy, Library};
use inlet_driver::testing::peak_rss_mb;

fn entry(out: &mut String, i: usize) {
    let _ = write!(
        out,
        "  trips_{i:06}:\n    description: Trips of shard {i}\n    driver: parquet\n    args:\n      \
         urlpath: \"s3://bucket/{{{{ region }}}}/shard={i}/{{{{ '%02d' % month }}}}.parquet\"\n      \
         storage_options: {{anon: true}}\n    metadata:\n      tags: [transport, shard{}]\n    \
         parameters:\n      month: {{description: month, type: int, default: 1, min: 1, max: 12}}\n",
        i % 10
    );
}

fn catalog(first: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 330);
    out.push_str("metadata:\n  parameters:\n    region: {description: region, type: str, default: eu, allowed: [eu, us]}\nsources:\n");
    for i in first..first + n {
        entry(&mut out, i);
    }
    out
}

fn measure(path: &Path) {
    let start = Instant::now();
    let (lib, diags) = Library::open(
        &[path.to_path_buf()],
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    let elapsed = start.elapsed();
    let entries: usize = lib.roots().iter().map(|r| r.file.entries.len()).sum();
    assert!(
        diags.is_empty(),
        "unexpected diagnostics: {:?}",
        diags.first()
    );
    println!(
        "{entries} entries in {} catalog(s): load+validate {:.3} s, peak RSS {:.1} MB",
        lib.roots().len(),
        elapsed.as_secs_f64(),
        peak_rss_mb()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        measure(Path::new(&args[i + 1]));
        return;
    }
    let dir = std::env::temp_dir().join(format!("inlet-bench-{}", std::process::id()));
    let one = dir.join("one");
    let many = dir.join("many");
    std::fs::create_dir_all(&one).expect("mkdir");
    std::fs::create_dir_all(&many).expect("mkdir");
    std::fs::write(one.join("big.yaml"), catalog(0, 100_000)).expect("write");
    for f in 0..1_000 {
        std::fs::write(
            many.join(format!("part_{f:04}.yaml")),
            catalog(f * 100, 100),
        )
        .expect("write");
    }
    let me = std::env::current_exe().expect("exe");
    let mut one_file_secs = None;
    for (label, path) in [
        ("1 file x 100,000 entries", &one),
        ("1,000 files x 100 entries", &many),
    ] {
        let path: &PathBuf = path;
        let out = Command::new(&me)
            .arg("--measure")
            .arg(path)
            .output()
            .expect("child");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        println!("{label}: {line}");
        if one_file_secs.is_none() {
            one_file_secs = seconds_in(&line);
        }
    }
    if let (Some(intake), Some(inlet)) = (intake_anchor(&one.join("big.yaml")), one_file_secs) {
        println!(
            "1 file x 100,000 entries: Intake {intake:.2} s, Inlet {inlet:.3} s: Inlet {:.0}x faster",
            intake / inlet
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The seconds in `load+validate 1.234 s`.
fn seconds_in(line: &str) -> Option<f64> {
    line.split("load+validate ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// The anchor: Intake's `open_catalog` + listing of the same 100,000-entry file, when
/// `INLET_BENCH_INTAKE_PYTHON` names a Python with Intake (`pip install 'intake<2'`): its time
/// and Inlet's ratio to it. Intake takes about a minute on this file.
fn intake_anchor(file: &Path) -> Option<f64> {
    let Ok(python) = std::env::var("INLET_BENCH_INTAKE_PYTHON") else {
        println!("Intake anchor skipped: set INLET_BENCH_INTAKE_PYTHON to a Python with intake<2");
        return None;
    };
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, time, intake\n\
             t = time.perf_counter()\n\
             cat = intake.open_catalog(sys.argv[1])\n\
             n = len(list(cat))\n\
             assert n == 100000, n\n\
             print(time.perf_counter() - t)",
        ])
        .arg(file)
        .output()
        .expect("python");
    if !out.status.success() {
        println!(
            "Intake anchor failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
