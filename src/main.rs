#![forbid(unsafe_code)]

use clap::Parser;

/// jemalloc rather than glibc's malloc: with many streams decoding on several threads, glibc's
/// per-thread arenas keep freed buffers (RSS ratchets up, and idle memory stays high); see the
/// README's "One memory budget" for the measurements.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    inlet::cli::run(inlet::cli::Cli::parse())
}
