//! Streaming one partition: C-order files are read one byte range per batch; Fortran-order
//! files read the partition's runs (one per index of the trailing axes, coalesced when close)
//! and transpose them to C order in memory.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::storage::Files;
use inlet_driver::{BatchStream, DriverError, Result};
use object_store::GetRange;

use crate::{Layout, Part};

/// Gaps up to this size between the runs of a Fortran-order partition are read through.
const MAX_GAP: u64 = 256 << 10;
/// One GET of a Fortran-order partition covers at most this many bytes.
const MAX_GET: u64 = 16 << 20;
/// GETs in flight for one Fortran-order partition.
const GET_CONCURRENCY: usize = 8;

/// What an output column is.
#[derive(Debug, Clone, Copy)]
pub enum Col {
    Dim(usize),
    Value,
}

/// What every partition of one read shares.
pub struct Shared {
    pub files: Files,
    pub layout: Arc<Layout>,
    pub cols: Vec<Col>,
    pub schema: SchemaRef,
    pub batch_size: u64,
}

struct State {
    shared: Arc<Shared>,
    part: Part,
    /// Rows of this partition, and how many were emitted.
    rows: u64,
    pos: u64,
    /// Fortran order: the partition's elements in C order, loaded on the first batch.
    transposed: Option<Bytes>,
}

pub fn partition(shared: Arc<Shared>, part: Part) -> BatchStream {
    let rows = shared.layout.part_rows(&part);
    let state = State {
        shared,
        part,
        rows,
        pos: 0,
        transposed: None,
    };
    futures::stream::try_unfold(state, |mut st| async move {
        let batch = st.next().await?;
        Ok(batch.map(|b| (b, st)))
    })
    .boxed()
}

impl State {
    async fn next(&mut self) -> Result<Option<RecordBatch>> {
        if self.pos >= self.rows {
            return Ok(None);
        }
        let sh = self.shared.clone();
        let len = (self.rows - self.pos).min(sh.batch_size);
        let first = sh.layout.first_row(&self.part) + self.pos;
        let mut value: Option<ArrayRef> = None;
        let mut columns = Vec::with_capacity(sh.cols.len());
        for col in &sh.cols {
            columns.push(match *col {
                Col::Dim(k) => dim_column(&sh.layout.shape, k, first, len),
                Col::Value => match &value {
                    Some(v) => v.clone(),
                    None => {
                        let v = self.values(len).await?;
                        value = Some(v.clone());
                        v
                    }
                },
            });
        }
        self.pos += len;
        let opts = RecordBatchOptions::new().with_row_count(Some(len as usize));
        let batch = RecordBatch::try_new_with_options(sh.schema.clone(), columns, &opts)
            .map_err(|e| DriverError::corrupt(self.shown(), e))?;
        Ok(Some(batch))
    }

    fn shown(&self) -> String {
        let f = &self.shared.files;
        f.display(&f.objects[self.part.file])
    }

    /// The next `len` values of the partition.
    async fn values(&mut self, len: u64) -> Result<ArrayRef> {
        let sh = self.shared.clone();
        let l = &sh.layout;
        let h = &l.headers[self.part.file];
        let is = l.dtype.itemsize() as u64;
        let bytes = if h.fortran_order && h.shape.len() > 1 {
            if self.transposed.is_none() {
                self.transposed = Some(self.load_fortran().await?);
            }
            let t = self.transposed.clone().unwrap_or_default();
            t.slice((self.pos * is) as usize..((self.pos + len) * is) as usize)
        } else {
            let elem = self.part.rows.start * l.inner() + self.pos;
            let start = h.data_offset + elem * is;
            self.get(start..start + len * is).await?
        };
        l.dtype
            .decode(&bytes)
            .map_err(|m| DriverError::corrupt(self.shown(), m))
    }

    /// Bytes `range` of this partition's file, checked to be all there.
    async fn get(&self, range: Range<u64>) -> Result<Bytes> {
        get(&self.shared.files, self.part.file, range).await
    }

