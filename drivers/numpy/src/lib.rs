//! The `numpy` driver (Intake's `intake.source.npy.NPySource`): `.npy` files served as the
//! tidy table `xr.DataArray(np.load(f)).to_dataframe(name="value").reset_index()` shows — one
//! `Int64` index column per dimension (`dim_0`, `dim_1`, ...) and a `value` column — the same
//! shape as `ndzarr` serves a bare Zarr array.
//!
//! Files are read by byte ranges through the storage layer (local, S3, GCS, Azure, HTTP): the
//! header first, then each batch's elements, so memory does not grow with the file. Several
//! files (a glob or a list) are stacked along a new leading dimension, as Intake's schema does;
//! partitions are `chunks` rows of each file's leading axis (Intake's `chunks`).
#![forbid(unsafe_code)]

mod dtype;
mod header;
mod read;

use std::ops::Range;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::args::Args;
use inlet_driver::storage::Files;
use inlet_driver::{
    limit_stream, ordered_parallel_within, BatchStream, Discovery, Driver, DriverError,
    DriverNames, Limits, OpenContext, Partition, ReadRequest, Result, Source,
};
use object_store::{GetRange, ObjectMeta};
use serde_json::{json, Map, Value as J};
use tokio::sync::OnceCell;

pub use dtype::{DType, Kind};
pub use header::{Header, HeaderError};

/// Partitions of a file without `chunks` hold at most this many bytes of elements.
const PARTITION_BYTES: u64 = 64 << 20;
/// The first read of a file: enough for any header numpy writes for ordinary shapes.
const HEADER_PREFIX: u64 = 4096;

/// The `numpy` driver.
pub struct NumpyDriver;

#[async_trait]
impl Driver for NumpyDriver {
    fn name(&self) -> &'static str {
        "numpy"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &["intake.source.npy.NPySource", "intake.source.NPySource"],
            intake2_datatypes: &[],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let path = a.required("path")?;
        let chunks = a.usize("chunks")?;
        if chunks == Some(0) {
            return Err(DriverError::bad_arg(
                "chunks",
                "must be at least 1 (rows of the leading axis per partition)",
            ));
        }
        let expect = Expect {
            dtype: a.str("dtype")?.map(str::to_string),
            shape: match a.get("shape") {
                None => None,
                Some(v) => Some(shape_arg(v)?),
            },
        };
        let files = ctx
            .storage
            .resolve(path, a.get("storage_options"), &ctx.catalog_dir)
            .await?;
        Ok(Arc::new(NpySource {
            files,
            chunks,
            expect,
            limits: ctx.limits.clone(),
            warnings: a.unused("numpy"),
            state: OnceCell::new(),
        }))
    }
}

impl NumpyDriver {
    /// A source over files already resolved (tests, embedding applications).
    pub fn source(files: Files, chunks: Option<usize>, limits: &Limits) -> Arc<dyn Source> {
        Arc::new(NpySource {
            files,
            chunks,
            expect: Expect::default(),
            limits: limits.clone(),
            warnings: vec![],
            state: OnceCell::new(),
        })
    }
}

fn shape_arg(v: &J) -> Result<Vec<u64>> {
    let bad = || DriverError::bad_arg("shape", format!("expected a list of lengths, got {v}"));
    match v {
        J::Number(n) => n.as_u64().map(|n| vec![n]).ok_or_else(bad),
        J::Array(items) => items.iter().map(|i| i.as_u64().ok_or_else(bad)).collect(),
        _ => Err(bad()),
    }
}

/// Intake's `dtype` and `shape` args: what the catalog says the files hold.
#[derive(Debug, Clone, Default)]
struct Expect {
    dtype: Option<String>,
    shape: Option<Vec<u64>>,
}

