//! Streaming a partition (a range of the leading dimension) as record batches in C order: it
//! walks the range one chunk row at a time, so memory holds at most one chunk row per
//! projected variable, read through the format's [`Regions`].

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt64Array};
use arrow_buffer::Buffer;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use futures::StreamExt;
use inlet_driver::{
    limit_stream, ordered_parallel_within, BatchStream, Discovery, DriverError, Limits,
    ReadRequest, Result,
};

use crate::convert::to_arrow;
use crate::table::{GridArray, Table};

/// How a format reads its arrays.
#[async_trait]
pub trait Regions: Send + Sync + 'static {
    type Array: GridArray;

    /// How a user names the dataset (`/abs/file.nc`, `s3://bucket/grid.zarr`), for errors.
    fn display(&self) -> &str;

    /// The region `region` (one index range per dim) of `array` as one C-order buffer of
    /// native-endian elements of `esize` bytes, aligned (an arrow `MutableBuffer`'s).
    async fn read_region(
        &self,
        array: &Arc<Self::Array>,
        esize: usize,
        region: &[Range<u64>],
    ) -> Result<Buffer>;
}

/// What one output column is.
#[derive(Clone, Copy)]
pub enum Col {
    Dim(usize),
    Var(usize),
}

/// What every partition of one read shares.
pub struct Shared<R: Regions> {
    pub regions: Arc<R>,
    pub table: Arc<Table<R::Array>>,
    /// Each dimension's column values over its selected range.
    pub dim_values: Arc<Vec<ArrayRef>>,
    pub cols: Vec<Col>,
    pub schema: SchemaRef,
    pub batch_size: u64,
}

struct State<R: Regions> {
    shared: Arc<Shared<R>>,
    part: Range<u64>,
    vars: Vec<usize>,
    steps: Vec<u64>,
    step: usize,
    pos: u64,
    cache: HashMap<usize, (Range<u64>, Buffer)>,
}

/// The batches of the partition covering `part` of the leading dimension, in C order.
pub fn partition<R: Regions>(shared: Arc<Shared<R>>, part: Range<u64>) -> BatchStream {
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

impl<R: Regions> State<R> {
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
                    .map_err(|e| DriverError::corrupt(self.shared.regions.display(), e))?;
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
                let buf = sh.regions.read_region(&var.node, esize, &region).await?;
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

/// Reads `request` from a grid table, the same for every format: the columns asked for over the
/// selected partitions, each partition reserving its decoded window (its estimate: rows x row
/// width) from the server-wide budget until its last batch is taken. `dims` keeps the dimension
/// columns, read on first use.
pub async fn read_table<R: Regions>(
    regions: &Arc<R>,
    table: &Arc<Table<R::Array>>,
    discovery: &Discovery,
    dims: &tokio::sync::OnceCell<Arc<Vec<ArrayRef>>>,
    limits: &Limits,
    request: ReadRequest,
) -> Result<BatchStream> {
    let schema = discovery.projected_schema(&request)?;
    let cols: Vec<Col> = schema
        .fields()
        .iter()
        .map(
            |f| match table.dims.iter().position(|x| x.name == *f.name()) {
                Some(k) => Col::Dim(k),
                None => Col::Var(
                    table
                        .vars
                        .iter()
                        .position(|v| v.name == *f.name())
                        .unwrap_or(0),
                ),
            },
        )
        .collect();
    let parts = discovery.select(&request)?;
    let dim_values = dims
        .get_or_try_init(|| async {
            crate::table::dim_values(regions.as_ref(), table)
                .await
                .map(Arc::new)
        })
        .await?
        .clone();
    let shared = Arc::new(Shared {
        regions: regions.clone(),
        table: table.clone(),
        dim_values,
        cols,
        schema,
        batch_size: request.batch_size.max(1) as u64,
    });
    let openers: Vec<_> = parts
        .into_iter()
        .map(|p| {
            let (shared, range) = (shared.clone(), table.partitions[p.id].clone());
            let open = async move { Ok::<BatchStream, DriverError>(partition(shared, range)) };
            (p.estimated_bytes.unwrap_or(0), open)
        })
        .collect();
    // With a limit, one partition at a time so reading stops as soon as enough rows arrived.
    let concurrency = if request.limit.is_some() {
        1
    } else {
        limits.read_concurrency
    };
    let stream = ordered_parallel_within(
        openers,
        concurrency,
        limits.read_ahead.max(1),
        limits.budget.clone(),
    );
    Ok(limit_stream(stream, request.limit))
}
