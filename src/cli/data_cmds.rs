//! Commands that read data: fetch, head.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    let svc = args.catalogs.service()?;
    let (opened, discovery) = svc
        .discover(&args.name, &params)
        .await
        .map_err(|e| e.to_string())?;
    let request = ReadRequest {
        partitions: (!args.partitions.is_empty()).then(|| args.partitions.clone()),
        projection: args.columns.clone(),
        limit: args.limit,
        ..ReadRequest::default()
    };
    let schema = discovery
        .projected_schema(&request)
        .map_err(|e| e.to_string())?;
    let mut stream = opened
        .source
        .read(request.clone())
        .await
        .map_err(|e| e.to_string())?;
    let partial = partial_path(&args.output);
    let out: Box<dyn Write + Send> = if to_stdout {
        Box::new(std::io::stdout())
    } else {
        let file = std::fs::File::create(&partial)
            .map_err(|e| format!("cannot write `{}`: {e}", partial.display()))?;
        Box::new(std::io::BufWriter::new(file))
    };
    let mut writer = encode::writer(format, out, &schema, None).map_err(|e| e.to_string())?;
    let expected = match (request.limit, discovery.total_rows) {
        (Some(l), Some(t)) => Some((l as u64).min(t)),
        (Some(l), None) => Some(l as u64),
        (None, t) if request.partitions.is_none() => t,
        _ => None,
    };
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
    let mut rows = 0u64;
    let failed = loop {
        match stream.next().await {
            None => break None,
            Some(Err(e)) => break Some(e.to_string()),
            Some(Ok(batch)) => {
                if let Err(e) = writer.write(&batch) {
                    break Some(e.to_string());
                }
                rows += batch.num_rows() as u64;
                if let Some(bar) = &progress {
                    bar.set_position(rows);
                }
            }
        }
    };
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    if let Some(e) = failed {
        // No end-of-stream marker, no footer: the output must not look complete.
        drop(writer);
        if !to_stdout {
            let _ = std::fs::remove_file(&partial);
        }
        return Err(format!(
            "reading `{}` failed after {rows} rows: {e}",
            args.name
        ));
    }
    writer.finish().map_err(|e| e.to_string())?;
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
    let svc = catalogs.service()?;
    let (opened, discovery) = svc
        .discover(name, &params)
        .await
        .map_err(|e| e.to_string())?;
    let request = ReadRequest {
        limit: Some(rows),
        batch_size: rows.max(1),
        ..ReadRequest::default()
    };
    let stream = opened
        .source
        .read(request)
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