/// A numpy dtype spec as Intake's catalogs write it (`int64`, `f4`, `<f8`, `float32`).
fn dtype_spec(spec: &str) -> Option<DType> {
    let s = spec.trim();
    let named = match s {
        "bool" | "bool_" => "|b1",
        "int8" => "i1",
        "int16" => "i2",
        "int32" => "i4",
        "int64" | "int" => "i8",
        "uint8" => "u1",
        "uint16" => "u2",
        "uint32" => "u4",
        "uint64" => "u8",
        "float16" | "half" => "f2",
        "float32" | "single" => "f4",
        "float64" | "float" | "double" => "f8",
        "complex64" => "c8",
        "complex128" | "complex" => "c16",
        other => other,
    };
    if let Some(unit) = named.strip_prefix("datetime64") {
        return DType::parse(&format!("M8{unit}")).ok();
    }
    if let Some(unit) = named.strip_prefix("timedelta64") {
        return DType::parse(&format!("m8{unit}")).ok();
    }
    DType::parse(named).ok()
}

/// One partition: rows `rows` of the leading axis of file `file` (of a 0-d file, its element).
#[derive(Debug, Clone)]
struct Part {
    file: usize,
    rows: Range<u64>,
}

/// What discovery learnt: every file's header and the table over them.
struct Layout {
    headers: Vec<Header>,
    /// The table's shape: the file shape, with a leading file dimension when files are stacked.
    shape: Vec<u64>,
    stacked: bool,
    parts: Vec<Part>,
    dtype: DType,
}

impl Layout {
    /// Elements per row of a file's leading axis.
    fn inner(&self) -> u64 {
        self.headers[0].shape.iter().skip(1).product()
    }

    /// The table row of element 0 of `part`.
    fn first_row(&self, part: &Part) -> u64 {
        let file_elems = self.headers[0].elements();
        let base = if self.stacked {
            part.file as u64 * file_elems
        } else {
            0
        };
        base + part.rows.start * self.inner()
    }

    fn part_rows(&self, part: &Part) -> u64 {
        if self.headers[0].shape.is_empty() {
            1
        } else {
            (part.rows.end - part.rows.start) * self.inner()
        }
    }
}

struct NpySource {
    files: Files,
    chunks: Option<usize>,
    expect: Expect,
    limits: Limits,
    warnings: Vec<String>,
    state: OnceCell<(Arc<Layout>, Arc<Discovery>)>,
}

/// One file's header, read by range: a prefix, then the rest when the header is longer.
async fn read_header(files: &Files, meta: &ObjectMeta) -> Result<Header> {
    let shown = files.display(meta);
    let corrupt =
        |m: &str| DriverError::corrupt(&shown, format!("{m}; write it again with np.save"));
    if meta.size < 10 {
        return Err(corrupt(&format!(
            "is {} bytes long, shorter than any .npy header (it is empty or truncated)",
            meta.size
        )));
    }
    let get = |end: u64| async move {
        files
            .get_pinned(meta, Some(GetRange::Bounded(0..end)))
            .await?
            .bytes()
            .await
            .map_err(|e| DriverError::from_store(&files.display(meta), e))
    };
    let mut bytes = get(meta.size.min(HEADER_PREFIX)).await?;
    let len = header::header_len(&bytes).map_err(|m| corrupt(&m))?;
    if len > header::MAX_HEADER {
        return Err(corrupt(&format!("declares a header of {len} bytes")));
    }
    if len > meta.size {
        return Err(corrupt(&format!(
            "is truncated: its header is {len} bytes but the file holds {}",
            meta.size
        )));
    }
    if len > bytes.len() as u64 {
        bytes = get(len).await?;
    }
    let h = header::parse(&bytes).map_err(|e| match e {
        HeaderError::Corrupt(m) => corrupt(&m),
        HeaderError::Unsupported(m) => DriverError::Unsupported(format!("`{shown}`: {m}")),
    })?;
    let need = h.data_offset + h.data_bytes();
    if meta.size < need {
        return Err(corrupt(&format!(
            "is truncated: its header declares shape {:?} of `{}` ({} bytes of data after a {}-byte header) but the file holds {} bytes",
            h.shape, h.descr, h.data_bytes(), h.data_offset, meta.size
        )));
    }
    Ok(h)
}

