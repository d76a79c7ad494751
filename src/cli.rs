//! The `inlet` command line: validate, ls, describe.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value as J};

use crate::catalog::tree::load_file;
use crate::catalog::view::{self, EntrySummary};
use crate::catalog::{Diagnostic, EnvPolicy, Found, Library, Severity};

#[derive(Parser, Debug)]
#[command(
    name = "inlet",
    version,
    about = "Serve Intake-style YAML catalogs as Arrow"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check catalog files: every error and warning with file:line:col.
    Validate {
        /// Catalog files or directories of YAML files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Fail on warnings too.
        #[arg(long)]
        strict: bool,
    },
    /// List catalogs and entries by dotted name.
    Ls {
        #[command(flatten)]
        catalogs: CatalogArgs,
        /// Only what is under this dotted name (a catalog or a nested catalog).
        prefix: Option<String>,
        /// Descend into nested catalogs.
        #[arg(short, long)]
        recursive: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show one catalog or source: driver, parameters, args rendered with the parameters.
    Describe {
        /// Dotted name, e.g. `example.trips` or `parent.child.entry`.
        name: String,
        #[command(flatten)]
        catalogs: CatalogArgs,
        /// A parameter value, `name=value` (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Args, Debug, Clone)]
pub struct CatalogArgs {
    /// Catalog file or directory (repeatable). Default: `$INLET_CATALOGS`, else `./catalogs`.
    #[arg(
        long = "catalog",
        value_name = "PATH",
        env = "INLET_CATALOGS",
        value_delimiter = ','
    )]
    pub catalogs: Vec<PathBuf>,
    /// Environment variables that catalogs may read with env() (repeatable).
    #[arg(
        long = "allow-env",
        value_name = "NAME",
        env = "INLET_ALLOW_ENV",
        value_delimiter = ','
    )]
    pub allow_env: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl CatalogArgs {
    fn open(&self) -> Result<(Library, Vec<Diagnostic>), String> {
        let paths = if self.catalogs.is_empty() {
            vec![PathBuf::from("catalogs")]
        } else {
            self.catalogs.clone()
        };
        for p in &paths {
            if !p.exists() {
                return Err(format!(
                    "catalog path `{}` does not exist: pass --catalog PATH or set INLET_CATALOGS",
                    p.display()
                ));
            }
        }
        Ok(Library::open(
            &paths,
            EnvPolicy::allow(self.allow_env.iter().cloned()),
        ))
    }
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Validate {
            paths,
            format,
            strict,
        } => validate(&paths, format, strict),
        Command::Ls {
            catalogs,
            prefix,
            recursive,
            format,
        } => ls(&catalogs, prefix.as_deref(), recursive, format),
        Command::Describe {
            name,
            catalogs,
            params,
            format,
        } => describe(&catalogs, &name, &params, format),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(v: &J) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| e.to_string())?;
    writeln!(out).map_err(|e| e.to_string())
}

