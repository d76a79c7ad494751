//! Fuzzing on the stable toolchain, as integration tests: five targets, each run for
//! `INLET_FUZZ_SECS` seconds (default 5; CI sets 60; `scripts/fuzz.sh 600` runs 10 minutes per
//! target). Properties: no panic anywhere, no case over `INLET_FUZZ_CASE_SECS` (a hang), every
//! HTTP answer a success or a well-formed problem+json with a status the input justifies (no
//! 500 for caller input; 502/501 only where storage or a driver is involved), and catalog
//! diagnostics with a 1-based line:col inside the file. A failure prints the shrunk input and
//! the seed that replays the run (`INLET_FUZZ_SEED`). See README, "Security: fuzzing".
//!
//! `regressions` holds what the fuzzer found, minimised, as named tests.

mod catalog;
mod engine;
mod http;
mod mutate;
mod plan;
mod query;
mod regressions;
mod template;
mod tickets;

#[test]
fn fuzz_catalog_bytes_through_the_loader() {
    engine::fuzz(catalog::target());
}

#[test]
fn fuzz_templates_with_caller_values() {
    engine::fuzz(template::target());
}

#[test]
fn fuzz_query_strings_on_every_route() {
    engine::fuzz(query::target());
}

#[test]
fn fuzz_plan_bodies() {
    engine::fuzz(plan::target());
}

#[test]
fn fuzz_tickets() {
    engine::fuzz(tickets::target());
}
