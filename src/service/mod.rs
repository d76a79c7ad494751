//! The service core: everything a front end (HTTP, Arrow Flight, the CLI, the web page) needs,
//! so that rules live here once. A front end parses a request, calls the core and renders the
//! answer; errors come back as [`ServiceError`], classified once by [`ErrorKind`].

pub mod access;
pub mod admission;
pub mod browse;
mod core;
pub mod describe;
pub mod discovery;
mod error;
pub mod files;
pub mod plan;
mod read;
pub mod resume;
pub mod revisions;
pub mod search;
pub mod snapshot;
pub mod spool;
pub mod state_dir;
pub mod status;
pub mod targets;
pub mod tickets;
pub mod urls;
pub mod usage;

pub use self::core::{Core, Health};
pub use access::Caller;
pub use describe::{discovery_json, schema_json};
pub use error::{driver_kind, ErrorKind, ServiceError};
pub use plan::{Endpoint, Plan, PlanRequest};
pub use read::Read;
pub use resume::Resume;
pub use search::{SearchRequest, SearchResult};
pub use snapshot::{AtRevision, Snapshot};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use inlet_driver::storage::StorageResolver;
use inlet_driver::{Discovery, Limits, OpenContext, Registry, Source};
use serde_json::Value as J;

use crate::catalog::{CatalogNode, Entry, Found, Library, Status};
use crate::registry::Resolved;

/// The drivers built into this binary.
pub fn builtin_drivers() -> Registry {
    let mut r = Registry::new();
    // Each driver brings its own names (Intake spellings, Intake 2 datatypes).
    r.register(Arc::new(inlet_parquet::ParquetDriver));
    r.register(Arc::new(inlet_csv::CsvDriver));
    r.register(Arc::new(inlet_avro::AvroDriver));
    r.register(Arc::new(inlet_zarr::ZarrDriver));
    r.register(Arc::new(inlet_zarr::NdZarrDriver));
    r.register(Arc::new(inlet_netcdf::NetcdfDriver));
    r.register(Arc::new(inlet_opendap::OpendapDriver));
    r.register(Arc::new(inlet_geotiff::RasterioDriver));
    r.register(Arc::new(inlet_geotiff::ImageDriver));
    r.register(Arc::new(inlet_geo::GeoParquetDriver));
    r.register(Arc::new(inlet_geo::GeoJsonDriver));
    r.register(Arc::new(inlet_geo::ShapefileDriver));
    r.register(Arc::new(inlet_geo::GeoFileDriver));
    r.register(Arc::new(inlet_json::JsonDriver));
    r.register(Arc::new(inlet_json::JsonLinesDriver));
    r.register(Arc::new(inlet_json::TextFilesDriver));
    r.register(Arc::new(inlet_numpy::NumpyDriver));
    r.register(Arc::new(inlet_esm::EsmDriver));
    // Derived sources: computed from other entries, reached through `OpenContext::targets`.
    r.register(Arc::new(inlet_derived::AliasDriver));
    r.register(Arc::new(inlet_derived::ColumnsDriver));
    r.register(Arc::new(inlet_derived::PipelineDriver));
    r.register(Arc::new(inlet_derived::TransformDriver));
    r
}

/// Everything needed to turn catalog entries into data.
pub struct Service {
    pub library: Arc<Library>,
    pub storage: Arc<StorageResolver>,
    pub limits: Limits,
    /// Rows per batch of reads made through this service.
    pub batch_size: usize,
}

/// A source opened for one set of parameter values.
pub struct Opened {
    pub name: String,
    pub source: Arc<dyn Source>,
    /// The parameter values used (defaults included).
    pub params: BTreeMap<String, J>,
    /// The discovery cache key: the name and the rendered args.
    pub key: String,
    /// Whether the caller supplied parameter values (then an invalid arg is theirs to fix).
    pub caller_values: bool,
    /// Set when a read found a file changed since it was listed: what this source discovered
    /// (footers, listings, sizes) is out of date, so the snapshot opens it again.
    pub stale: Arc<std::sync::atomic::AtomicBool>,
}

impl Opened {
    /// What a read with `request` produces, checked against discovery (columns, partitions)
    /// before anything is read.
    pub async fn check(
        &self,
        request: &inlet_driver::ReadRequest,
    ) -> Result<arrow_schema::SchemaRef, ServiceError> {
        let discovery = self.source.discover().await.map_err(|e| self.blame(e))?;
        let schema = discovery.projected_schema(request)?;
        discovery.select(request)?;
        Ok(schema)
    }

