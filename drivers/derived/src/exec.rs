//! The executable form of a derived source: a tree of targets and operations with known
//! schemas, read as a stream of batches. Row-local operations (`cols`, `str.lower`, `assign`
//! of a constant) and `concat` of rows stream batch by batch and keep the targets'
//! partitions; positional joins stream their inputs side by side; a merge holds its right side.

use std::sync::Arc;

use arrow_array::{new_null_array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::{BatchStream, Discovery, ReadRequest, Result, Source};
use serde_json::Value as J;

use crate::ops;

/// A row-local operation on each batch.
#[derive(Debug, Clone)]
pub enum MapOp {
    /// Columns by index (in this order; an index may repeat).
    Select(Vec<usize>),
    /// Change the case of column `index`.
    Case { index: usize, upper: bool },
    /// Put a constant at `index` (replacing the column there, or appended when it is the end).
    Constant { index: usize, value: J },
}

/// How many rows a positional join has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// As many as input `n` (the others are cut, or padded with nulls).
    Of(usize),
    Shortest,
    Longest,
}

pub enum Exec {
    /// A target, read with these columns (None: all).
    Target {
        name: String,
        source: Arc<dyn Source>,
        discovery: Arc<Discovery>,
        columns: Option<Vec<String>>,
        schema: SchemaRef,
    },
    Map {
        input: Arc<Exec>,
        op: MapOp,
        schema: SchemaRef,
    },
    /// Rows of each input in turn, laid out as `schema`.
    Concat {
        inputs: Vec<Arc<Exec>>,
        schema: SchemaRef,
    },
    /// Inputs side by side, row by row; `layout` picks the output columns among all of theirs.
    Zip {
        inputs: Vec<Arc<Exec>>,
        rows: Rows,
        layout: Vec<usize>,
        schema: SchemaRef,
    },
    Merge(crate::merge::Merge),
}

impl Exec {
    pub fn schema(&self) -> &SchemaRef {
        match self {
            Exec::Target { schema, .. }
            | Exec::Map { schema, .. }
            | Exec::Concat { schema, .. }
            | Exec::Zip { schema, .. } => schema,
            Exec::Merge(m) => &m.schema,
        }
    }

    /// The partitions a read can ask for: those of the target for row-local operations, of
    /// every input in turn for `concat`, else one.
    pub fn partitions(&self) -> usize {
        match self {
            Exec::Target { discovery, .. } => discovery.partitions.len(),
            Exec::Map { input, .. } => input.partitions(),
            Exec::Concat { inputs, .. } => inputs.iter().map(|i| i.partitions()).sum(),
            Exec::Zip { .. } | Exec::Merge(_) => 1,
        }
    }

    /// Row count when every target knows its own (row-local and concatenated reads).
    pub fn total_rows(&self) -> Option<u64> {
        match self {
            Exec::Target { discovery, .. } => discovery.total_rows,
            Exec::Map { input, .. } => input.total_rows(),
            Exec::Concat { inputs, .. } => inputs.iter().map(|i| i.total_rows()).sum(),
            Exec::Zip { inputs, rows, .. } => {
                let counts: Option<Vec<u64>> = inputs.iter().map(|i| i.total_rows()).collect();
                let counts = counts?;
                match rows {
                    Rows::Of(n) => counts.get(*n).copied(),
                    Rows::Shortest => counts.into_iter().min(),
                    Rows::Longest => counts.into_iter().max(),
                }
            }
            Exec::Merge(_) => None,
        }
    }

