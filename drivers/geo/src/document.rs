//! Sources over formats that are read a whole file at a time (GeoJSON, shapefiles, JSON
//! documents): each file is one partition; discovery loads every file once to learn its schema,
//! rows and extent, and keeps only those; a read loads its files again, one partition at a time
//! inside the memory budget, and streams the table in batches of `batch_size` rows.
//!
//! Files over [`MAX_DOCUMENT_BYTES`] (or the source's own bound) are refused with a typed error
//! rather than read whole.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{new_null_array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use inlet_driver::storage::Files;
use inlet_driver::{
    limit_stream, ordered_parallel_within, BatchStream, Discovery, DriverError, Limits,
    MemoryBudget, Partition, ReadRequest, Result, Source,
};
use object_store::ObjectMeta;

use crate::crs::{geo_metadata, wkb_field_metadata, Crs};
use crate::wkb::Extent;

/// The largest file read whole (compressed size as stored).
pub const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// What parsing takes in memory per byte of document, roughly (serde_json values, the table).
const PARSE_FACTOR: u64 = 8;

/// One file's table; `geometry` names its WKB column when it has one.
pub struct Table {
    pub batch: RecordBatch,
    pub geometry: Option<Geometry>,
}

/// A WKB geometry column: where its coordinates are and what kinds it holds.
#[derive(Debug, Clone)]
pub struct Geometry {
    pub column: String,
    pub crs: Crs,
    pub extent: Extent,
}

/// A format read a file at a time.
#[async_trait]
pub trait Document: Send + Sync + 'static {
    /// The driver's name, for messages.
    fn name(&self) -> &'static str;

    /// Reads the file `meta` of `files` into one table, refusing files over `max_bytes`.
    async fn load(&self, files: &Files, meta: &ObjectMeta, max_bytes: u64) -> Result<Table>;
}

/// `n` bytes for a message: MiB when there are some.
pub fn size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// The error for a file of `bytes` that is not read whole.
pub fn too_big(at: &str, bytes: u64, max_bytes: u64, format: &str) -> DriverError {
    DriverError::Unsupported(format!(
        "`{at}` is {}: {format} files are read whole and at most {} are; convert it to \
         GeoParquet, Parquet or newline-delimited JSON",
        size(bytes),
        size(max_bytes)
    ))
}

/// The bytes of `meta`, whole, if it is not bigger than `max_bytes`.
pub async fn read_whole(
    files: &Files,
    meta: &ObjectMeta,
    format: &str,
    max_bytes: u64,
) -> Result<Bytes> {
    let at = files.display(meta);
    if meta.size > max_bytes {
        return Err(too_big(&at, meta.size, max_bytes, format));
    }
    files
        .get_pinned(meta, None)
        .await?
        .bytes()
        .await
        .map_err(|e| DriverError::from_store(&at, e))
}

pub struct DocumentSource<D> {
    format: Arc<D>,
    files: Files,
    read_concurrency: usize,
    read_ahead: usize,
    budget: Option<MemoryBudget>,
    warnings: Vec<String>,
    max_bytes: u64,
    discovery: tokio::sync::OnceCell<Arc<Discovery>>,
}

impl<D: Document> DocumentSource<D> {
    pub fn new(format: D, files: Files, limits: &Limits, warnings: Vec<String>) -> Self {
        DocumentSource {
            format: Arc::new(format),
            files,
            read_concurrency: limits.read_concurrency.max(1),
            read_ahead: limits.read_ahead.max(1),
            budget: limits.budget.clone(),
            warnings,
            max_bytes: MAX_DOCUMENT_BYTES,
            discovery: tokio::sync::OnceCell::new(),
        }
    }