    /// The partition's elements of a Fortran-order file, in C order.
    async fn load_fortran(&self) -> Result<Bytes> {
        let l = &self.shared.layout;
        let h = &l.headers[self.part.file];
        let is = l.dtype.itemsize() as u64;
        let n0 = h.shape[0];
        let trailing = &h.shape[1..];
        let inner = l.inner();
        let Range { start: a, end: b } = self.part.rows;
        let rlen = b - a;
        // Runs: trailing index j (Fortran-linear) holds rows a..b at elements j*n0+a..j*n0+b.
        let gap = (n0 - rlen) * is;
        let per_get = if gap <= MAX_GAP {
            (MAX_GET / (n0 * is).max(1)).max(1)
        } else {
            1
        };
        let groups: Vec<Range<u64>> = (0..inner)
            .step_by(per_get as usize)
            .map(|j0| j0..(j0 + per_get).min(inner))
            .collect();
        let files = self.shared.files.clone();
        let file = self.part.file;
        let offset = h.data_offset;
        let fetched: Vec<(u64, u64, Bytes)> = futures::stream::iter(groups)
            .map(|g| {
                let files = files.clone();
                async move {
                    let start = offset + (g.start * n0 + a) * is;
                    let end = offset + ((g.end - 1) * n0 + b) * is;
                    let bytes = get(&files, file, start..end).await?;
                    Ok::<_, DriverError>((g.start, g.end - g.start, bytes))
                }
            })
            .buffer_unordered(GET_CONCURRENCY)
            .try_collect()
            .await?;
        // C strides of the trailing axes.
        let mut cstride = vec![1u64; trailing.len()];
        for d in (0..trailing.len().saturating_sub(1)).rev() {
            cstride[d] = cstride[d + 1] * trailing[d + 1];
        }
        let isz = is as usize;
        let mut out = vec![0u8; (rlen * inner * is) as usize];
        for (j0, count, buf) in fetched {
            for dj in 0..count {
                let j = j0 + dj;
                // The C-linear index of trailing index j (Fortran-linear).
                let (mut rest, mut c) = (j, 0);
                for (d, n) in trailing.iter().enumerate() {
                    c += (rest % n) * cstride[d];
                    rest /= n;
                }
                let src = (dj * n0 * is) as usize;
                for r in 0..rlen as usize {
                    let s = src + r * isz;
                    let t = (r * inner as usize + c as usize) * isz;
                    out[t..t + isz].copy_from_slice(&buf[s..s + isz]);
                }
            }
        }
        Ok(Bytes::from(out))
    }
}

async fn get(files: &Files, file: usize, range: Range<u64>) -> Result<Bytes> {
    let meta = &files.objects[file];
    let want = range.end - range.start;
    let bytes = files
        .get_pinned(meta, Some(GetRange::Bounded(range.clone())))
        .await?
        .bytes()
        .await
        .map_err(|e| DriverError::from_store(&files.display(meta), e))?;
    if bytes.len() as u64 != want {
        return Err(DriverError::corrupt(
            files.display(meta),
            format!(
                "bytes {}..{} read as {} bytes: the file is truncated; write it again with np.save",
                range.start,
                range.end,
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// Index `k` of table rows `first..first+len` (C order over `shape`), run by run.
fn dim_column(shape: &[u64], k: usize, first: u64, len: u64) -> ArrayRef {
    let stride: u64 = shape[k + 1..].iter().product::<u64>().max(1);
    let ext = shape[k].max(1);
    let mut idx: Vec<i64> = Vec::with_capacity(len as usize);
    let mut i = (first / stride) % ext;
    let mut run = stride - first % stride;
    while (idx.len() as u64) < len {
        let n = run.min(len - idx.len() as u64) as usize;
        idx.resize(idx.len() + n, i as i64);
        i = if i + 1 == ext { 0 } else { i + 1 };
        run = stride;
    }
    Arc::new(Int64Array::from(idx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    #[test]
    fn dimension_columns_follow_c_order() {
        let col = |k, first, len| {
            let a = dim_column(&[2, 3, 2], k, first, len);
            let a = a
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.values().to_vec());
            a.unwrap_or_default()
        };
        assert_eq!(col(0, 0, 12), vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
        assert_eq!(col(1, 3, 6), vec![1, 2, 2, 0, 0, 1]);
        assert_eq!(col(2, 5, 4), vec![1, 0, 1, 0]);
        assert_eq!(dim_column(&[4], 0, 1, 2).len(), 2);
    }
}
