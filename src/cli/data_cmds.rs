//! Commands that read data: fetch, head.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Args;
use futures::StreamExt;
use inlet_driver::ReadRequest;

use super::{parse_params, CatalogArgs};
use crate::encode::{self, Format};

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Dotted source name.
    name: String,
    #[command(flatten)]
    catalogs: CatalogArgs,
    /// Columns to read, comma-separated.
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// Stop after this many rows.
    #[arg(long)]
    limit: Option<usize>,
    /// A parameter value, `name=value` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Only these partitions (repeatable; ids as `inlet describe` lists them).
    #[arg(long = "partition", value_name = "K")]
    partitions: Vec<usize>,
    /// Output file; the extension picks the format (.arrow, .parquet, .csv, .ndjson). `-`: an
    /// Arrow IPC stream on stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: PathBuf,
}

/// Writes to `<out>.partial` and renames at the end, so a failed fetch never leaves a file that
/// looks complete.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

pub(super) async fn fetch(args: FetchArgs) -> Result<ExitCode, String> {
    let to_stdout = args.output.as_os_str() == "-";
    let format = if to_stdout {
        Format::Arrow
    } else {
        Format::from_path(&args.output).ok_or_else(|| {
            format!(
                "cannot tell the format of `{}`: use .arrow, .parquet, .csv or .ndjson",
                args.output.display()
            )
        })?
    };
    let params = parse_params(&args.params)?;
    let snap = args.catalogs.snapshot()?;
    let request = ReadRequest {
        partitions: (!args.partitions.is_empty()).then(|| args.partitions.clone()),
        projection: args.columns.clone(),
        limit: args.limit,
        ..ReadRequest::default()
    };
    let opened = snap
        .open(&args.name, &params)
        .await
        .map_err(|e| e.to_string())?;
    let discovery = opened.source.discover().await.map_err(|e| e.to_string())?;
    let expected = match (request.limit, discovery.total_rows) {
        (Some(l), Some(t)) => Some((l as u64).min(t)),
        (Some(l), None) => Some(l as u64),
        (None, t) if request.partitions.is_none() => t,
        _ => None,
    };
    let read = snap
        .read(&args.name, &params, request, None, &Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = match expected {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {wide_bar} {human_pos}/{human_len} rows {per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let schema = read.schema.clone();
    let rows = Arc::new(AtomicU64::new(0));
    let counted = {
        let (rows, progress) = (rows.clone(), progress.clone());
        read.inspect(move |b| {
            if let Ok(b) = b {
                let n = rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                if let Some(bar) = &progress {
                    bar.set_position(n + b.num_rows() as u64);
                }
            }
        })
    };
    let mut chunks =
        encode::chunks(&schema, counted, format, None, 0).map_err(|e| e.to_string())?;
    let partial = partial_path(&args.output);
    let mut out: Box<dyn Write + Send> = if to_stdout {
        Box::new(std::io::stdout())
    } else {
        let file = std::fs::File::create(&partial)
            .map_err(|e| format!("cannot write `{}`: {e}", partial.display()))?;
        Box::new(std::io::BufWriter::new(file))
    };
    let mut failed = None;
    while let Some(chunk) = chunks.next().await {
        match chunk.map_err(|e| e.to_string()).and_then(|pieces| {
            pieces
                .iter()
                .try_for_each(|p| out.write_all(p))
                .map_err(|e| format!("cannot write `{}`: {e}", args.output.display()))
        }) {
            Ok(()) => {}
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let rows = rows.load(Ordering::Relaxed);
    let flushed = out
        .flush()
        .map_err(|e| format!("cannot write `{}`: {e}", args.output.display()));
    if let Some(e) = failed.or(flushed.err()) {
        // The encoder wrote no end-of-stream marker, no footer: the output must not look complete.
        drop(out);
        if !to_stdout {
            let _ = std::fs::remove_file(&partial);
        }
        return Err(format!(
            "reading `{}` failed after {rows} rows: {e}",
            args.name
        ));
    }
    drop(out);
    if !to_stdout {
        std::fs::rename(&partial, &args.output)
            .map_err(|e| format!("cannot write `{}`: {e}", args.output.display()))?;
        eprintln!("wrote {rows} rows to {}", args.output.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn head(
    catalogs: &CatalogArgs,
    name: &str,
    params: &[String],
    rows: usize,
) -> Result<ExitCode, String> {
    let params = parse_params(params)?;
    let snap = catalogs.snapshot()?;
    let request = ReadRequest {
        limit: Some(rows),
        batch_size: rows.max(1),
        ..ReadRequest::default()
    };
    let stream = snap
        .read(name, &params, request, None, &Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let discovery = snap
        .open(name, &params)
        .await
        .map_err(|e| e.to_string())?
        .source
        .discover()
        .await
        .map_err(|e| e.to_string())?;
    let batches: Vec<_> = stream
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let table = arrow_cast::pretty::pretty_format_batches(&batches).map_err(|e| e.to_string())?;
    println!("{table}");
    if let Some(total) = discovery.total_rows {
        println!(
            "({} of {total} rows)",
            batches.iter().map(|b| b.num_rows()).sum::<usize>()
        );
    }
    Ok(ExitCode::SUCCESS)
}
