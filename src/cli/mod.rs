//! The `inlet` command line.

mod catalog_cmds;
mod data_cmds;
mod state_cmds;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value as J;

use crate::catalog::{Diagnostic, EnvPolicy, Library, Severity};
use crate::service::{builtin_drivers, Service, Snapshot};

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
    /// Show one catalog or source: driver, parameters, rendered args, discovered schema and partitions.
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
    /// Read a source and write it to a file (format by extension) or stdout (`-o -`: Arrow IPC).
    Fetch(data_cmds::FetchArgs),
    /// Serve the catalogs over HTTP: REST API, Arrow data plane, plans and tickets.
    Serve(ServeArgs),
    /// Print the OpenAPI description of the HTTP API.
    Openapi,
    /// Search sources (names, descriptions, tags, columns) with the SQL index.
    Search(state_cmds::SearchArgs),
    /// Make, list and revoke API tokens (`inlet serve --auth required`).
    Token {
        #[command(subcommand)]
        command: state_cmds::TokenCommand,
    },
    /// Print the first rows of a source as a table.
    Head {
        name: String,
        #[command(flatten)]
        catalogs: CatalogArgs,
        /// A parameter value, `name=value` (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// How many rows.
        #[arg(short = 'n', long = "rows", default_value_t = 10)]
        rows: usize,
    },
}

/// What catalogs may reach: environment variables and local directories.
#[derive(Args, Debug, Clone)]
pub struct AccessArgs {
    /// Environment variables that catalogs may read with env() (repeatable).
    #[arg(
        long = "allow-env",
        value_name = "NAME",
        env = "INLET_ALLOW_ENV",
        value_delimiter = ','
    )]
    pub allow_env: Vec<String>,
    /// Directories local sources may read besides their catalog's directory (repeatable).
    #[arg(
        long = "allow-path",
        value_name = "DIR",
        env = "INLET_ALLOW_PATHS",
        value_delimiter = ','
    )]
    pub allow_paths: Vec<PathBuf>,
    /// Remote hosts sources may reach (repeatable; `*.example.com` for a domain). Without it, any
    /// host but link-local and cloud-metadata addresses.
    #[arg(
        long = "allow-host",
        value_name = "HOST",
        env = "INLET_ALLOW_HOSTS",
        value_delimiter = ','
    )]
    pub allow_hosts: Vec<String>,
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
    #[command(flatten)]
    pub access: AccessArgs,
}

/// `inlet serve` flags; each overrides the config file and `INLET_*` variables.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Catalog file or directory (repeatable). Default: `./catalogs`.
    #[arg(
        long = "catalog",
        value_name = "PATH",
        env = "INLET_CATALOGS",
        value_delimiter = ','
    )]
    pub catalogs: Vec<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Arrow Flight (gRPC) address (default 127.0.0.1:8815).
    #[arg(long, value_name = "ADDR", conflicts_with = "no_flight")]
    pub flight: Option<std::net::SocketAddr>,
    /// Do not serve Arrow Flight.
    #[arg(long)]
    pub no_flight: bool,
    /// Flight URI of a replica (`grpc://host:port`), listed in Flight endpoints (repeatable).
    #[arg(
        long,
        value_name = "URI",
        env = "INLET_FLIGHT_ADVERTISE",
        value_delimiter = ','
    )]
    pub flight_advertise: Vec<String>,
    /// TOML configuration file.
    #[arg(long, value_name = "FILE", env = "INLET_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the server keeps its key and state (default `$XDG_STATE_HOME/inlet`).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Public base URL of a replica, listed in plan endpoints (repeatable).
    #[arg(
        long,
        value_name = "URL",
        env = "INLET_ADVERTISE",
        value_delimiter = ','
    )]
    pub advertise: Vec<String>,
    #[command(flatten)]
    pub access: AccessArgs,
    /// The SQL state: `postgres://...` (shared by replicas) or `sqlite:...` (default:
    /// `<state dir>/inlet.db`).
    #[arg(long, value_name = "URL", env = "INLET_DATABASE_URL")]
    pub database_url: Option<String>,
    /// `required`: every API route but probes and docs needs `Authorization: Bearer <token>`
    /// (see `inlet token create`); `off` (default) serves anyone, on loopback only.
    #[arg(long, value_enum)]
    pub auth: Option<crate::config::AuthMode>,
    /// Listen beyond loopback with `--auth off` (only behind a proxy that authenticates).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// How files in object storage are handed out by `/files`: `proxy` (default), `presign`
    /// (URLs signed for the store) or `off`.
    #[arg(long, value_enum)]
    pub direct_access: Option<crate::config::DirectAccess>,
    /// Origins allowed by CORS (repeatable; `*` for any). CORS is off without it.
    #[arg(
        long = "cors-origin",
        value_name = "ORIGIN",
        env = "INLET_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
}

