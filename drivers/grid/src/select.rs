//! `isel` (index ranges, half-open like Python slices) and `sel` (label ranges, inclusive like
//! xarray's `.sel(x=slice(a, b))`, whichever way the coordinate runs) -> one index range per dim.

use std::collections::BTreeMap;
use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use inlet_driver::{DriverError, Result};
use serde_json::Value as J;

use crate::cf::parse_datetime;

/// The selection args, parsed but not yet checked against the store.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    isel: BTreeMap<String, (Option<i64>, Option<i64>)>,
    sel: BTreeMap<String, (J, J)>,
}

fn bounds(arg: &str, dim: &str, v: &J) -> Result<(J, J)> {
    match v {
        J::Array(items) if items.len() == 2 => Ok((items[0].clone(), items[1].clone())),
        J::Array(_) | J::Object(_) => Err(DriverError::bad_arg(
            &format!("{arg}.{dim}"),
            format!("expected a value or a [start, stop] pair, got {v}"),
        )),
        scalar => Ok((scalar.clone(), scalar.clone())),
    }
}

impl Selection {
    pub fn parse(isel: Option<&J>, sel: Option<&J>) -> Result<Selection> {
        let mut out = Selection::default();
        let map = |arg: &str, v: Option<&J>| -> Result<serde_json::Map<String, J>> {
            match v {
                None => Ok(Default::default()),
                Some(J::Object(m)) => Ok(m.clone()),
                Some(other) => Err(DriverError::bad_arg(
                    arg,
                    format!("expected a mapping of dimension -> range, got {other}"),
                )),
            }
        };
        for (dim, v) in map("isel", isel)? {
            let (a, b) = bounds("isel", &dim, &v)?;
            let int = |x: &J| -> Result<Option<i64>> {
                match x {
                    J::Null => Ok(None),
                    J::Number(n) if n.is_i64() => Ok(n.as_i64()),
                    other => Err(DriverError::bad_arg(
                        &format!("isel.{dim}"),
                        format!("expected integer positions, got {other}"),
                    )),
                }
            };
            // A single position selects that one index.
            let stop = if v.is_array() {
                int(&b)?
            } else {
                int(&a)?.map(|i| if i == -1 { i64::MAX } else { i + 1 })
            };
            let start = int(&a)?;
            out.isel.insert(dim.clone(), (start, stop));
        }
        for (dim, v) in map("sel", sel)? {
            out.sel.insert(dim.clone(), bounds("sel", &dim, &v)?);
        }
        Ok(out)
    }

