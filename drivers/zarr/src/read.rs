//! Reading: chunks are fetched (one GET each, concurrently, bounded) and decoded off the async
//! threads; a partition walks its leading-dim range one chunk row at a time, so memory holds at
//! most one decoded chunk row per projected variable.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt64Array};
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_schema::SchemaRef;
use futures::StreamExt;
use inlet_driver::{BatchStream, DriverError, Result};
use object_store::ObjectStoreExt;
use zarrs::array::codec::{ArrayToBytesCodecTraits, CodecOptions};

use crate::convert::to_arrow;
use crate::store::{key_path, Node, ZarrLocation};
use crate::table::Table;

/// Decodes one chunk's bytes to native-endian, C-order elements.
fn decode(node: &Node, idx: &[u64], bytes: Vec<u8>, esize: usize) -> Result<Vec<u8>, String> {
    let repr = node
        .array
        .chunk_array_representation(idx)
        .map_err(|e| e.to_string())?;
    // Chunks are decoded in parallel already: one thread per chunk.
    let opts = CodecOptions::builder().concurrent_target(1).build();
    let decoded = node
        .array
        .codecs()
        .decode(Cow::Owned(bytes), &repr, &opts)
        .map_err(|e| e.to_string())?;
    let fixed = decoded
        .into_fixed()
        .map_err(|e| e.to_string())?
        .into_owned();
    let want = repr.num_elements_usize() * esize;
    if fixed.len() != want {
        return Err(format!("decoded to {} bytes, expected {want}", fixed.len()));
    }
    Ok(fixed)
}

/// One chunk, decoded; None when it does not exist (Zarr: the fill value).
async fn chunk(
    loc: &ZarrLocation,
    node: &Arc<Node>,
    idx: Vec<u64>,
    esize: usize,
) -> Result<(Vec<u64>, Option<Vec<u8>>)> {
    let key = node.array.chunk_key(&idx);
    let shown = format!("{}/{}", loc.display, key.as_str());
    let bytes = match loc.store.get(&key_path(&loc.root, key.as_str())).await {
        Ok(r) => r
            .bytes()
            .await
            .map_err(|e| DriverError::from_store(&shown, e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok((idx, None)),
        Err(e) => return Err(DriverError::from_store(&shown, e)),
    };
    let (node2, idx2) = (node.clone(), idx.clone());
    let decoded =
        tokio::task::spawn_blocking(move || decode(&node2, &idx2, Vec::from(bytes), esize))
            .await
            .map_err(|e| DriverError::Io(format!("decoding `{shown}` stopped: {e}")))?;
    match decoded {
        Ok(d) => Ok((idx, Some(d))),
        Err(why) => Err(DriverError::corrupt(
            shown,
            format!(
                "chunk `{}` of `{}` cannot be decoded: {why}",
                key.as_str(),
                node.name
            ),
        )),
    }
}

/// Row-major strides of `shape`, in elements.
fn strides(shape: &[u64]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1] as usize;
    }
    s
}

/// Copies the overlap `lo..hi` of a chunk (origin `origin`, full shape `cs`) into `out`, the
/// region starting at `start` with shape `oshape`; a missing chunk writes the fill value.
#[allow(clippy::too_many_arguments)]
fn copy_block(
    src: Option<&[u8]>,
    fill: &[u8],
    cs: &[u64],
    origin: &[u64],
    out: &mut [u8],
    oshape: &[u64],
    start: &[u64],
    lo: &[u64],
    hi: &[u64],
    esize: usize,
) {
    let n = cs.len();
    let (ss, ds) = (strides(cs), strides(oshape));
    let last = n - 1;
    let run = (hi[last] - lo[last]) as usize;
    let mut pos: Vec<u64> = lo.to_vec();
    loop {
        let s: usize = (0..n).map(|d| (pos[d] - origin[d]) as usize * ss[d]).sum();
        let t: usize = (0..n).map(|d| (pos[d] - start[d]) as usize * ds[d]).sum();
        let dst = &mut out[t * esize..(t + run) * esize];
        match src {
            Some(src) => dst.copy_from_slice(&src[s * esize..(s + run) * esize]),
            None => dst
                .chunks_exact_mut(esize)
                .for_each(|e| e.copy_from_slice(fill)),
        }
        // Odometer over every dim but the last (the contiguous run).
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            pos[d] += 1;
            if pos[d] < hi[d] {
                break;
            }
            pos[d] = lo[d];
        }
    }
}

