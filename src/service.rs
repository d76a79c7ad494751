//! The service layer: catalog name + parameters -> an opened driver source. The CLI calls it
//! today; the HTTP API and Arrow Flight call the same functions, so rules live here once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use inlet_driver::storage::StorageResolver;
use inlet_driver::{Discovery, DriverError, Limits, OpenContext, Registry, Source};
use serde_json::Value as J;

use crate::catalog::{CatalogError, CatalogNode, Entry, Found, Library};
use crate::registry::Resolved;

/// The service layer's one error type: the layers below, plus what only this layer knows.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("`{0}` is a catalog, not a source: `inlet ls {0}` lists its entries")]
    NotASource(String),
    #[error("`{name}` cannot be read: {status}")]
    Unavailable { name: String, status: String },
}

/// The drivers built into this binary.
pub fn builtin_drivers() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(inlet_parquet::ParquetDriver));
    r.register(Arc::new(inlet_csv::CsvDriver));
    r.register(Arc::new(inlet_avro::AvroDriver));
    r.register(Arc::new(inlet_zarr::ZarrDriver));
    r.register(Arc::new(inlet_zarr::NdZarrDriver));
    r
}

/// Everything needed to turn catalog entries into data.
pub struct Service {
    pub library: Library,
    pub drivers: Registry,
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
}

impl Service {
    pub fn new(library: Library, allowed_paths: Vec<PathBuf>) -> Self {
        Service {
            library,
            drivers: builtin_drivers(),
            storage: Arc::new(StorageResolver::new(allowed_paths)),
            limits: Limits::default(),
            batch_size: 64 * 1024,
        }
    }

    /// The catalog node and entry of a source name.
    pub fn entry(&self, name: &str) -> Result<(Arc<CatalogNode>, usize), ServiceError> {
        match self.library.find(name)? {
            Found::Source(node, idx) => Ok((node, idx)),
            Found::Catalog(_) => Err(ServiceError::NotASource(name.to_string())),
        }
    }

    /// Renders the entry with `params` and opens it with its driver.
    pub async fn open(
        &self,
        name: &str,
        params: &BTreeMap<String, J>,
    ) -> Result<Opened, ServiceError> {
        let (node, idx) = self.entry(name)?;
        let entry: &Entry = &node.file.entries[idx];
        let unavailable = |status: String| ServiceError::Unavailable {
            name: name.to_string(),
            status,
        };
        if !entry.status.is_ok() {
            return Err(unavailable(entry.status.to_string()));
        }
        let driver = match entry.resolved {
            Some(Resolved::Source(d)) => self.drivers.get(d).ok_or_else(|| {
                unavailable(format!(
                    "unsupported driver: {} (not built into this server yet)",
                    entry.driver
                ))
            })?,
            _ => return Err(ServiceError::NotASource(name.to_string())),
        };
        let (args, values) = self.library.render(&node, entry, params)?;
        let args = match args {
            J::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let ctx = OpenContext {
            catalog_dir: entry.dir.to_path_buf(),
            storage: self.storage.clone(),
            limits: self.limits.clone(),
        };
        let source = driver.open(&args, &ctx).await?;
        Ok(Opened {
            name: name.to_string(),
            source,
            params: values,
        })
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

/// An Arrow schema as JSON: name, type, nullable, metadata per field.
pub fn schema_json(schema: &arrow_schema::Schema) -> J {
    J::Array(
        schema
            .fields()
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name(),
                    "type": f.data_type().to_string(),
                    "nullable": f.is_nullable(),
                    "metadata": f.metadata(),
                })
            })
            .collect(),
    )
}

/// What discovery found, as shown by `describe` (and the HTTP API).
pub fn discovery_json(d: &Discovery) -> J {
    serde_json::json!({
        "schema": schema_json(&d.schema),
        "total_rows": d.total_rows,
        "total_bytes": d.total_bytes,
        "partitions": d.partitions,
        "files": d.files,
        "statistics": d.statistics,
        "metadata": d.metadata,
        "warnings": d.warnings,
    })
}
