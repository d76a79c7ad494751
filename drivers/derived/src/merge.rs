//! `merge`: a hash join of the pipeline's data (streamed) with a target held in memory (the
//! right side), as pandas' inner or left merge: rows in the order of the left side, each with
//! its matches in the order of the right side; null keys match null keys, as in pandas.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use inlet_driver::{BatchStream, DriverError, Limits, Reservation, Result};

use crate::exec::Exec;
use crate::ops::{self, arrow_err};

/// The most a merge holds of its right side, whatever the server's budget.
pub const RIGHT_SIDE_LIMIT: usize = 256 * 1024 * 1024;

pub struct Merge {
    pub left: Arc<Exec>,
    pub right: Arc<Exec>,
    /// The right target's name, for errors.
    pub right_name: String,
    /// Key columns: indices in the left and right schemas.
    pub left_keys: Vec<usize>,
    pub right_keys: Vec<usize>,
    /// Rows of the left side without a match are kept (with nulls).
    pub keep_left: bool,
    /// The right columns that follow the left ones (the right keys are not repeated).
    pub right_columns: Vec<usize>,
    /// The type keys are compared in, per key (ints and floats compare as floats).
    pub key_types: Vec<DataType>,
    pub schema: SchemaRef,
    pub limits: Limits,
}

/// Row keys as bytes: per key column, a null flag then the value's text in `key_types`.
fn keys(batch: &RecordBatch, idx: &[usize], types: &[DataType]) -> Result<Vec<Vec<u8>>> {
    let mut out = vec![Vec::new(); batch.num_rows()];
    for (i, t) in idx.iter().zip(types) {
        let col = arrow_cast::cast(batch.column(*i), t).map_err(arrow_err("merge keys"))?;
        let text = arrow_cast::cast(&col, &DataType::Utf8).map_err(arrow_err("merge keys"))?;
        let text = text
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .ok_or_else(|| DriverError::Io("merge keys: not text".into()))?;
        for (row, key) in out.iter_mut().enumerate() {
            if text.is_null(row) {
                key.push(0);
            } else {
                let v = text.value(row).as_bytes();
                key.push(1);
                key.extend_from_slice(&(v.len() as u64).to_le_bytes());
                key.extend_from_slice(v);
            }
        }
    }
    Ok(out)
}

struct Built {
    right: RecordBatch,
    table: HashMap<Vec<u8>, Vec<u32>>,
    _held: Vec<Reservation>,
}

impl Merge {
    /// The bound on the right side: the fixed limit, or half the server's memory budget.
    fn bound(&self) -> usize {
        let budget = self
            .limits
            .budget
            .as_ref()
            .map_or(u64::MAX, |b| b.total() / 2);
        RIGHT_SIDE_LIMIT.min(usize::try_from(budget).unwrap_or(usize::MAX))
    }

    async fn build(&self, batch_size: usize) -> Result<Built> {
        let mut stream = self.right.stream(None, batch_size).await?;
        let (mut batches, mut bytes, mut held) = (vec![], 0usize, vec![]);
        while let Some(b) = stream.try_next().await? {
            let size = b.get_array_memory_size();
            bytes += size;
            if bytes > self.bound() {
                return Err(DriverError::Unsupported(format!(
                    "merge: the right side `{}` is over the {} KiB Inlet holds in memory for a merge (at most {} MiB, and half the server's memory budget): serve the merged result as a file instead",
                    self.right_name,
                    self.bound() / 1024,
                    RIGHT_SIDE_LIMIT / (1024 * 1024)
                )));
            }
            if let Some(budget) = &self.limits.budget {
                match budget.reserve_within(size as u64, budget.first_wait).await {
                    Some(r) => held.push(r),
                    None => {
                        return Err(DriverError::Overloaded(format!(
                        "the server's memory budget for streams ({} MiB) is in use: retry shortly",
                        budget.total() / (1024 * 1024)
                    )))
                    }
                }
            }
            batches.push(b);
        }
        let right = arrow_select::concat::concat_batches(self.right.schema(), &batches)
            .map_err(arrow_err("merge"))?;
        let mut table: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
        for (row, key) in keys(&right, &self.right_keys, &self.key_types)?
            .into_iter()
            .enumerate()
        {
            let row = u32::try_from(row).map_err(|_| {
                DriverError::Unsupported("merge: the right side has over 2^32 rows".into())
            })?;
            table.entry(key).or_default().push(row);
        }
        Ok(Built {
            right,
            table,
            _held: held,
        })
    }

    pub async fn stream(&self, batch_size: usize) -> Result<BatchStream> {
        let built = Arc::new(self.build(batch_size).await?);
        let left = self.left.stream(None, batch_size).await?;
        let (lk, kt, keep, rc, schema) = (
            self.left_keys.clone(),
            self.key_types.clone(),
            self.keep_left,
            self.right_columns.clone(),
            self.schema.clone(),
        );
        let out = left
            .map(move |b| -> Result<Vec<Result<RecordBatch>>> {
                let b = b?;
                let (mut li, mut ri) = (vec![], vec![]);
                for (row, key) in keys(&b, &lk, &kt)?.into_iter().enumerate() {
                    match built.table.get(&key) {
                        Some(rows) => {
                            li.extend(std::iter::repeat_n(row as u32, rows.len()));
                            ri.extend(rows.iter().map(|r| Some(*r)));
                        }
                        None if keep => {
                            li.push(row as u32);
                            ri.push(None);
                        }
                        None => {}
                    }
                }
                // Many matches per row: emit at most `batch_size` rows at a time.
                let step = batch_size.max(1);
                Ok((0..li.len())
                    .step_by(step)
                    .map(|at| {
                        let end = (at + step).min(li.len());
                        let l = UInt32Array::from(li[at..end].to_vec());
                        let r = UInt32Array::from(ri[at..end].to_vec());
                        let mut cols: Vec<ArrayRef> = vec![];
                        for c in b.columns() {
                            cols.push(
                                arrow_select::take::take(c, &l, None)
                                    .map_err(arrow_err("merge"))?,
                            );
                        }
                        for i in &rc {
                            let c = built.right.column(*i);
                            cols.push(
                                arrow_select::take::take(c, &r, None)
                                    .map_err(arrow_err("merge"))?,
                            );
                        }
                        ops::batch_of(&schema, cols, end - at)
                    })
                    .collect())
            })
            .map(|r| match r {
                Ok(v) => futures::stream::iter(v).boxed(),
                Err(e) => futures::stream::iter(vec![Err(e)]).boxed(),
            })
            .flatten();
        Ok(out.boxed())
    }
}