/// The region `region` of `node` as one C-order buffer of native elements.
pub async fn read_region(
    loc: &ZarrLocation,
    node: &Arc<Node>,
    esize: usize,
    region: &[Range<u64>],
    concurrency: usize,
) -> Result<Buffer> {
    let oshape: Vec<u64> = region.iter().map(|r| r.end - r.start).collect();
    let total: u64 = oshape.iter().product();
    let mut out = MutableBuffer::from_len_zeroed(total as usize * esize);
    if total == 0 || region.is_empty() {
        return Ok(out.into());
    }
    let zeros = vec![0u64; region.len()];
    let cs: Vec<u64> = node
        .array
        .chunk_shape(&zeros)
        .map_err(|e| DriverError::Unsupported(format!("chunk grid of `{}`: {e}", node.name)))?
        .iter()
        .map(|c| c.get())
        .collect();
    let first: Vec<u64> = region.iter().zip(&cs).map(|(r, c)| r.start / c).collect();
    let last: Vec<u64> = region
        .iter()
        .zip(&cs)
        .map(|(r, c)| (r.end - 1) / c)
        .collect();
    let mut all = vec![];
    let mut idx = first.clone();
    'outer: loop {
        all.push(idx.clone());
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] <= last[d] {
                continue 'outer;
            }
            idx[d] = first[d];
        }
        break;
    }
    let fill = node.array.fill_value().as_ne_bytes().to_vec();
    let zero_fill = fill.iter().all(|b| *b == 0) || fill.len() != esize;
    let start: Vec<u64> = region.iter().map(|r| r.start).collect();
    let mut chunks = futures::stream::iter(all)
        .map(|idx| chunk(loc, node, idx, esize))
        .buffer_unordered(concurrency.max(1));
    while let Some(item) = chunks.next().await {
        let (idx, bytes) = item?;
        if bytes.is_none() && zero_fill {
            continue;
        }
        let origin: Vec<u64> = idx.iter().zip(&cs).map(|(i, c)| i * c).collect();
        let lo: Vec<u64> = origin
            .iter()
            .zip(region)
            .map(|(o, r)| (*o).max(r.start))
            .collect();
        let hi: Vec<u64> = origin
            .iter()
            .zip(region)
            .zip(&cs)
            .map(|((o, r), c)| (o + c).min(r.end))
            .collect();
        copy_block(
            bytes.as_deref(),
            &fill,
            &cs,
            &origin,
            out.as_slice_mut(),
            &oshape,
            &start,
            &lo,
            &hi,
            esize,
        );
    }
    Ok(out.into())
}

/// What one output column is.
#[derive(Clone, Copy)]
pub enum Col {
    Dim(usize),
    Var(usize),
}

/// What every partition of one read shares.
pub struct Shared {
    pub loc: ZarrLocation,
    pub table: Arc<Table>,
    /// Each dimension's column values over its selected range.
    pub dim_values: Arc<Vec<ArrayRef>>,
    pub cols: Vec<Col>,
    pub schema: SchemaRef,
    pub batch_size: u64,
    pub chunk_concurrency: usize,
}

struct State {
    shared: Arc<Shared>,
    part: Range<u64>,
    vars: Vec<usize>,
    steps: Vec<u64>,
    step: usize,
    pos: u64,
    cache: HashMap<usize, (Range<u64>, Buffer)>,
}

/// The batches of the partition covering `part` of the leading dimension, in C order.
pub fn partition(shared: Arc<Shared>, part: Range<u64>) -> BatchStream {
    let mut vars: Vec<usize> = shared
        .cols
        .iter()
        .filter_map(|c| match c {
            Col::Var(v) => Some(*v),
            Col::Dim(_) => None,
        })
        .collect();
    vars.sort_unstable();
    vars.dedup();
    // Steps: every projected variable's chunk boundaries, so each step lies in one chunk row.
    let mut steps = vec![part.start, part.end];
    for v in &vars {
        let c = shared.table.vars[*v].chunk0;
        let mut b = (part.start / c + 1) * c;
        while b < part.end {
            steps.push(b);
            b += c;
        }
    }
    steps.sort_unstable();
    steps.dedup();
    let state = State {
        shared,
        part,
        vars,
        steps,
        step: 0,
        pos: 0,
        cache: HashMap::new(),
    };
    futures::stream::try_unfold(state, |mut st| async move {
        let batch = st.next().await?;
        Ok(batch.map(|b| (b, st)))
    })
    .boxed()
}