    /// Reads partition `part` (None: all of them, in order).
    pub fn stream(
        self: &Arc<Self>,
        part: Option<usize>,
        batch_size: usize,
    ) -> futures::future::BoxFuture<'static, Result<BatchStream>> {
        let me = self.clone();
        Box::pin(async move {
            match &*me {
                Exec::Target {
                    source, columns, ..
                } => {
                    source
                        .read(ReadRequest {
                            partitions: part.map(|p| vec![p]),
                            projection: columns.clone(),
                            limit: None,
                            batch_size,
                        })
                        .await
                }
                Exec::Map { input, op, schema } => {
                    let (op, schema) = (op.clone(), schema.clone());
                    let s = input.stream(part, batch_size).await?;
                    Ok(
                        s.and_then(move |b| futures::future::ready(apply(&op, &schema, &b)))
                            .boxed(),
                    )
                }
                Exec::Concat { inputs, schema } => {
                    let parts: Vec<(Arc<Exec>, Option<usize>)> = match part {
                        None => inputs.iter().map(|i| (i.clone(), None)).collect(),
                        Some(mut p) => {
                            let mut found = vec![];
                            for i in inputs {
                                if p < i.partitions() {
                                    found.push((i.clone(), Some(p)));
                                    break;
                                }
                                p -= i.partitions();
                            }
                            found
                        }
                    };
                    let schema = schema.clone();
                    let s = futures::stream::iter(parts)
                        .then(move |(input, p)| async move { input.stream(p, batch_size).await })
                        .try_flatten()
                        .and_then(move |b| futures::future::ready(ops::conform(&b, &schema)));
                    Ok(s.boxed())
                }
                Exec::Zip {
                    inputs,
                    rows,
                    layout,
                    schema,
                } => {
                    let mut streams = vec![];
                    for i in inputs {
                        streams.push((i.stream(None, batch_size).await?, i.schema().clone()));
                    }
                    Ok(zip(streams, *rows, layout.clone(), schema.clone()))
                }
                Exec::Merge(m) => m.stream(batch_size).await,
            }
        })
    }
}

fn apply(op: &MapOp, schema: &SchemaRef, b: &RecordBatch) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    let cols = match op {
        MapOp::Select(idx) => idx.iter().filter_map(|i| cols.get(*i).cloned()).collect(),
        MapOp::Case { index, upper } => {
            if let Some(c) = cols.get_mut(*index) {
                *c = ops::change_case(c, *upper)?;
            }
            cols
        }
        MapOp::Constant { index, value } => {
            let c = ops::constant(value, b.num_rows());
            match cols.get_mut(*index) {
                Some(slot) => *slot = c,
                None => cols.push(c),
            }
            cols
        }
    };
    ops::batch_of(schema, cols, b.num_rows())
}

struct Side {
    stream: BatchStream,
    schema: SchemaRef,
    current: Option<RecordBatch>,
    done: bool,
}

/// Inputs side by side: each output batch is as long as the shortest current batch, so
/// nothing is held beyond one batch per input.
fn zip(
    inputs: Vec<(BatchStream, SchemaRef)>,
    rows: Rows,
    layout: Vec<usize>,
    schema: SchemaRef,
) -> BatchStream {
    let sides: Vec<Side> = inputs
        .into_iter()
        .map(|(stream, schema)| Side {
            stream,
            schema,
            current: None,
            done: false,
        })
        .collect();
    futures::stream::unfold(Some(sides), move |state| {
        let (layout, schema) = (layout.clone(), schema.clone());
        async move {
            let mut sides = state?;
            for s in sides.iter_mut() {
                while !s.done && s.current.as_ref().is_none_or(|b| b.num_rows() == 0) {
                    match s.stream.next().await {
                        Some(Ok(b)) => s.current = Some(b),
                        Some(Err(e)) => return Some((Err(e), None)),
                        None => s.done = true,
                    }
                }
            }
            let finished = match rows {
                Rows::Of(n) => sides.get(n).is_none_or(|s| s.done),
                Rows::Shortest => sides.iter().any(|s| s.done),
                Rows::Longest => sides.iter().all(|s| s.done),
            };
            if finished {
                return None;
            }
            let n = sides
                .iter()
                .filter(|s| !s.done)
                .filter_map(|s| s.current.as_ref().map(|b| b.num_rows()))
                .min()
                .unwrap_or(0);
            let mut all: Vec<ArrayRef> = vec![];
            for s in sides.iter_mut() {
                match (&s.current, s.done) {
                    (Some(b), false) => {
                        let head = b.slice(0, n);
                        s.current = Some(b.slice(n, b.num_rows() - n));
                        all.extend(head.columns().iter().cloned());
                    }
                    _ => all.extend(
                        s.schema
                            .fields()
                            .iter()
                            .map(|f| new_null_array(f.data_type(), n)),
                    ),
                }
            }
            let cols = layout.iter().filter_map(|i| all.get(*i).cloned()).collect();
            Some((ops::batch_of(&schema, cols, n), Some(sides)))
        }
    })
    .boxed()
}