    /// Refuses files over `max_bytes` (default [`MAX_DOCUMENT_BYTES`]).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    async fn load_discovery(&self) -> Result<Arc<Discovery>> {
        let mut fields: Vec<Field> = vec![];
        let mut geometry: Option<(Geometry, String)> = None;
        let mut partitions = vec![];
        for (file, meta) in self.files.objects.iter().enumerate() {
            let at = self.files.display(meta);
            let table = self.format.load(&self.files, meta, self.max_bytes).await?;
            for f in table.batch.schema().fields() {
                merge_field(&mut fields, f, &at)?;
            }
            if let Some(g) = table.geometry {
                match &mut geometry {
                    None => geometry = Some((g, at.clone())),
                    Some((seen, seen_at)) => {
                        if seen.crs != g.crs || seen.column != g.column {
                            return Err(DriverError::Incompatible(format!(
                                "`{at}` has its geometry `{}` in {} but `{seen_at}` has `{}` in {}: \
                                 the files of one source must share one CRS",
                                g.column,
                                g.crs.describe(),
                                seen.column,
                                seen.crs.describe()
                            )));
                        }
                        seen.extent.merge(&g.extent);
                    }
                }
            }
            let name = meta.location.filename().unwrap_or_default().to_string();
            partitions.push(Partition {
                id: file,
                label: name,
                file,
                estimated_rows: Some(table.batch.num_rows() as u64),
                estimated_bytes: Some(meta.size),
            });
        }
        let mut metadata = serde_json::Map::new();
        let mut schema_metadata = HashMap::new();
        if let Some((g, _)) = &geometry {
            for f in fields.iter_mut().filter(|f| *f.name() == g.column) {
                *f = f.clone().with_metadata(wkb_field_metadata(&g.crs, None));
            }
            let geo = geo_metadata(&g.column, &g.crs, &g.extent);
            schema_metadata.insert("geo".to_string(), geo.to_string());
            metadata.insert("geo".into(), geo);
            metadata.insert("crs".into(), g.crs.describe());
        }
        metadata.insert("format".into(), self.format.name().into());
        metadata.insert("files".into(), self.files.objects.len().into());
        let total_rows = partitions.iter().filter_map(|p| p.estimated_rows).sum();
        Ok(Arc::new(Discovery {
            schema: Arc::new(Schema::new_with_metadata(fields, schema_metadata)),
            partitions,
            total_rows: Some(total_rows),
            total_bytes: Some(self.files.objects.iter().map(|m| m.size).sum()),
            files: self.files.file_infos(),
            statistics: vec![],
            metadata,
            warnings: self.warnings.clone(),
        }))
    }
}

/// Adds `f` to the source's columns: a new name is appended; a known one must agree, except
/// that int64 widens to float64 and anything else that differs becomes a string column.
fn merge_field(fields: &mut Vec<Field>, f: &Field, at: &str) -> Result<()> {
    let Some(known) = fields.iter_mut().find(|k| k.name() == f.name()) else {
        fields.push(f.clone().with_nullable(true));
        return Ok(());
    };
    let (a, b) = (known.data_type().clone(), f.data_type());
    let merged = match (&a, b) {
        _ if a == *b => a,
        // A column that was all null in one file takes the type the others give it.
        (DataType::Null, other) => other.clone(),
        (_, DataType::Null) => a,
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
            DataType::Float64
        }
        (DataType::Binary, _) | (_, DataType::Binary) => {
            return Err(DriverError::Incompatible(format!(
                "`{at}` has column `{}` as {b}, earlier files as {a}",
                f.name()
            )))
        }
        _ => DataType::Utf8,
    };
    *known = known.clone().with_data_type(merged);
    Ok(())
}

/// `table` in the source's `schema` (columns by name, cast where a later file widened them,
/// null where the file lacks them), projected to `out`.
fn conform(batch: &RecordBatch, out: &SchemaRef, at: &str) -> Result<RecordBatch> {
    let columns = out
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => arrow_cast::cast(c, f.data_type())
                .map_err(|e| DriverError::corrupt(at, format!("column `{}`: {e}", f.name()))),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    RecordBatch::try_new(out.clone(), columns).map_err(|e| DriverError::corrupt(at, e))
}

#[async_trait]
impl<D: Document> Source for DocumentSource<D> {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        self.discovery
            .get_or_try_init(|| self.load_discovery())
            .await
            .cloned()
    }

    fn files(&self) -> Option<Vec<inlet_driver::FileInfo>> {
        Some(self.files.file_infos())
    }

    fn restore(&self, discovery: Arc<Discovery>) -> bool {
        discovery.files == self.files.file_infos() && self.discovery.set(discovery).is_ok()
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let d = self.discover().await?;
        let out = d.projected_schema(&request)?;
        let batch_size = request.batch_size.max(1);
        let openers: Vec<_> = d
            .select(&request)?
            .into_iter()
            .map(|p| {
                let meta = self.files.objects[p.file].clone();
                let (files, format, out) = (self.files.clone(), self.format.clone(), out.clone());
                let max_bytes = self.max_bytes;
                let cost = meta.size.saturating_mul(PARSE_FACTOR);
                let open = async move {
                    let at = files.display(&meta);
                    let table = format.load(&files, &meta, max_bytes).await?;
                    let batch = conform(&table.batch, &out, &at)?;
                    let slices: Vec<Result<RecordBatch>> = (0..batch.num_rows())
                        .step_by(batch_size)
                        .map(|start| {
                            Ok(batch.slice(start, batch_size.min(batch.num_rows() - start)))
                        })
                        .collect();
                    Ok::<BatchStream, DriverError>(futures::stream::iter(slices).boxed())
                };
                (cost, open)
            })
            .collect();
        let concurrency = if request.limit.is_some() {
            1
        } else {
            self.read_concurrency
        };
        let stream =
            ordered_parallel_within(openers, concurrency, self.read_ahead, self.budget.clone());
        Ok(limit_stream(stream, request.limit))
    }
}