impl State {
    async fn next(&mut self) -> Result<Option<RecordBatch>> {
        let t = self.shared.table.clone();
        let inner = t.inner();
        loop {
            let Some(&w) = self.steps.get(self.step + 1) else {
                return Ok(None);
            };
            let u = self.steps[self.step];
            let rows = (w - u) * inner;
            if self.pos >= rows {
                self.step += 1;
                self.pos = 0;
                continue;
            }
            self.load(u).await?;
            let len = (rows - self.pos).min(self.shared.batch_size);
            let flat = (u - self.part.start) * inner + self.pos;
            let mut columns = Vec::with_capacity(self.shared.cols.len());
            for col in &self.shared.cols {
                columns.push(match *col {
                    Col::Dim(k) => self.dim_column(k, flat, len)?,
                    Col::Var(v) => {
                        let (range, buf) = self.cache.get(&v).ok_or_else(|| {
                            DriverError::Io("internal: chunk row not loaded".into())
                        })?;
                        let off = (u - range.start) * inner + self.pos;
                        to_arrow(&t.vars[v].col, buf, off as usize, len as usize)
                    }
                });
            }
            self.pos += len;
            let opts = RecordBatchOptions::new().with_row_count(Some(len as usize));
            let batch =
                RecordBatch::try_new_with_options(self.shared.schema.clone(), columns, &opts)
                    .map_err(|e| DriverError::corrupt(self.shared.loc.display.clone(), e))?;
            return Ok(Some(batch));
        }
    }

    /// Makes sure every projected variable's cached chunk row covers leading index `u`.
    async fn load(&mut self, u: u64) -> Result<()> {
        let sh = &self.shared;
        let t = &sh.table;
        let missing: Vec<usize> = self
            .vars
            .iter()
            .copied()
            .filter(|v| !self.cache.get(v).is_some_and(|(r, _)| r.contains(&u)))
            .collect();
        let part = self.part.clone();
        let loads = missing.iter().map(|&v| {
            let var = &t.vars[v];
            let c = u / var.chunk0;
            let rows = (c * var.chunk0).max(part.start)..((c + 1) * var.chunk0).min(part.end);
            let mut region = vec![rows.clone()];
            region.extend(t.dims[1..].iter().map(|d| d.range.clone()));
            async move {
                let esize = var.col.raw.size();
                let buf =
                    read_region(&sh.loc, &var.node, esize, &region, sh.chunk_concurrency).await?;
                Ok::<_, DriverError>((v, rows, buf))
            }
        });
        let loaded = futures::future::try_join_all(loads).await?;
        for (v, rows, buf) in loaded {
            self.cache.insert(v, (rows, buf));
        }
        Ok(())
    }

    /// Values of dimension `k` for flat rows `flat..flat+len` of this partition.
    fn dim_column(&self, k: usize, flat: u64, len: u64) -> Result<ArrayRef> {
        let t = &self.shared.table;
        let stride: u64 = t.dims[k + 1..].iter().map(|d| d.len()).product();
        let (ext, base) = if k == 0 {
            (u64::MAX, self.part.start - t.dims[0].range.start)
        } else {
            (t.dims[k].len(), 0)
        };
        // Each index repeats `stride` times, cycling over `ext`: written run by run (a
        // division per row would cost more than the rest of the batch).
        let mut idx = Vec::with_capacity(len as usize);
        let mut i = (flat / stride) % ext;
        let mut run = stride - flat % stride;
        while (idx.len() as u64) < len {
            let n = run.min(len - idx.len() as u64) as usize;
            idx.resize(idx.len() + n, base + i);
            i = if i + 1 == ext { 0 } else { i + 1 };
            run = stride;
        }
        let idx = UInt64Array::from(idx);
        arrow_select::take::take(self.shared.dim_values[k].as_ref(), &idx, None)
            .map_err(|e| DriverError::Io(format!("dimension `{}`: {e}", t.dims[k].name)))
    }
}
