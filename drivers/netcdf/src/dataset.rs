//! The files of a source opened as one dataset, as `xarray.open_mfdataset` combines them: each
//! file's root-group variables, with the ones along the concatenation dimension joined end to
//! end in file order; regions are read file by file as hyperslabs.

use std::ops::Range;
use std::sync::Arc;

use arrow_buffer::{Buffer, MutableBuffer};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::storage::Files;
use inlet_driver::{DriverError, Result};
use inlet_grid::{GridArray, Raw, Regions};
use netcdf_reader::{NcAttrValue, NcFile, NcFormat, NcSliceInfo, NcSliceInfoElem, NcType};
use serde_json::{Map, Value as J};

use crate::ranges::{BlockCache, RangeStorage};

/// Target bytes of one chunk row of an unchunked variable (classic files, contiguous HDF5).
const ROW_TARGET: u64 = 4 << 20;
/// Decoded HDF5 chunks each open file may cache: a chunk row is read once, in order, so this
/// only keeps small coordinates at hand (and bounds memory per file).
const CHUNK_CACHE: usize = 1 << 20;

/// One opened file.
pub struct OpenFile {
    pub display: String,
    pub format: NcFormat,
    nc: NcFile,
    storage: Arc<RangeStorage>,
}

impl OpenFile {
    /// A reader error as a driver error naming the file (and what was read).
    fn error(&self, what: &str, e: impl std::fmt::Display) -> DriverError {
        self.storage
            .take_failure()
            .unwrap_or_else(|| DriverError::corrupt(self.display.clone(), format!("{what}: {e}")))
    }
}

/// Opens one file; runs on a blocking thread (the readers are synchronous).
fn open_file(
    files: Arc<Files>,
    index: usize,
    blocks: Arc<BlockCache>,
    runtime: tokio::runtime::Handle,
) -> Result<OpenFile> {
    let display = files.display(&files.objects[index]);
    let storage = Arc::new(RangeStorage::new(files, index, blocks, runtime));
    let options = netcdf_reader::NcOpenOptions {
        chunk_cache_bytes: CHUNK_CACHE,
        ..Default::default()
    };
    match NcFile::from_storage_with_options(storage.clone(), options) {
        Ok(nc) => Ok(OpenFile {
            display,
            format: nc.format(),
            nc,
            storage,
        }),
        Err(e) => Err(storage.take_failure().unwrap_or_else(|| {
            DriverError::corrupt(display, format!("not a readable NetCDF 3 or 4 file: {e}"))
        })),
    }
}