impl NpySource {
    async fn state(&self) -> Result<&(Arc<Layout>, Arc<Discovery>)> {
        self.state.get_or_try_init(|| self.load()).await
    }

    async fn load(&self) -> Result<(Arc<Layout>, Arc<Discovery>)> {
        let files = &self.files;
        let reads: Vec<_> = files
            .objects
            .iter()
            .map(|m| read_header(files, m))
            .collect();
        let headers: Vec<Header> = futures::stream::iter(reads)
            .buffered(self.limits.discovery_concurrency.max(1))
            .try_collect()
            .await?;
        let Some(first) = headers.first().cloned() else {
            return Err(DriverError::NotFound("`path` matches no file".into()));
        };
        let name0 = files.display(&files.objects[0]);
        for (h, m) in headers.iter().zip(&files.objects).skip(1) {
            if h.shape != first.shape || h.dtype.arrow() != first.dtype.arrow() {
                return Err(DriverError::Incompatible(format!(
                    "`{}` holds shape {:?} of `{}` but `{name0}` holds {:?} of `{}`: files of one numpy source are stacked and must agree",
                    files.display(m), h.shape, h.descr, first.shape, first.descr
                )));
            }
        }
        self.check_expect(&first, &name0)?;
        let stacked = headers.len() > 1;
        let mut shape = first.shape.clone();
        if stacked {
            shape.insert(0, headers.len() as u64);
        }
        let itemsize = first.dtype.itemsize() as u64;
        let inner: u64 = first.shape.iter().skip(1).product();
        let step = match self.chunks {
            Some(c) => c as u64,
            None => (PARTITION_BYTES / (inner * itemsize).max(1)).max(1),
        };
        let mut parts = vec![];
        for file in 0..headers.len() {
            match first.shape.first() {
                None => parts.push(Part { file, rows: 0..1 }),
                Some(&n0) => {
                    let mut a = 0;
                    while a < n0 && inner > 0 {
                        let b = (a + step).min(n0);
                        parts.push(Part { file, rows: a..b });
                        a = b;
                    }
                }
            }
        }
        let layout = Layout {
            headers,
            shape,
            stacked,
            parts,
            dtype: first.dtype,
        };
        let discovery = self.discovery(&layout);
        Ok((Arc::new(layout), Arc::new(discovery)))
    }

    /// Intake's `dtype`/`shape` args must agree with the files (the header is what is read).
    fn check_expect(&self, h: &Header, file: &str) -> Result<()> {
        if let Some(spec) = &self.expect.dtype {
            match dtype_spec(spec) {
                Some(d) if d.arrow() != h.dtype.arrow() => {
                    return Err(DriverError::bad_arg(
                        "dtype",
                        format!("is `{spec}` but `{file}` holds `{}`: correct it or remove it (the header is read anyway)", h.descr),
                    ))
                }
                _ => {}
            }
        }
        if let Some(shape) = &self.expect.shape {
            if *shape != h.shape {
                return Err(DriverError::bad_arg(
                    "shape",
                    format!("is {shape:?} but `{file}` holds {:?}: correct it or remove it (the header is read anyway)", h.shape),
                ));
            }
        }
        Ok(())
    }

