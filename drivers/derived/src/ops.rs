//! Column-level operations on Arrow arrays: case changes, constants, casts to a unified schema.

use std::sync::Arc;

use arrow_array::{
    new_null_array, Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow_schema::{ArrowError, DataType, Field, SchemaRef};
use inlet_driver::{DriverError, Result};
use serde_json::Value as J;

pub fn arrow_err(what: &str) -> impl Fn(ArrowError) -> DriverError + '_ {
    move |e| DriverError::Io(format!("{what}: {e}"))
}

pub fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// `str.lower` / `str.upper` of a string column (Unicode case mapping, as Python's); nulls stay.
pub fn change_case(col: &ArrayRef, upper: bool) -> Result<ArrayRef> {
    let utf8 = arrow_cast::cast(col, &DataType::Utf8).map_err(arrow_err("str.lower"))?;
    let strings = utf8
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DriverError::Io("str.lower: not a string column".into()))?;
    let out: StringArray = strings
        .iter()
        .map(|v| {
            v.map(|s| {
                if upper {
                    s.to_uppercase()
                } else {
                    s.to_lowercase()
                }
            })
        })
        .collect();
    Ok(Arc::new(out))
}

/// The Arrow type of a constant, or None when it is not a single value.
pub fn constant_type(v: &J) -> Option<DataType> {
    match v {
        J::String(_) | J::Null => Some(DataType::Utf8),
        J::Bool(_) => Some(DataType::Boolean),
        J::Number(n) if n.is_i64() => Some(DataType::Int64),
        J::Number(_) => Some(DataType::Float64),
        _ => None,
    }
}

/// `rows` copies of a constant.
pub fn constant(v: &J, rows: usize) -> ArrayRef {
    match v {
        J::String(s) => Arc::new(StringArray::from(vec![s.as_str(); rows])),
        J::Bool(b) => Arc::new(BooleanArray::from(vec![*b; rows])),
        J::Number(n) => match n.as_i64() {
            Some(i) => Arc::new(Int64Array::from(vec![i; rows])),
            None => Arc::new(Float64Array::from(vec![
                n.as_f64().unwrap_or(f64::NAN);
                rows
            ])),
        },
        _ => new_null_array(&DataType::Utf8, rows),
    }
}

fn is_int(t: &DataType) -> bool {
    t.is_integer()
}

/// The type two columns of the same name take when their rows are concatenated (pandas:
/// ints and floats become floats; Arrow keeps nulls, so ints stay ints when only nulls join).
pub fn unify(a: &DataType, b: &DataType) -> Option<DataType> {
    if a == b {
        return Some(a.clone());
    }
    Some(match (a, b) {
        (DataType::Null, t) | (t, DataType::Null) => t.clone(),
        (x, y) if is_int(x) && is_int(y) => DataType::Int64,
        (x, y) if x.is_numeric() && y.is_numeric() => DataType::Float64,
        (x, y) if is_string(x) && is_string(y) => DataType::Utf8,
        _ => return None,
    })
}

/// `batch` laid out as `schema`: columns matched by name, cast where types differ, nulls
/// where the batch has no such column.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let cols = schema
        .fields()
        .iter()
        .map(|f: &Arc<Field>| match batch.schema().index_of(f.name()) {
            Ok(i) if batch.column(i).data_type() == f.data_type() => Ok(batch.column(i).clone()),
            Ok(i) => arrow_cast::cast(batch.column(i), f.data_type()).map_err(arrow_err("concat")),
            Err(_) => Ok(new_null_array(f.data_type(), rows)),
        })
        .collect::<Result<Vec<_>>>()?;
    batch_of(schema, cols, rows)
}

/// A batch from columns (which may be none: then `rows` says how many rows).
pub fn batch_of(schema: &SchemaRef, cols: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), cols, &opts).map_err(arrow_err("derived"))
}