/// Opens every file of `files`, `concurrency` at a time, in order.
pub async fn open_all(files: Arc<Files>, concurrency: usize) -> Result<Vec<Arc<OpenFile>>> {
    let runtime = tokio::runtime::Handle::current();
    let blocks = BlockCache::new();
    futures::stream::iter(0..files.objects.len())
        .map(|index| {
            let (files, runtime, blocks) = (files.clone(), runtime.clone(), blocks.clone());
            async move {
                tokio::task::spawn_blocking(move || open_file(files, index, blocks, runtime))
                    .await
                    .map_err(|e| DriverError::Io(format!("opening a NetCDF file stopped: {e}")))?
                    .map(Arc::new)
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// A variable of the dataset (joined over files when it runs along the concat dimension).
pub struct NcArray {
    name: String,
    dims: Vec<String>,
    shape: Vec<u64>,
    attrs: Map<String, J>,
    /// The element type of the table's column.
    raw: std::result::Result<Raw, String>,
    /// The element type in the file (signed where `_Unsigned` makes the column unsigned).
    stored: Raw,
    chunk0: u64,
    /// Whether the leading dimension is the concatenation dimension (else file 0 holds it all).
    joined: bool,
}

impl GridArray for NcArray {
    fn name(&self) -> &str {
        &self.name
    }

    fn dims(&self) -> &[String] {
        &self.dims
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn attrs(&self) -> &Map<String, J> {
        &self.attrs
    }

    fn raw(&self) -> Result<Raw> {
        self.raw.clone().map_err(DriverError::Unsupported)
    }

    fn chunk0(&self) -> Result<u64> {
        Ok(self.chunk0)
    }
}

/// xarray's `_Unsigned: "true"` (NetCDF 3 has no unsigned types): signed integers read as
/// the unsigned type of the same width, fill values included. Returns the column's type.
fn unsigned(raw: Raw, attrs: &mut Map<String, J>) -> Raw {
    let flagged = attrs
        .get("_Unsigned")
        .and_then(J::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (to, bits) = match raw {
        Raw::I8 => (Raw::U8, 8),
        Raw::I16 => (Raw::U16, 16),
        Raw::I32 => (Raw::U32, 32),
        Raw::I64 => (Raw::U64, 64),
        _ => return raw,
    };
    if !flagged {
        return raw;
    }
    attrs.remove("_Unsigned");
    for key in ["_FillValue", "missing_value"] {
        if let Some(J::Number(n)) = attrs.get(key) {
            if let Some(v) = n.as_i64().filter(|v| *v < 0) {
                let u = (i128::from(v) + (1i128 << bits)) as u64;
                attrs.insert(key.into(), J::from(u));
            }
        }
    }
    to
}

fn raw_of(t: &NcType, name: &str) -> std::result::Result<Raw, String> {
    Ok(match t {
        NcType::Byte => Raw::I8,
        NcType::UByte => Raw::U8,
        NcType::Short => Raw::I16,
        NcType::UShort => Raw::U16,
        NcType::Int => Raw::I32,
        NcType::UInt => Raw::U32,
        NcType::Int64 => Raw::I64,
        NcType::UInt64 => Raw::U64,
        NcType::Float => Raw::F32,
        NcType::Double => Raw::F64,
        other => {
            return Err(format!(
                "`{name}` has NetCDF type {other:?}; the driver reads integers, float and double"
            ))
        }
    })
}

/// A number as JSON; NaN and infinities as the strings xarray's JSON writers use.
fn number(x: f64) -> J {
    match serde_json::Number::from_f64(x) {
        Some(n) => J::Number(n),
        None if x.is_nan() => J::from("NaN"),
        None if x > 0.0 => J::from("Infinity"),
        None => J::from("-Infinity"),
    }
}

/// An attribute value as JSON: one element as a scalar, several as a list.
pub fn attr_json(v: &NcAttrValue) -> J {
    fn list<T: Copy>(v: &[T], f: impl Fn(T) -> J) -> J {
        match v {
            [one] => f(*one),
            many => J::Array(many.iter().map(|x| f(*x)).collect()),
        }
    }
    match v {
        NcAttrValue::Chars(s) => J::from(s.trim_end_matches('\0')),
        NcAttrValue::Strings(s) if s.len() == 1 => J::from(s[0].clone()),
        NcAttrValue::Strings(s) => J::from(s.clone()),
        NcAttrValue::Bytes(v) => list(v, J::from),
        NcAttrValue::UBytes(v) => list(v, J::from),
        NcAttrValue::Shorts(v) => list(v, J::from),
        NcAttrValue::UShorts(v) => list(v, J::from),
        NcAttrValue::Ints(v) => list(v, J::from),
        NcAttrValue::UInts(v) => list(v, J::from),
        NcAttrValue::Int64s(v) => list(v, J::from),
        NcAttrValue::UInt64s(v) => list(v, J::from),
        NcAttrValue::Floats(v) => list(v, |x| number(f64::from(x))),
        NcAttrValue::Doubles(v) => list(v, number),
        NcAttrValue::UserDefined { .. } => J::Null,
    }
}

pub fn attrs_json(attrs: &[netcdf_reader::NcAttribute]) -> Map<String, J> {
    attrs
        .iter()
        .map(|a| (a.name.clone(), attr_json(&a.value)))
        .collect()
}

/// The HDF5 view of a NetCDF 4 file, for what the NetCDF model does not say (chunk shapes).
fn hdf5(file: &OpenFile) -> Option<hdf5_reader::Hdf5File> {
    if !matches!(file.format, NcFormat::Nc4 | NcFormat::Nc4Classic) {
        return None;
    }
    hdf5_reader::Hdf5File::from_storage(file.storage.clone()).ok()
}

/// Chunk length along the leading dim of an HDF5 variable, when it is chunked.
fn hdf5_chunk0(h5: Option<&hdf5_reader::Hdf5File>, name: &str) -> Option<u64> {
    let chunks = h5?.dataset(name).ok()?.chunks()?;
    chunks.first().map(|c| u64::from(*c).max(1))
}

/// What the files hold, as one dataset.
pub struct Layout {
    /// The files in the order they are joined.
    pub files: Vec<Arc<OpenFile>>,
    pub arrays: Vec<Arc<NcArray>>,
    /// The first file's global attributes.
    pub attributes: Map<String, J>,
    /// The dimension files are joined along.
    pub concat: Option<String>,
    /// Each file's length along it.
    pub lengths: Vec<u64>,
}

/// The dimension `count` files are joined along: the one named, else (as xarray combines by
/// coordinates) the record dimension, else the variables' leading one.
fn concat_of(first: &OpenFile, count: usize, named: Option<&str>) -> Result<Option<String>> {
    let dims = first
        .nc
        .dimensions()
        .map_err(|e| first.error("reading its dimensions", e))?;
    let vars = first
        .nc
        .variables()
        .map_err(|e| first.error("reading its variables", e))?;
    let concat = match named {
        Some(d) => Some(d.to_string()),
        None if count > 1 => dims
            .iter()
            .find(|d| d.is_unlimited)
            .or_else(|| vars.iter().find_map(|v| v.dimensions.first()))
            .map(|d| d.name.clone()),
        None => None,
    };
    if let (Some(c), true) = (&concat, count > 1) {
        if !dims.iter().any(|d| &d.name == c) {
            return Err(DriverError::bad_arg(
                "concat_dim",
                format!("`{}` has no dimension `{c}`", first.display),
            ));
        }
    }
    Ok(concat)
}

/// `combine: by_coords`: files ordered by the first value of their `concat` coordinate (path
/// order among equals, and for files without the coordinate).
fn in_coordinate_order(files: &[Arc<OpenFile>], concat: &str) -> Vec<Arc<OpenFile>> {
    let first_value = |f: &OpenFile| -> Option<f64> {
        let one = NcSliceInfo {
            selections: vec![NcSliceInfoElem::Slice {
                start: 0,
                end: 1,
                step: 1,
            }],
        };
        let v = f.nc.read_variable_slice_as_f64(concat, &one).ok()?;
        v.iter().next().copied().filter(|x| !x.is_nan())
    };
    let mut keyed: Vec<(Option<f64>, Arc<OpenFile>)> =
        files.iter().map(|f| (first_value(f), f.clone())).collect();
    if keyed.iter().any(|(k, _)| k.is_none()) {
        return files.to_vec();
    }
    keyed.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    keyed.into_iter().map(|(_, f)| f).collect()
}

/// The dataset over `files`: variables, with the ones along `concat_dim` joined. Runs on a
/// blocking thread (reading HDF5 chunk layouts may fetch metadata).
pub fn arrays(
    files: &[Arc<OpenFile>],
    concat_dim: Option<&str>,
    mask_and_scale: bool,
    by_coords: bool,
) -> Result<Layout> {
    let first = files
        .first()
        .ok_or_else(|| DriverError::NotFound("the urlpath matches no file".into()))?;
    let concat = concat_of(first, files.len(), concat_dim)?;
    let files = match &concat {
        Some(c) if by_coords && files.len() > 1 => in_coordinate_order(files, c),
        _ => files.to_vec(),
    };
    let first = &files[0];
    let vars = first
        .nc
        .variables()
        .map_err(|e| first.error("reading its variables", e))?;
    let h5 = hdf5(first);
    let mut out = vec![];
    for v in vars {
        let dims: Vec<String> = v.dimensions.iter().map(|d| d.name.clone()).collect();
        let mut shape = v.shape();
        let joined = files.len() > 1
            && concat
                .as_deref()
                .is_some_and(|c| dims.first().map(String::as_str) == Some(c));
        if joined {
            for f in &files[1..] {
                let other = f.nc.variable(&v.name).map_err(|_| {
                    DriverError::Incompatible(format!(
                        "`{}` has no variable `{}`, which `{}` has",
                        f.display, v.name, first.display
                    ))
                })?;
                let s = other.shape();
                if s.len() != shape.len() || s[1..] != shape[1..] || other.dtype != v.dtype {
                    return Err(DriverError::Incompatible(format!(
                        "`{}` in `{}` has shape {s:?} ({:?}) but {shape:?} ({:?}) in `{}`: files are joined along `{}` only",
                        v.name, f.display, other.dtype, v.dtype, first.display, dims[0]
                    )));
                }
                shape[0] += s[0];
            }
        }
        let stored = raw_of(&v.dtype, &v.name);
        let mut attrs = attrs_json(&v.attributes);
        // As xarray: the unsigned view is part of mask_and_scale.
        let raw = match stored {
            Ok(r) if mask_and_scale => Ok(unsigned(r, &mut attrs)),
            ref other => other.clone(),
        };
        let inner: u64 = shape.iter().skip(1).product::<u64>().max(1);
        let esize = raw.as_ref().map_or(1, |r| r.size() as u64);
        let chunk0 = hdf5_chunk0(h5.as_ref(), &v.name)
            .unwrap_or_else(|| (ROW_TARGET / (inner * esize)).max(1));
        out.push(Arc::new(NcArray {
            name: v.name.clone(),
            dims,
            shape,
            attrs,
            stored: stored.clone().unwrap_or(Raw::U8),
            raw,
            chunk0,
            joined,
        }));
    }
    let attributes = attrs_json(
        first
            .nc
            .global_attributes()
            .map_err(|e| first.error("reading its attributes", e))?,
    );
    let lengths = lengths(&files, concat.as_deref());
    Ok(Layout {
        files,
        arrays: out,
        attributes,
        concat,
        lengths,
    })
}

/// Reads regions of the dataset's variables from its files.
pub struct NcRegions {
    pub display: String,
    pub files: Vec<Arc<OpenFile>>,
    /// Where each file starts along the concatenation dimension.
    pub starts: Vec<u64>,
}

impl NcRegions {
    pub fn new(display: String, files: Vec<Arc<OpenFile>>, lengths: Vec<u64>) -> Self {
        let mut starts = Vec::with_capacity(lengths.len());
        let mut at = 0;
        for n in lengths {
            starts.push(at);
            at += n;
        }
        NcRegions {
            display,
            files,
            starts,
        }
    }
}

/// A hyperslab of `name` in `file` as native-endian elements, C order.
fn slab(file: &OpenFile, name: &str, raw: Raw, region: &[Range<u64>]) -> Result<Buffer> {
    let selection = NcSliceInfo {
        selections: region
            .iter()
            .map(|r| NcSliceInfoElem::Slice {
                start: r.start,
                end: r.end,
                step: 1,
            })
            .collect(),
    };
    macro_rules! read {
        ($t:ty) => {{
            let a = file
                .nc
                .read_variable_slice::<$t>(name, &selection)
                .map_err(|e| file.error(&format!("reading `{name}` at {region:?}"), e))?;
            let values: Vec<$t> = if a.is_standard_layout() {
                a.into_raw_vec_and_offset().0
            } else {
                a.iter().copied().collect()
            };
            Buffer::from_vec(values)
        }};
    }
    Ok(match raw {
        Raw::Bool | Raw::U8 => read!(u8),
        Raw::I8 => read!(i8),
        Raw::I16 => read!(i16),
        Raw::U16 => read!(u16),
        Raw::I32 => read!(i32),
        Raw::U32 => read!(u32),
        Raw::I64 => read!(i64),
        Raw::U64 => read!(u64),
        Raw::F32 => read!(f32),
        Raw::F64 => read!(f64),
    })
}

#[async_trait]
impl Regions for NcRegions {
    type Array = NcArray;

    fn display(&self) -> &str {
        &self.display
    }

    async fn read_region(
        &self,
        array: &Arc<NcArray>,
        esize: usize,
        region: &[Range<u64>],
    ) -> Result<Buffer> {
        // Read as stored; the bytes are the same in the column's (unsigned) type.
        array.raw()?;
        let raw = array.stored;
        let total: u64 = region.iter().map(|r| r.end - r.start).product();
        if total == 0 || region.is_empty() {
            return Ok(MutableBuffer::new(0).into());
        }
        // The files holding the leading range, with the part of it each holds.
        let mut pieces = vec![];
        if array.joined {
            let lead = &region[0];
            for (i, file) in self.files.iter().enumerate() {
                let start = self.starts[i];
                let end = self.starts.get(i + 1).copied().unwrap_or(u64::MAX);
                let (lo, hi) = (lead.start.max(start), lead.end.min(end));
                if lo < hi {
                    let mut r = region.to_vec();
                    r[0] = lo - start..hi - start;
                    pieces.push((file.clone(), r));
                }
            }
        } else if let Some(f) = self.files.first() {
            pieces.push((f.clone(), region.to_vec()));
        }
        if pieces.len() == 1 {
            let (file, r) = pieces.remove(0);
            let name = array.name.clone();
            return tokio::task::spawn_blocking(move || slab(&file, &name, raw, &r))
                .await
                .map_err(|e| DriverError::Io(format!("reading `{}` stopped: {e}", array.name)))?;
        }
        // Several files: C order makes the result their slabs end to end.
        let mut out = MutableBuffer::with_capacity(total as usize * esize);
        for (file, r) in pieces {
            let name = array.name.clone();
            let part = tokio::task::spawn_blocking(move || slab(&file, &name, raw, &r))
                .await
                .map_err(|e| DriverError::Io(format!("reading `{}` stopped: {e}", array.name)))??;
            out.extend_from_slice(part.as_slice());
        }
        Ok(out.into())
    }
}

/// Each file's length along the concatenation dimension (0 without one).
fn lengths(files: &[Arc<OpenFile>], concat: Option<&str>) -> Vec<u64> {
    files
        .iter()
        .map(|f| {
            concat
                .and_then(|c| f.nc.dimension(c).ok())
                .map_or(0, |d| d.size)
        })
        .collect()
}