    /// A driver error of this source, classified: an arg made invalid by the caller's values is
    /// the caller's error (422), not the catalog's (500).
    pub fn blame(&self, e: inlet_driver::DriverError) -> ServiceError {
        blame(self.caller_values, e)
    }
}

fn blame(caller_values: bool, e: inlet_driver::DriverError) -> ServiceError {
    match e {
        inlet_driver::DriverError::BadArg { arg, message } if caller_values => {
            ServiceError::invalid(
                "params",
                format!("the parameter values make the source's `{arg}` invalid: {message}"),
            )
        }
        other => other.into(),
    }
}

impl Service {
    pub fn new(library: Library, allowed_paths: Vec<PathBuf>) -> Self {
        Service {
            library: Arc::new(library),
            storage: Arc::new(StorageResolver::new(allowed_paths)),
            limits: Limits::default(),
            batch_size: inlet_driver::DEFAULT_BATCH_SIZE,
        }
    }

    /// Restricts remote reads to these hosts (see `StorageResolver::with_allowed_hosts`).
    pub fn with_allowed_hosts(self, hosts: Vec<String>) -> Self {
        self.map_storage(|s| s.with_allowed_hosts(hosts))
    }

    /// How remote stores retry transient failures (see `StorageRetry`).
    pub fn with_storage_retry(self, retry: inlet_driver::storage::StorageRetry) -> Self {
        self.map_storage(|s| s.with_retry(retry))
    }

    fn map_storage(mut self, f: impl FnOnce(StorageResolver) -> StorageResolver) -> Self {
        self.storage = Arc::new(f(Arc::unwrap_or_clone(self.storage)));
        self
    }

    /// The catalog node and entry of a source name.
    pub fn entry(&self, name: &str) -> Result<(Arc<CatalogNode>, usize), ServiceError> {
        entry_of(&self.library, name)
    }

    /// Renders the entry with `params` and opens it with its driver.
    pub async fn open(
        &self,
        name: &str,
        params: &BTreeMap<String, J>,
    ) -> Result<Opened, ServiceError> {
        let opener = targets::Opener {
            library: self.library.clone(),
            storage: self.storage.clone(),
            limits: self.limits.clone(),
        };
        open_entry(&opener, name, params, vec![name.to_string()]).await
    }

    /// Opens and discovers in one step.
    pub async fn discover(
        &self,
        name: &str,
        params: &BTreeMap<String, J>,
    ) -> Result<(Opened, Arc<Discovery>), ServiceError> {
        let opened = self.open(name, params).await?;
        let discovery = opened.source.discover().await?;
        Ok((opened, discovery))
    }
}

fn entry_of(library: &Library, name: &str) -> Result<(Arc<CatalogNode>, usize), ServiceError> {
    match library.find(name)? {
        Found::Source(node, idx) => Ok((node, idx)),
        Found::Catalog(_) => Err(ServiceError::NotASource(name.to_string())),
    }
}

/// Opens `name`; `chain` is the entries opened to reach it (derived sources), itself last.
async fn open_entry(
    opener: &targets::Opener,
    name: &str,
    params: &BTreeMap<String, J>,
    chain: Vec<String>,
) -> Result<Opened, ServiceError> {
    let library = &opener.library;
    let (node, idx) = entry_of(library, name)?;
    let entry: &Entry = &node.file.entries[idx];
    let unavailable = |status: Status| ServiceError::Unavailable {
        name: name.to_string(),
        status,
    };
    if !entry.status.is_ok() {
        return Err(unavailable(entry.status.clone()));
    }
    let driver = match entry.resolved {
        Some(Resolved::Source(d)) => library
            .drivers()
            .get(d)
            .ok_or_else(|| unavailable(Status::UnsupportedDriver(entry.driver.clone())))?,
        _ => return Err(ServiceError::NotASource(name.to_string())),
    };
    let (args, values) = library.render(&node, entry, params)?;
    let key = discovery::cache_key(name, &args);
    let args = match args {
        J::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let ctx = OpenContext {
        catalog_dir: entry.dir.to_path_buf(),
        storage: opener.storage.clone(),
        limits: opener.limits.clone(),
        targets: Some(Arc::new(targets::CatalogTargets {
            opener: opener.clone(),
            catalog: node.name.clone(),
            chain,
        })),
    };
    let caller_values = !params.is_empty();
    let source = driver
        .open(&args, &ctx)
        .await
        .map_err(|e| blame(caller_values, e))?;
    Ok(Opened {
        name: name.to_string(),
        source,
        params: values,
        key,
        caller_values,
        stale: Arc::default(),
    })
}
