//! Catalog load + validate at scale: 100,000 entries in one file, and 1,000 files x 100 entries.
//!
//!     cargo bench --bench catalog_load
//!
//! Each measurement runs in a fresh child process so that its peak RSS (VmHWM) is its own and
//! not the generator's. Targets (issue #3): <= 1 s and <= 300 MB for each layout.

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
         parameters:\n      month: {{type: int, default: 1, min: 1, max: 12}}\n",
        i % 10
    );
}

fn catalog(first: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 330);
    out.push_str("metadata:\n  parameters:\n    region: {type: str, default: eu, allowed: [eu, us]}\nsources:\n");
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
    for (label, path) in [
        ("1 file x 100,000 entries", &one),
        ("1,000 files x 100 entries", &many),
    ] {
        print!("{label}: ");
        let path: &PathBuf = path;
        let status = Command::new(&me)
            .arg("--measure")
            .arg(path)
            .status()
            .expect("child");
        assert!(status.success());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
