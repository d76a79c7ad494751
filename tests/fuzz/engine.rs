//! A small fuzzing loop on the stable toolchain: inputs come from a seeded PRNG (mutations of real
//! files, or `arbitrary` values built from random bytes), every case runs on a worker thread
//! under a watchdog (a case over its time limit fails the target: "never hang"), panics anywhere
//! in the process (spawned tasks and threads too) are counted by a panic hook, and a failing
//! input is shrunk before it is reported, with the seed that replays it.
//!
//! Environment:
//! - `INLET_FUZZ_SECS`: seconds per target (default 5; CI sets 60, `scripts/fuzz.sh N` sets N);
//! - `INLET_FUZZ_SEED`: the run's seed (default: from the clock; printed at the start);
//! - `INLET_FUZZ_CASE_SECS`: the time one case may take before it counts as a hang (default 10);
//! - `INLET_FUZZ_CASE`: run only the case with this case seed (printed with every failure); the
//!   catalog target grows its pool as it runs, so there replay the whole seed instead.
//!
//! A failing or hanging input is also written whole to `target/fuzz-failures/<target>-<case seed>`
//! (the report clips long inputs).

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

fn env_secs(name: &str, default: f64) -> Duration {
    let secs = std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(default);
    Duration::from_secs_f64(secs)
}

/// The time each target runs for.
pub fn budget() -> Duration {
    env_secs("INLET_FUZZ_SECS", 5.0)
}

/// The time one case may take before it is reported as a hang.
pub fn case_limit() -> Duration {
    env_secs("INLET_FUZZ_CASE_SECS", 10.0)
}

fn run_seed() -> u64 {
    std::env::var("INLET_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

static PANICS: AtomicU64 = AtomicU64::new(0);
static QUIET: AtomicBool = AtomicBool::new(false);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Counts the panics of the fuzzer's threads (and remembers the last message), then prints
/// them as usual unless a shrink is running.
pub fn install_panic_counter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Only the fuzzer's threads (its worker, and the runtime threads of the servers it
            // drives) count: other tests of the binary may panic on purpose.
            let ours = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("fuzz"));
            if ours {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = info.to_string();
            }
            if !QUIET.load(Ordering::SeqCst) {
                previous(info);
            }
        }));
    });
}

/// What a check concluded about one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
}

/// The first line of a failure: two failures with the same signature are the same bug (what a
/// shrink must keep).
fn signature(failure: &str) -> &str {
    failure.lines().next().unwrap_or("")
}

fn run_one<I>(check: &dyn Fn(&I) -> Result<Verdict, String>, input: &I) -> Result<Verdict, String> {
    let before = PANICS.load(Ordering::SeqCst);
    let result = catch_unwind(AssertUnwindSafe(|| check(input)));
    let panicked_elsewhere = PANICS.load(Ordering::SeqCst) != before;
    let last = || LAST_PANIC.lock().map(|s| s.clone()).unwrap_or_default();
    match result {
        Err(_) => Err(format!("panic: {}", panic_site(&last()))),
        Ok(Ok(_)) if panicked_elsewhere => Err(format!(
            "panic in a spawned task or thread: {}",
            panic_site(&last())
        )),
        Ok(Err(e)) => Err(e),
        Ok(ok) => ok,
    }
}

/// `panicked at src/x.rs:1:2:\nmessage` -> one line, site first (the shrink keeps the site).
fn panic_site(info: &str) -> String {
    let mut lines = info.lines();
    let first = lines.next().unwrap_or("");
    let rest: Vec<&str> = lines.collect();
    format!("{first}\n{}", rest.join("\n"))
}

/// Greedy shrinking: take the first candidate that fails the same way, until none does or the
/// time is up.
fn shrink<I: Clone>(
    input: &I,
    failure: &str,
    check: &dyn Fn(&I) -> Result<Verdict, String>,
    candidates: &dyn Fn(&I) -> Vec<I>,
) -> (I, String, usize) {
    QUIET.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut best = input.clone();
    let mut best_failure = failure.to_string();
    let mut steps = 0;
    'outer: while Instant::now() < deadline {
        for c in candidates(&best) {
            if Instant::now() >= deadline {
                break 'outer;
            }
            if let Err(f) = run_one(check, &c) {
                if signature(&f) == signature(failure) {
                    best = c;
                    best_failure = f;
                    steps += 1;
                    continue 'outer;
                }
            }
        }
        break;
    }
    QUIET.store(false, Ordering::SeqCst);
    (best, best_failure, steps)
}

/// What a run did, printed at its end (and used by the report: cases per second).
#[derive(Debug, Default)]
pub struct Stats {
    pub cases: u64,
    pub elapsed: Duration,
    pub slowest: Duration,
    /// The slowest input, when it took over a second (a hint of a slow path).
    pub slowest_input: Option<String>,
}

/// Checks one input.
pub type Check<I> = Box<dyn Fn(&I) -> Result<Verdict, String> + Send>;
/// Smaller variants of an input, most aggressive first.
pub type Shrink<I> = Box<dyn Fn(&I) -> Vec<I> + Send>;