fn validate(paths: &[PathBuf], format: Format, strict: bool) -> Result<ExitCode, String> {
    let templater = crate::catalog::template::Templater::default();
    let mut files = vec![];
    for p in paths {
        if p.is_dir() {
            files.extend(crate::catalog::tree::yaml_files(p));
        } else {
            files.push(p.clone());
        }
    }
    let diags: Vec<Diagnostic> = files
        .iter()
        .flat_map(|f| load_file(f, &templater).diagnostics)
        .collect();
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    match format {
        Format::Json => print_json(&json!({
            "files": files.len(), "errors": errors, "warnings": warnings, "diagnostics": diags,
        }))?,
        Format::Text => {
            for d in &diags {
                println!("{d}");
            }
            println!(
                "{} file(s): {errors} error(s), {warnings} warning(s)",
                files.len()
            );
        }
    }
    let failed = errors > 0 || (strict && warnings > 0);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints load problems of the catalogs being served; errors make the command fail.
fn report_load(diags: &[Diagnostic]) -> bool {
    let mut failed = false;
    for d in diags.iter().filter(|d| d.severity == Severity::Error) {
        eprintln!("{d}");
        failed = true;
    }
    if failed {
        eprintln!("(catalogs with errors are skipped; `inlet validate` shows every problem)");
    }
    failed
}

fn ls(
    args: &CatalogArgs,
    prefix: Option<&str>,
    recursive: bool,
    format: Format,
) -> Result<ExitCode, String> {
    let (lib, diags) = args.open()?;
    let failed = report_load(&diags);
    let mut rows: Vec<EntrySummary> = vec![];
    let starts: Vec<_> = match prefix {
        None => lib.roots().to_vec(),
        Some(p) => match lib.find(p).map_err(|e| e.to_string())? {
            Found::Catalog(node) => vec![node],
            Found::Source(node, idx) => {
                rows.push(view::summary(&node, &node.file.entries[idx]));
                vec![]
            }
        },
    };
    for node in starts {
        if prefix.is_none() {
            rows.push(EntrySummary {
                name: node.name.clone(),
                kind: "catalog",
                driver: String::new(),
                description: node
                    .file
                    .description
                    .clone()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
                status: "ok".into(),
            });
        }
        list_into(&lib, &node, recursive, &mut rows);
    }
    match format {
        Format::Json => print_json(&serde_json::to_value(&rows).map_err(|e| e.to_string())?)?,
        Format::Text => {
            let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
            let dw = rows
                .iter()
                .map(|r| r.driver.len())
                .max()
                .unwrap_or(6)
                .max(6);
            println!("{:w$}  {:7}  {:dw$}  DESCRIPTION", "NAME", "KIND", "DRIVER");
            for r in &rows {
                let status = if r.status == "ok" {
                    String::new()
                } else {
                    format!(" [{}]", r.status)
                };
                println!(
                    "{:w$}  {:7}  {:dw$}  {}{status}",
                    r.name, r.kind, r.driver, r.description
                );
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn list_into(
    lib: &Library,
    node: &std::sync::Arc<crate::catalog::CatalogNode>,
    recursive: bool,
    rows: &mut Vec<EntrySummary>,
) {
    for (idx, entry) in node.file.entries.iter().enumerate() {
        let mut row = view::summary(node, entry);
        let child = if recursive && entry.is_catalog() {
            match lib.child(node, idx) {
                Ok(c) => Some(c),
                Err(e) => {
                    row.status = format!("error: {e}");
                    None
                }
            }
        } else {
            None
        };
        rows.push(row);
        if let Some(c) = child {
            list_into(lib, &c, recursive, rows);
        }
    }
}

fn parse_params(params: &[String]) -> Result<BTreeMap<String, J>, String> {
    params
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), J::String(v.to_string()))),
            _ => Err(format!("--param `{p}` must be NAME=VALUE")),
        })
        .collect()
}

fn describe(
    args: &CatalogArgs,
    name: &str,
    params: &[String],
    format: Format,
) -> Result<ExitCode, String> {
    let supplied = parse_params(params)?;
    let (lib, diags) = args.open()?;
    report_load(&diags);
    let value = match lib.find(name).map_err(|e| e.to_string())? {
        Found::Source(node, idx) => {
            let d = view::describe(&lib, &node, &node.file.entries[idx], &supplied)
                .map_err(|e| e.to_string())?;
            serde_json::to_value(d).map_err(|e| e.to_string())?
        }
        Found::Catalog(node) => {
            let entries: Vec<EntrySummary> = node
                .file
                .entries
                .iter()
                .map(|e| view::summary(&node, e))
                .collect();
            json!({
                "name": node.name,
                "kind": "catalog",
                "description": node.file.description,
                "metadata": crate::catalog::redact::redact(&node.file.metadata),
                "parameters": node.catalog_params(),
                "entries": entries,
                "location": node.file.path.display().to_string(),
            })
        }
    };
    match format {
        Format::Json => print_json(&value)?,
        Format::Text => print_text(&value),
    }
    Ok(ExitCode::SUCCESS)
}

/// A readable rendering of a describe answer: scalars inline, structures as indented JSON.
fn print_text(v: &J) {
    let Some(map) = v.as_object() else { return };
    for (k, val) in map {
        match val {
            J::Null => {}
            J::String(s) => println!("{k}: {s}"),
            J::Array(a) if a.is_empty() => println!("{k}: []"),
            J::Object(o) if o.is_empty() => println!("{k}: {{}}"),
            other => {
                let pretty = serde_json::to_string_pretty(other).unwrap_or_default();
                println!("{k}:");
                for line in pretty.lines() {
                    println!("  {line}");
                }
            }
        }
    }
}