    /// Dimensions named that the table does not have.
    pub fn check_dims(&self, dims: &[String]) -> Result<()> {
        for (arg, dim) in self
            .isel
            .keys()
            .map(|d| ("isel", d))
            .chain(self.sel.keys().map(|d| ("sel", d)))
        {
            if !dims.contains(dim) {
                return Err(DriverError::bad_arg(
                    &format!("{arg}.{dim}"),
                    format!(
                        "no dimension `{dim}`; the table's dimensions are {}",
                        dims.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn needs_coords(&self) -> bool {
        !self.sel.is_empty()
    }

    /// The index range of `dim` (of length `n`); `coord` is its decoded coordinate, if any.
    pub fn range(&self, dim: &str, n: u64, coord: Option<&ArrayRef>) -> Result<Range<u64>> {
        let mut r = 0..n;
        if let Some((a, b)) = self.isel.get(dim) {
            let clamp = |i: i64| -> u64 {
                let i = if i < 0 {
                    i.saturating_add(n as i64).max(0)
                } else {
                    i
                };
                (i as u64).min(n)
            };
            let start = a.map_or(0, clamp);
            r = start..b.map_or(n, clamp).max(start);
        }
        if let Some((lo, hi)) = self.sel.get(dim) {
            let found = match coord {
                Some(c) => label_range(dim, c, lo, hi)?,
                None => index_range(dim, n, lo, hi)?,
            };
            r = r.start.max(found.start)..r.end.min(found.end).max(r.start.max(found.start));
        }
        Ok(r)
    }
}

fn index_range(dim: &str, n: u64, lo: &J, hi: &J) -> Result<Range<u64>> {
    let pos = |v: &J, default: u64| -> Result<u64> {
        match v {
            J::Null => Ok(default),
            J::Number(x) => x
                .as_u64()
                .ok_or_else(|| bad_label(dim, v, "an index (no coordinate)")),
            other => Err(bad_label(
                dim,
                other,
                "an index (the dimension has no coordinate)",
            )),
        }
    };
    let (a, b) = (pos(lo, 0)?, pos(hi, n.saturating_sub(1))?);
    Ok(a.min(n)..(b.saturating_add(1)).min(n).max(a.min(n)))
}

fn bad_label(dim: &str, v: &J, want: &str) -> DriverError {
    DriverError::bad_arg(&format!("sel.{dim}"), format!("`{v}` is not {want}"))
}

/// Indices whose label lies in [lo, hi] (either order); they must be contiguous.
fn label_range(dim: &str, coord: &ArrayRef, lo: &J, hi: &J) -> Result<Range<u64>> {
    let key: Vec<Option<f64>> = match coord.data_type() {
        DataType::Timestamp(_, _) => {
            let ts = coord.as_primitive::<TimestampMicrosecondType>();
            ts.iter().map(|v| v.map(|x| x as f64)).collect()
        }
        DataType::Int64 => coord
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|x| x as f64))
            .collect(),
        DataType::Boolean | DataType::Utf8 => {
            return Err(DriverError::Unsupported(format!(
                "sel on `{dim}`: its coordinate is not numeric or time"
            )))
        }
        _ => {
            let f = arrow_cast_f64(coord).ok_or_else(|| {
                DriverError::Unsupported(format!(
                    "sel on `{dim}`: its coordinate is not numeric or time"
                ))
            })?;
            f
        }
    };
    let is_time = matches!(coord.data_type(), DataType::Timestamp(_, _));
    let label = |v: &J| -> Result<Option<f64>> {
        match v {
            J::Null => Ok(None),
            J::String(s) if is_time => parse_datetime(s)
                .map(|t| Some(t.and_utc().timestamp_micros() as f64))
                .ok_or_else(|| {
                    bad_label(dim, v, "a date or date-time (2020-01-31, 2020-01-31T06:00)")
                }),
            J::Number(x) if !is_time => Ok(x.as_f64()),
            _ if is_time => Err(bad_label(dim, v, "a date or date-time string")),
            _ => Err(bad_label(dim, v, "a number")),
        }
    };
    let (a, b) = (label(lo)?, label(hi)?);
    let (lo, hi) = match (a, b) {
        (Some(x), Some(y)) if x > y => (y, x),
        (x, y) => (x.unwrap_or(f64::NEG_INFINITY), y.unwrap_or(f64::INFINITY)),
    };
    let inside: Vec<bool> = key
        .iter()
        .map(|k| k.is_some_and(|k| k >= lo && k <= hi))
        .collect();
    let Some(first) = inside.iter().position(|x| *x) else {
        return Ok(0..0);
    };
    let last = inside.iter().rposition(|x| *x).unwrap_or(first);
    if inside[first..=last].iter().any(|x| !x) {
        return Err(DriverError::bad_arg(
            &format!("sel.{dim}"),
            format!("coordinate `{dim}` is not monotonic, so a label range is not one index range: use isel"),
        ));
    }
    Ok(first as u64..last as u64 + 1)
}

fn arrow_cast_f64(a: &ArrayRef) -> Option<Vec<Option<f64>>> {
    use arrow_array::types::*;
    macro_rules! f {
        ($t:ty) => {
            a.as_primitive::<$t>()
                .iter()
                .map(|v| v.map(|x| x as f64))
                .collect()
        };
    }
    Some(match a.data_type() {
        DataType::Int8 => f!(Int8Type),
        DataType::Int16 => f!(Int16Type),
        DataType::Int32 => f!(Int32Type),
        DataType::UInt8 => f!(UInt8Type),
        DataType::UInt16 => f!(UInt16Type),
        DataType::UInt32 => f!(UInt32Type),
        DataType::UInt64 => f!(UInt64Type),
        DataType::Float32 => f!(Float32Type),
        DataType::Float64 => a.as_primitive::<Float64Type>().iter().collect(),
        _ => return None,
    })
}
