//! Search at scale: index N sources (default 100,000; `INLET_BENCH_SOURCES`) in memory, then
//! time queries of several kinds and print p50 / p99 per kind. The database backend plays no
//! part in a query (SQLite and PostgreSQL only keep the columns discovery found), so there is
//! one figure per kind.
//!
//!     cargo bench --bench search

use std::time::{Duration, Instant};

use inlet::search::{IndexDoc, NameRule, SearchIndex, SearchQuery};

const WORDS: [&str; 40] = [
    "temperature",
    "pressure",
    "wind",
    "humidity",
    "precipitation",
    "ocean",
    "salinity",
    "ice",
    "trips",
    "taxi",
    "fares",
    "stations",
    "prices",
    "markets",
    "daily",
    "monthly",
    "hourly",
    "model",
    "reanalysis",
    "satellite",
    "radar",
    "surface",
    "atmosphere",
    "soil",
    "moisture",
    "carbon",
    "emissions",
    "energy",
    "demand",
    "grid",
    "population",
    "census",
    "health",
    "hospital",
    "traffic",
    "sensors",
    "river",
    "flow",
    "snow",
    "cover",
];
const DRIVERS: [&str; 4] = ["parquet", "csv", "avro_table", "zarr"];

/// A small deterministic generator (no dependency, same corpus every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
    fn word(&mut self) -> &'static str {
        WORDS[self.next() % WORDS.len()]
    }
}

fn corpus(n: usize) -> Vec<IndexDoc> {
    let mut r = Lcg(42);
    (0..n)
        .map(|i| {
            let catalog = format!("dept{}.team{}", i % 20, i % 500);
            // A few domain words (each in about 10% of descriptions) and rarer filler words
            // from a vocabulary of 5,000 (each in about 0.2%).
            let mut words: Vec<String> = (0..4).map(|_| r.word().to_string()).collect();
            words.extend((0..8).map(|_| format!("term{}", r.next() % 5000)));
            let description = words.join(" ");
            IndexDoc {
                name: format!("{catalog}.dataset_{i:06}_{}", r.word()),
                catalog,
                driver: DRIVERS[i % DRIVERS.len()].to_string(),
                summary: description.clone(),
                description,
                status: "ok".into(),
                tags: vec![r.word().to_string(), format!("shard{}", i % 10)],
                columns: Some(
                    (0..6)
                        .map(|c| (format!("{}_{c}", r.word()), "Float64".to_string()))
                        .collect(),
                ),
            }
        })
        .collect()
}

/// Makes one query of a kind from the generator.
type MakeQuery = Box<dyn Fn(&mut Lcg) -> SearchQuery>;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn run(docs: Vec<IndexDoc>) {
    let n = docs.len();
    let t = Instant::now();
    let index = SearchIndex::build(docs);
    println!(
        "  index {n} sources: {:.2} s, peak RSS {:.0} MB",
        t.elapsed().as_secs_f64(),
        inlet_driver::testing::peak_rss_mb()
    );
    let scoped: Vec<NameRule> = (0..5)
        .map(|d| NameRule {
            exact: Some(format!("dept{d}")),
            prefix: format!("dept{d}."),
        })
        .collect();
    let kinds: Vec<(&str, MakeQuery)> = vec![
        (
            "one word",
            Box::new(|r: &mut Lcg| SearchQuery {
                text: r.word().into(),
                ..base()
            }),
        ),
        (
            "two words",
            Box::new(|r: &mut Lcg| SearchQuery {
                text: format!("{} {}", r.word(), r.word()),
                ..base()
            }),
        ),
        (
            "rare word",
            Box::new(|r: &mut Lcg| SearchQuery {
                text: format!("term{}", r.next() % 5000),
                ..base()
            }),
        ),
        (
            "prefix (4 letters)",
            Box::new(|r: &mut Lcg| {
                let w = r.word();
                SearchQuery {
                    text: w[..w.len().min(4)].into(),
                    ..base()
                }
            }),
        ),
        (
            "word + driver + tag",
            Box::new(|r: &mut Lcg| SearchQuery {
                text: r.word().into(),
                driver: Some("csv".into()),
                tags: vec!["shard3".into()],
                ..base()
            }),
        ),
        (
            "column filter",
            Box::new(|r: &mut Lcg| SearchQuery {
                columns: vec![format!("{}_2", r.word())],
                ..base()
            }),
        ),
        ("no text (list)", Box::new(|_: &mut Lcg| base())),
        (
            "word, scoped to 5/20 depts",
            Box::new(move |r: &mut Lcg| SearchQuery {
                text: r.word().into(),
                visible: Some(scoped.clone()),
                ..base()
            }),
        ),
        (
            "rare name",
            Box::new(|r: &mut Lcg| SearchQuery {
                text: format!("dataset_{:06}", r.next() % 100_000),
                ..base()
            }),
        ),
    ];
    let rounds: usize = std::env::var("INLET_BENCH_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut r = Lcg(7);
    println!(
        "  {:<28} {:>9} {:>9} {:>9}",
        "query (page of 20 + facets)", "p50 ms", "p99 ms", "hits"
    );
    for (name, make) in &kinds {
        let mut times = vec![];
        let mut hits = 0;
        for _ in 0..rounds {
            let q = make(&mut r);
            let t = Instant::now();
            let page = index.search(&q);
            times.push(t.elapsed());
            hits += page.total;
        }
        times.sort();
        println!(
            "  {:<28} {:>9.2} {:>9.2} {:>9}",
            name,
            pct(&times, 0.5),
            pct(&times, 0.99),
            hits / rounds
        );
    }
}

fn base() -> SearchQuery {
    SearchQuery {
        limit: 20,
        ..SearchQuery::default()
    }
}

fn main() {
    let n: usize = std::env::var("INLET_BENCH_SOURCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!("in-memory index, {n} sources:");
    run(corpus(n));
}