/// One target: how inputs are made, checked, shrunk and shown.
pub struct Target<I> {
    pub name: &'static str,
    /// Makes one input from a case's PRNG (deterministic: the same seed gives the same input).
    pub generate: Box<dyn FnMut(&mut fastrand::Rng) -> I + Send>,
    pub check: Check<I>,
    /// Smaller variants of an input, most aggressive first.
    pub shrink: Shrink<I>,
    /// The input as a reader (and a regression test) would want to see it.
    pub show: fn(&I) -> String,
}

/// Writes a failing input whole, for replay and for a regression test (reports clip it).
fn keep_input(target: &str, case_seed: u64, shown: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    let path = dir.join(format!("{target}-{case_seed}"));
    if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(&path, shown).is_ok() {
        eprintln!("fuzz {target}: the whole input is in {}", path.display());
    }
}

/// Runs `target` for the budget and panics with a shrunk, replayable input on the first failure.
pub fn fuzz<I: Clone + Send + 'static>(mut target: Target<I>) -> Stats {
    install_panic_counter();
    let budget = budget();
    let limit = case_limit();
    let seed = run_seed();
    let name = target.name;
    eprintln!(
        "fuzz {name}: seed {seed} (INLET_FUZZ_SEED={seed} replays it), {:.0} s",
        budget.as_secs_f64()
    );
    let show = target.show;
    let current: Arc<Mutex<Option<(Instant, u64, I)>>> = Arc::new(Mutex::new(None));
    let watched = current.clone();
    let worker = std::thread::Builder::new()
        .name(format!("fuzz-{name}"))
        .stack_size(16 << 20)
        .spawn(move || -> Result<Stats, String> {
            let mut master = fastrand::Rng::with_seed(seed);
            let mut stats = Stats::default();
            let start = Instant::now();
            let only = std::env::var("INLET_FUZZ_CASE")
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
            while start.elapsed() < budget && !(only.is_some() && stats.cases > 0) {
                let case_seed = only.unwrap_or_else(|| master.u64(..));
                let input = (target.generate)(&mut fastrand::Rng::with_seed(case_seed));
                let began = Instant::now();
                if let Ok(mut c) = watched.lock() {
                    *c = Some((began, case_seed, input.clone()));
                }
                let result = run_one(&*target.check, &input);
                let took = began.elapsed();
                if took > stats.slowest {
                    stats.slowest = took;
                    if took > Duration::from_secs(1) {
                        stats.slowest_input = Some((target.show)(&input));
                    }
                }
                stats.cases += 1;
                match result {
                    Ok(Verdict::Pass) => {}
                    Err(failure) => {
                        if let Ok(mut c) = watched.lock() {
                            *c = None;
                        }
                        keep_input(name, case_seed, &(target.show)(&input));
                        let (small, small_failure, steps) =
                            shrink(&input, &failure, &*target.check, &*target.shrink);
                        let mut msg = String::new();
                        let _ = writeln!(
                            msg,
                            "fuzz {name}: case {} (seed {seed}, case seed {case_seed}) failed:\n{}\n",
                            stats.cases,
                            clip(&failure)
                        );
                        let _ = writeln!(
                            msg,
                            "shrunk in {steps} steps to:\n{}\nwhich fails with:\n{}",
                            clip(&(target.show)(&small)),
                            clip(&small_failure)
                        );
                        return Err(msg);
                    }
                }
            }
            stats.elapsed = start.elapsed();
            Ok(stats)
        })
        .expect("spawn the fuzz worker");
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        let hung = current.lock().ok().and_then(|c| {
            c.as_ref()
                .filter(|(began, _, _)| began.elapsed() > limit)
                .map(|(_, case_seed, input)| (*case_seed, show(input)))
        });
        if let Some((case_seed, shown)) = hung {
            keep_input(name, case_seed, &shown);
            panic!(
                "fuzz {name}: a case ran for more than {:.0} s (a hang; seed {seed}, case seed {case_seed}); input:\n{}",
                limit.as_secs_f64(),
                clip(&shown)
            );
        }
    }
    match worker.join() {
        Ok(Ok(stats)) => {
            let secs = stats.elapsed.as_secs_f64().max(1e-9);
            eprintln!(
                "fuzz {name}: {} cases in {:.1} s = {:.0} cases/s; slowest case {} ms",
                stats.cases,
                secs,
                stats.cases as f64 / secs,
                stats.slowest.as_millis(),
            );
            if let Some(input) = &stats.slowest_input {
                eprintln!("fuzz {name}: the slowest case was:\n{}", clip(input));
            }
            stats
        }
        Ok(Err(report)) => panic!("{report}"),
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// At most 4,000 characters of `s` (inputs can be megabytes), saying how much was left out.
fn clip(s: &str) -> String {
    const MAX: usize = 4000;
    let n = s.chars().count();
    if n <= MAX {
        return s.to_string();
    }
    let head: String = s.chars().take(MAX).collect();
    format!("{head}... ({} more characters)", n - MAX)
}
