//! `isel` (positions, half-open like Python slices) and `sel` (labels, inclusive like xarray's
//! `.sel(y=slice(a, b))`, whichever way the coordinate runs) on `band`, `y` and `x`: each gives
//! one index range, so a window reads only the strips or tiles it overlaps.

use std::collections::BTreeMap;
use std::ops::Range;

use inlet_driver::{DriverError, Result};
use serde_json::Value as J;

pub const DIMS: [&str; 3] = ["band", "y", "x"];

#[derive(Debug, Clone, Default)]
pub struct Selection {
    isel: BTreeMap<String, (Option<i64>, Option<i64>)>,
    sel: BTreeMap<String, (Option<f64>, Option<f64>)>,
}

fn entries<'a>(arg: &str, v: Option<&'a J>) -> Result<Vec<(&'a String, &'a J)>> {
    match v {
        None | Some(J::Null) => Ok(vec![]),
        Some(J::Object(m)) => {
            for dim in m.keys() {
                if !DIMS.contains(&dim.as_str()) {
                    return Err(DriverError::bad_arg(
                        &format!("{arg}.{dim}"),
                        format!("no dimension `{dim}`; a raster's are band, y, x"),
                    ));
                }
            }
            Ok(m.iter().collect())
        }
        Some(other) => Err(DriverError::bad_arg(
            arg,
            format!("expected a mapping of dimension -> range, got {other}"),
        )),
    }
}

/// A value or a `[start, stop]` pair, each converted by `one` (None for null).
fn pair<T>(
    arg: &str,
    dim: &str,
    v: &J,
    one: impl Fn(&J) -> Option<Option<T>>,
) -> Result<(Option<T>, Option<T>, bool)> {
    let bad = || {
        DriverError::bad_arg(
            &format!("{arg}.{dim}"),
            format!("expected a number or a [start, stop] pair, got {v}"),
        )
    };
    match v {
        J::Array(items) if items.len() == 2 => {
            let a = one(&items[0]).ok_or_else(bad)?;
            let b = one(&items[1]).ok_or_else(bad)?;
            Ok((a, b, true))
        }
        J::Array(_) | J::Object(_) | J::Null => Err(bad()),
        scalar => {
            let a = one(scalar).ok_or_else(bad)?;
            Ok((a, None, false))
        }
    }
}

impl Selection {
    pub fn parse(isel: Option<&J>, sel: Option<&J>) -> Result<Selection> {
        let mut out = Selection::default();
        for (dim, v) in entries("isel", isel)? {
            let int = |x: &J| match x {
                J::Null => Some(None),
                J::Number(n) => n.as_i64().map(Some),
                _ => None,
            };
            let (a, b, is_pair) = pair("isel", dim, v, int)?;
            // A single position selects that one index.
            let stop = if is_pair {
                b
            } else {
                a.map(|i| if i == -1 { i64::MAX } else { i + 1 })
            };
            out.isel.insert(dim.clone(), (a, stop));
        }
        for (dim, v) in entries("sel", sel)? {
            let num = |x: &J| match x {
                J::Null => Some(None),
                J::Number(n) => n.as_f64().map(Some),
                _ => None,
            };
            let (a, b, is_pair) = pair("sel", dim, v, num)?;
            out.sel
                .insert(dim.clone(), if is_pair { (a, b) } else { (a, a) });
        }
        Ok(out)
    }

    /// The arg (`isel` or `sel`) that names `dim`, if any.
    pub fn naming(&self, dim: &str) -> Option<&'static str> {
        if self.isel.contains_key(dim) {
            Some("isel")
        } else if self.sel.contains_key(dim) {
            Some("sel")
        } else {
            None
        }
    }

    pub fn is_empty(&self) -> bool {
        self.isel.is_empty() && self.sel.is_empty()
    }

    /// The index range of `dim` whose coordinate values are `coord`.
    pub fn range(&self, dim: &str, coord: &[f64]) -> Result<Range<u64>> {
        let n = coord.len() as u64;
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
            let found = label_range(dim, coord, *lo, *hi)?;
            let start = r.start.max(found.start);
            r = start..r.end.min(found.end).max(start);
        }
        Ok(r)
    }
}

/// Indices whose label lies in [lo, hi] (either order); they must be contiguous.
fn label_range(dim: &str, coord: &[f64], lo: Option<f64>, hi: Option<f64>) -> Result<Range<u64>> {
    let (lo, hi) = match (lo, hi) {
        (Some(x), Some(y)) if x > y => (y, x),
        (x, y) => (x.unwrap_or(f64::NEG_INFINITY), y.unwrap_or(f64::INFINITY)),
    };
    let inside: Vec<bool> = coord.iter().map(|k| *k >= lo && *k <= hi).collect();
    let Some(first) = inside.iter().position(|x| *x) else {
        return Ok(0..0);
    };
    let last = inside.iter().rposition(|x| *x).unwrap_or(first);
    if inside[first..=last].iter().any(|x| !x) {
        return Err(DriverError::bad_arg(
            &format!("sel.{dim}"),
            format!("`{dim}` is not monotonic, so a label range is not one index range: use isel"),
        ));
    }
    Ok(first as u64..last as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn positions_and_labels_either_way() {
        let s = Selection::parse(
            Some(&json!({"x": [1, -1], "band": 0})),
            Some(&json!({"y": [47.0, 44.0]})),
        )
        .expect("parse");
        let xs = [0.5, 1.5, 2.5, 3.5];
        assert_eq!(s.range("x", &xs).expect("x"), 1..3);
        assert_eq!(s.range("band", &[1.0, 2.0]).expect("band"), 0..1);
        let ys = [48.0, 47.0, 46.0, 45.0, 44.0, 43.0];
        assert_eq!(s.range("y", &ys).expect("y"), 1..5);
        let bad = Selection::parse(Some(&json!({"time": 1})), None).expect_err("no time");
        assert!(matches!(bad, DriverError::BadArg { arg, .. } if arg == "isel.time"));
    }
}
