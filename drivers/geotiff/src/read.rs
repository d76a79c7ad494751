//! Reading one partition: the byte ranges of exactly the chunks (strips or tiles) it overlaps
//! are fetched (adjacent ones in one GET, a few GETs at a time), decoded off the async threads,
//! cut to the window, and streamed as batches of at most `batch_size` rows.

use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, Int64Array, PrimitiveArray, RecordBatch, RecordBatchOptions,
    UInt64Array,
};
use arrow_buffer::{BooleanBuffer, Buffer, MutableBuffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use inlet_driver::storage::Files;
use inlet_driver::{BatchStream, DriverError, Result};

use crate::codec;
use crate::raster::{self, Raster};
use crate::sparse::Ranges;
use crate::table::{Col, Part, Table};

/// Chunks closer than this in the file are fetched in one GET (the gap is read and dropped).
const COALESCE_GAP: u64 = 16 * 1024;
/// GETs in flight for one partition.
const FETCH_CONCURRENCY: usize = 8;

/// What every partition of one read shares.
pub struct Shared {
    pub files: Files,
    pub table: Arc<Table>,
    pub schema: SchemaRef,
    pub cols: Vec<Col>,
    pub batch_size: u64,
}

/// Fetches the chunks' bytes: (offset, bytes) per coalesced range.
async fn fetch_chunks(
    files: &Files,
    r: &Raster,
    chunks: &[usize],
) -> Result<Vec<(u64, bytes::Bytes)>> {
    let mut spans: Vec<(u64, u64)> = chunks
        .iter()
        .filter_map(|c| {
            let (off, n) = (*r.offsets.get(*c)?, *r.counts.get(*c)?);
            (n > 0).then_some((off, off.saturating_add(n).min(r.meta.size)))
        })
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = vec![];
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 + COALESCE_GAP => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let gets: Vec<_> = merged
        .into_iter()
        .map(|(a, b)| {
            let (files, meta) = (files.clone(), r.meta.clone());
            async move { raster::fetch(&files, &meta, a..b).await.map(|x| (a, x)) }
        })
        .collect();
    futures::stream::iter(gets)
        .buffer_unordered(FETCH_CONCURRENCY)
        .try_collect()
        .await
}

/// The value every pixel of an empty chunk (byte count 0, GDAL's sparse files) reads as:
/// nodata when there is one, else 0.
fn fill_bytes(t: &Table, r: &Raster) -> Vec<u8> {
    let v = r.geo.nodata_value().unwrap_or(0.0);
    let bytes: Vec<u8> = match t.dtype.arrow {
        DataType::UInt8 => (v as u8).to_ne_bytes().to_vec(),
        DataType::UInt16 => (v as u16).to_ne_bytes().to_vec(),
        DataType::UInt32 => (v as u32).to_ne_bytes().to_vec(),
        DataType::UInt64 => (v as u64).to_ne_bytes().to_vec(),
        DataType::Int8 => (v as i8).to_ne_bytes().to_vec(),
        DataType::Int16 => (v as i16).to_ne_bytes().to_vec(),
        DataType::Int32 => (v as i32).to_ne_bytes().to_vec(),
        DataType::Int64 => (v as i64).to_ne_bytes().to_vec(),
        DataType::Float32 => (v as f32).to_ne_bytes().to_vec(),
        _ => v.to_ne_bytes().to_vec(),
    };
    bytes
}

/// Decodes the partition's chunks into its window: rows x window width x inner values.
fn decode(
    t: &Table,
    part: &Part,
    chunks: &[(usize, u64, u64)],
    fetched: Vec<(u64, bytes::Bytes)>,
) -> Result<Buffer> {
    let plane = &t.planes[part.plane];
    let r = &t.rasters[plane.file];
    let es = t.dtype.size;
    let win_w = t.xs.end - t.xs.start;
    let inner = t.inner;
    let n = (part.rows.end - part.rows.start) * win_w * inner;
    let mut out = MutableBuffer::from_len_zeroed(n as usize * es);
    let mut ranges = Ranges::default();
    for (off, bytes) in fetched {
        ranges.insert(off, bytes);
    }
    let fill = fill_bytes(t, r);
    let spc = r.samples_per_chunk() as u64;
    for &(cp, row, col) in chunks {
        let idx = r.chunk_index(cp, row, col);
        let (y0, x0) = (row * r.chunk_h, col * r.chunk_w);
        let dh = r.chunk_h.min(r.height - y0);
        let dw = r.chunk_w.min(r.width - x0);
        let empty = r.counts.get(idx).copied().unwrap_or(0) == 0;
        // Tiles are encoded at their full size (padded at the edges); strips hold their rows.
        let (row_w, rows) = if r.tiled {
            (r.chunk_w, r.chunk_h)
        } else {
            (r.width, dh)
        };
        let decoded = if empty {
            None
        } else {
            let what = format!("{} {idx}", if r.tiled { "tile" } else { "strip" });
            let (off, len) = (r.offsets[idx], r.counts[idx]);
            let data = ranges.slice(off, len).ok_or_else(|| {
                DriverError::corrupt(
                    format!("{} ({what})", r.display),
                    format!(
                        "bytes {off}..{} lie past the end of the file",
                        off.saturating_add(len)
                    ),
                )
            })?;
            let bytes = codec::decode(&r.codec, &data, row_w as usize, rows as usize, spc as usize)
                .map_err(|e| DriverError::corrupt(format!("{} ({what})", r.display), e))?;
            Some(bytes)
        };
        // Which output slots (k) this chunk fills, and from which sample of it.
        let slots: Vec<(u64, u64)> = plane
            .samples
            .iter()
            .enumerate()
            .filter(|(_, s)| !r.planar || **s == cp)
            .map(|(k, s)| (k as u64, if r.planar { 0 } else { *s as u64 }))
            .collect();
        let ya = y0.max(part.rows.start);
        let yb = (y0 + dh).min(part.rows.end);
        let xa = x0.max(t.xs.start);
        let xb = (x0 + dw).min(t.xs.end);
        let dst = out.as_slice_mut();
        for y in ya..yb {
            for x in xa..xb {
                for &(k, s) in &slots {
                    let o = ((((y - part.rows.start) * win_w + (x - t.xs.start)) * inner + k)
                        as usize)
                        * es;
                    match &decoded {
                        Some(src) => {
                            let i = ((((y - y0) * row_w + (x - x0)) * spc + s) as usize) * es;
                            dst[o..o + es].copy_from_slice(&src[i..i + es]);
                        }
                        None => dst[o..o + es].copy_from_slice(&fill[..es]),
                    }
                }
            }
        }
    }
    Ok(out.into())
}

/// `values[off..off+len]` as a typed array; values equal to `mask` are null.
fn typed<T: ArrowPrimitiveType>(
    buf: &Buffer,
    off: usize,
    len: usize,
    is_mask: impl Fn(T::Native) -> bool,
    masked: bool,
) -> ArrayRef {
    let values = ScalarBuffer::<T::Native>::new(buf.clone(), off, len);
    let nulls = masked.then(|| {
        let valid: BooleanBuffer = values.iter().map(|v| !is_mask(*v)).collect();
        NullBuffer::new(valid)
    });
    Arc::new(PrimitiveArray::<T>::new(
        values,
        nulls.filter(|n| n.null_count() > 0),
    ))
}

fn value_column(t: &Table, buf: &Buffer, off: usize, len: usize) -> ArrayRef {
    let m = t.mask;
    let masked = m.is_some();
    let nd = m.unwrap_or(0.0);
    // An integer raster's nodata masks only when it is a value of that type.
    macro_rules! int {
        ($t:ty, $n:ty) => {{
            let hit = (nd.fract() == 0.0 && nd >= <$n>::MIN as f64 && nd <= <$n>::MAX as f64)
                .then_some(nd as $n);
            typed::<$t>(buf, off, len, |v| Some(v) == hit, masked && hit.is_some())
        }};
    }
    match t.dtype.arrow {
        DataType::UInt8 => int!(UInt8Type, u8),
        DataType::UInt16 => int!(UInt16Type, u16),
        DataType::UInt32 => int!(UInt32Type, u32),
        DataType::UInt64 => int!(UInt64Type, u64),
        DataType::Int8 => int!(Int8Type, i8),
        DataType::Int16 => int!(Int16Type, i16),
        DataType::Int32 => int!(Int32Type, i32),
        DataType::Int64 => int!(Int64Type, i64),
        DataType::Float32 => {
            let nd32 = nd as f32;
            let hit = move |v: f32| if nd.is_nan() { v.is_nan() } else { v == nd32 };
            typed::<Float32Type>(buf, off, len, hit, masked)
        }
        _ => {
            let hit = move |v: f64| if nd.is_nan() { v.is_nan() } else { v == nd };
            typed::<Float64Type>(buf, off, len, hit, masked)
        }
    }
}

/// `values[idx]`: coordinates repeated along the rows of a batch.
fn take(values: &ArrayRef, idx: Vec<u64>) -> Result<ArrayRef> {
    arrow_select::take::take(values.as_ref(), &UInt64Array::from(idx), None)
        .map_err(|e| DriverError::Io(format!("building a column: {e}")))
}

/// The batches of one partition, from its decoded window.
fn batches(shared: Arc<Shared>, part: Part, buf: Buffer) -> BatchStream {
    let t = shared.table.clone();
    let total = t.part_rows(&part);
    let step = shared.batch_size.max(1);
    let starts: Vec<u64> = (0..total).step_by(step as usize).collect();
    let stream = futures::stream::iter(starts).map(move |start| {
        let len = step.min(total - start);
        let win_w = t.xs.end - t.xs.start;
        let per_row = win_w * t.inner;
        let y_base = part.rows.start - t.ys.start;
        let mut columns = Vec::with_capacity(shared.cols.len());
        for col in &shared.cols {
            let array: ArrayRef = match *col {
                Col::Value => value_column(&t, &buf, start as usize, len as usize),
                Col::Channel => Arc::new(Int64Array::from_iter_values(
                    (start..start + len).map(|i| (i % t.inner) as i64),
                )),
                Col::Y => {
                    let idx = (start..start + len).map(|i| y_base + i / per_row).collect();
                    take(&t.y_values, idx)?
                }
                Col::X => {
                    let idx = (start..start + len)
                        .map(|i| (i / t.inner) % win_w)
                        .collect();
                    take(&t.x_values, idx)?
                }
                Col::Lead(k) => take(&t.lead[k], vec![part.plane as u64; len as usize])?,
            };
            columns.push(array);
        }
        let opts = RecordBatchOptions::new().with_row_count(Some(len as usize));
        RecordBatch::try_new_with_options(shared.schema.clone(), columns, &opts)
            .map_err(|e| DriverError::Io(format!("building a batch: {e}")))
    });
    stream.boxed()
}

/// Reads one partition: fetch, decode (blocking pool), stream.
pub async fn partition(shared: Arc<Shared>, part: Part) -> Result<BatchStream> {
    let t = shared.table.clone();
    let needs_values = shared.cols.iter().any(|c| matches!(c, Col::Value));
    let plane = &t.planes[part.plane];
    let r = t.rasters[plane.file].clone();
    let buf = if needs_values {
        let chunks = t.part_chunks(&part);
        let ids: Vec<usize> = chunks
            .iter()
            .map(|(cp, row, col)| r.chunk_index(*cp, *row, *col))
            .collect();
        let fetched = fetch_chunks(&shared.files, &r, &ids).await?;
        let (t2, p2) = (t.clone(), part.clone());
        tokio::task::spawn_blocking(move || decode(&t2, &p2, &chunks, fetched))
            .await
            .map_err(|e| DriverError::Io(format!("decoding `{}` stopped: {e}", r.display)))??
    } else {
        // Only coordinates: nothing to fetch.
        Buffer::from(Vec::<u8>::new())
    };
    Ok(batches(shared, part, buf))
}