    fn discovery(&self, l: &Layout) -> Discovery {
        let mut fields: Vec<Field> = (0..l.shape.len())
            .map(|i| Field::new(format!("dim_{i}"), DataType::Int64, false))
            .collect();
        fields.push(Field::new("value", l.dtype.arrow(), true));
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let row_bytes = 8 * l.shape.len() as u64 + l.dtype.itemsize() as u64;
        let partitions: Vec<Partition> = l
            .parts
            .iter()
            .enumerate()
            .map(|(id, p)| {
                let rows = l.part_rows(p);
                let name = self.files.objects[p.file]
                    .location
                    .filename()
                    .unwrap_or_default()
                    .to_string();
                Partition {
                    id,
                    label: if l.headers[0].shape.is_empty() {
                        name
                    } else {
                        format!("{name}[{}:{}]", p.rows.start, p.rows.end)
                    },
                    file: p.file,
                    estimated_rows: Some(rows),
                    estimated_bytes: Some(rows * row_bytes),
                }
            })
            .collect();
        let total: u64 = l.shape.iter().product();
        let h = &l.headers[0];
        let mut metadata = Map::new();
        metadata.insert("dtype".into(), J::from(h.descr.clone()));
        metadata.insert("shape".into(), json!(h.shape));
        metadata.insert("fortran_order".into(), J::Bool(h.fortran_order));
        metadata.insert(
            "npy_version".into(),
            J::from(format!("{}.{}", h.version.0, h.version.1)),
        );
        metadata.insert(
            "dims".into(),
            J::Object(
                l.shape
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (format!("dim_{i}"), J::from(*n)))
                    .collect(),
            ),
        );
        if l.stacked {
            metadata.insert(
                "stacked".into(),
                J::from(format!(
                    "{} files stacked along dim_0, as Intake's schema shows them",
                    l.headers.len()
                )),
            );
        }
        let mut warnings = self.warnings.clone();
        if h.fortran_order && h.shape.len() > 1 {
            warnings.push(
                "the file is in Fortran order: each partition reads one byte range per index of the trailing axes (coalesced), then transposes in memory".into(),
            );
        }
        Discovery {
            schema,
            partitions,
            total_rows: Some(total),
            total_bytes: Some(total * row_bytes),
            files: self.files.file_infos(),
            statistics: vec![],
            metadata,
            warnings,
        }
    }
}

#[async_trait]
impl Source for NpySource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.state().await?.1.clone())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let (layout, d) = self.state().await?;
        let schema = d.projected_schema(&request)?;
        let ndim = layout.shape.len();
        let cols: Vec<read::Col> = schema
            .fields()
            .iter()
            .map(
                |f| match f.name().strip_prefix("dim_").and_then(|k| k.parse().ok()) {
                    Some(k) if k < ndim => read::Col::Dim(k),
                    _ => read::Col::Value,
                },
            )
            .collect();
        let batch_size = request.batch_size.max(1) as u64;
        let ahead = self.limits.read_ahead.max(1) as u64;
        let parts = d.select(&request)?;
        let shared = Arc::new(read::Shared {
            files: self.files.clone(),
            layout: layout.clone(),
            cols,
            schema,
            batch_size,
        });
        let openers: Vec<_> = parts
            .into_iter()
            .map(|p| {
                let part = layout.parts[p.id].clone();
                let whole = p.estimated_bytes.unwrap_or(0);
                let fortran = layout.headers[part.file].fortran_order && layout.shape.len() > 1;
                // What a partition holds at once: its batches in flight, or (Fortran order)
                // the whole partition, transposed.
                let row_bytes = whole / p.estimated_rows.unwrap_or(1).max(1);
                let cost = if fortran {
                    whole
                } else {
                    whole.min(batch_size * row_bytes * (ahead + 1))
                };
                let shared = shared.clone();
                let open =
                    async move { Ok::<BatchStream, DriverError>(read::partition(shared, part)) };
                (cost, open)
            })
            .collect();
        let concurrency = if request.limit.is_some() {
            1
        } else {
            self.limits.read_concurrency
        };
        let stream = ordered_parallel_within(
            openers,
            concurrency,
            self.limits.read_ahead.max(1),
            self.limits.budget.clone(),
        );
        Ok(limit_stream(stream, request.limit))
    }

    // No `files()`: without `restore` (headers are not in the cached discovery), a cache
    // entry would be written on every open and never used.

    fn whole_files(&self) -> Option<Files> {
        Some(self.files.clone())
    }
}