impl ServeArgs {
    pub fn config(&self) -> Result<crate::config::ServeConfig, String> {
        let mut c = crate::config::ServeConfig::load(self.config.as_deref())?;
        if let Some(h) = self.http {
            c.http = h;
        }
        if self.state_dir.is_some() {
            c.state_dir.clone_from(&self.state_dir);
        }
        if self.flight.is_some() {
            c.flight = self.flight;
        }
        if self.no_flight {
            c.flight = None;
        }
        if self.database_url.is_some() {
            c.database_url.clone_from(&self.database_url);
        }
        if let Some(a) = self.auth {
            c.auth = a;
        }
        if self.insecure_no_auth {
            c.insecure_no_auth = true;
        }
        if let Some(d) = self.direct_access {
            c.direct_access = d;
        }
        let lists: [(&Vec<PathBuf>, &mut Vec<PathBuf>); 2] = [
            (&self.catalogs, &mut c.catalogs),
            (&self.access.allow_paths, &mut c.allow_paths),
        ];
        for (given, target) in lists {
            if !given.is_empty() {
                target.clone_from(given);
            }
        }
        let lists: [(&Vec<String>, &mut Vec<String>); 5] = [
            (&self.access.allow_hosts, &mut c.allow_hosts),
            (&self.advertise, &mut c.advertise),
            (&self.flight_advertise, &mut c.flight_advertise),
            (&self.access.allow_env, &mut c.allow_env),
            (&self.cors_origins, &mut c.cors_origins),
        ];
        for (given, target) in lists {
            if !given.is_empty() {
                target.clone_from(given);
            }
        }
        Ok(c)
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl CatalogArgs {
    /// The catalog paths given, else `./catalogs`.
    fn paths(&self) -> Vec<PathBuf> {
        if self.catalogs.is_empty() {
            vec![PathBuf::from("catalogs")]
        } else {
            self.catalogs.clone()
        }
    }

    fn open(&self) -> Result<(Library, Vec<Diagnostic>), String> {
        let paths = self.paths();
        for p in &paths {
            if !p.exists() {
                return Err(format!(
                    "catalog path `{}` does not exist: pass --catalog PATH or set INLET_CATALOGS",
                    p.display()
                ));
            }
        }
        let (library, diags) = Library::open(
            &paths,
            EnvPolicy::allow(self.access.allow_env.iter().cloned()),
            Arc::new(builtin_drivers()),
        );
        Ok((library.with_allowed_paths(&self.access.allow_paths), diags))
    }

    /// The service over these catalogs; load errors are printed and the broken files skipped.
    fn snapshot(&self) -> Result<Snapshot, String> {
        let (library, diags) = self.open()?;
        report_load(&diags);
        let paths = self.paths();
        let revision = crate::revision::revision(&paths);
        let mut snap = Snapshot::new(
            Service::new(library, self.access.allow_paths.clone())
                .with_allowed_hosts(self.access.allow_hosts.clone()),
            revision,
        );
        snap.index_key = crate::revision::index_key(&snap.revision, &paths);
        Ok(snap)
    }
}

pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Validate {
            paths,
            format,
            strict,
        } => catalog_cmds::validate(&paths, format, strict),
        Command::Ls {
            catalogs,
            prefix,
            recursive,
            format,
        } => catalog_cmds::ls(&catalogs, prefix.as_deref(), recursive, format),
        Command::Describe {
            name,
            catalogs,
            params,
            format,
        } => runtime.block_on(catalog_cmds::describe(&catalogs, &name, &params, format)),
        Command::Fetch(args) => runtime.block_on(data_cmds::fetch(args)),
        Command::Serve(args) => args
            .config()
            .and_then(|cfg| runtime.block_on(crate::serve::serve(cfg)))
            .map(|()| ExitCode::SUCCESS),
        Command::Search(args) => runtime.block_on(state_cmds::search(args)),
        Command::Token { command } => runtime.block_on(state_cmds::token(command)),
        Command::Openapi => {
            print!("{}", crate::api::openapi::spec_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Head {
            name,
            catalogs,
            params,
            rows,
        } => runtime.block_on(data_cmds::head(&catalogs, &name, &params, rows)),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {}", crate::catalog::redact::redact_text(&msg));
            ExitCode::FAILURE
        }
    }
}

pub(super) fn print_json(v: &J) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| e.to_string())?;
    writeln!(out).map_err(|e| e.to_string())
}

/// Prints load problems of the catalogs being served; errors make the command fail.
pub(super) fn report_load(diags: &[Diagnostic]) -> bool {
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

pub(super) fn parse_params(params: &[String]) -> Result<BTreeMap<String, J>, String> {
    params
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), J::String(v.to_string()))),
            _ => Err(format!("--param `{p}` must be NAME=VALUE")),
        })
        .collect()
}
