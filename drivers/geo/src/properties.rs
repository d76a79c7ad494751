//! GeoJSON `properties` -> typed Arrow columns, inferred as GDAL (pyogrio) does for the common
//! cases: integers -> int64, integers mixed with floats -> float64, booleans -> bool,
//! `YYYY-MM-DD` strings -> date32, ISO date-times -> timestamp[ms] (with an offset or `Z`:
//! timestamp[ms, UTC], converted), other strings -> string. A column mixing kinds, or holding
//! objects/arrays, is a string column (JSON text for non-strings); an all-null column is string.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, TimeUnit};
use serde_json::{Map, Value as J};

/// What the values of one property were.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    bool: bool,
    int: bool,
    float: bool,
    date: bool,
    naive: bool,
    aware: bool,
    text: bool,
    nested: bool,
}

impl Seen {
    fn add(&mut self, v: &J) {
        match v {
            J::Null => {}
            J::Bool(_) => self.bool = true,
            J::Number(n) if n.is_i64() => self.int = true,
            J::Number(_) => self.float = true,
            J::String(s) if date_days(s).is_some() => self.date = true,
            J::String(s) if naive_ms(s).is_some() => self.naive = true,
            J::String(s) if aware_ms(s).is_some() => self.aware = true,
            J::String(_) => self.text = true,
            J::Array(_) | J::Object(_) => self.nested = true,
        }
    }

    fn data_type(self) -> DataType {
        let kinds = [
            self.bool,
            self.int || self.float,
            self.date,
            self.naive,
            self.aware,
            self.text,
            self.nested,
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return DataType::Utf8;
        }
        match self {
            Seen { bool: true, .. } => DataType::Boolean,
            Seen { float: true, .. } => DataType::Float64,
            Seen { int: true, .. } => DataType::Int64,
            Seen { date: true, .. } => DataType::Date32,
            Seen { naive: true, .. } => DataType::Timestamp(TimeUnit::Millisecond, None),
            Seen { aware: true, .. } => {
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            }
            _ => DataType::Utf8,
        }
    }
}

/// Days since 1970-01-01 of an exact `YYYY-MM-DD`.
pub fn date_days(s: &str) -> Option<i32> {
    if s.len() != 10 {
        return None;
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// Milliseconds since the epoch of a date-time without offset (`2020-01-02T03:04:05.250`,
/// or with a space), read as UTC wall time as pyogrio's naive datetime64 is.
pub fn naive_ms(s: &str) -> Option<i64> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// Milliseconds since the epoch of an RFC 3339 date-time (`Z` or an offset).
pub fn aware_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Property names in order of first appearance, with their inferred types.
pub fn infer<'a>(rows: impl Iterator<Item = Option<&'a Map<String, J>>>) -> Vec<Field> {
    let mut names: Vec<String> = vec![];
    let mut seen: Vec<Seen> = vec![];
    let mut index = std::collections::HashMap::new();
    for props in rows.flatten() {
        for (k, v) in props {
            let i = *index.entry(k.clone()).or_insert_with(|| {
                names.push(k.clone());
                seen.push(Seen::default());
                names.len() - 1
            });
            seen[i].add(v);
        }
    }
    names
        .into_iter()
        .zip(seen)
        .map(|(n, s)| Field::new(n, s.data_type(), true))
        .collect()
}

fn as_text(v: &J) -> Option<String> {
    match v {
        J::Null => None,
        J::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The column `field` from every row's properties (missing -> null).
pub fn column(field: &Field, rows: &[Option<&Map<String, J>>]) -> ArrayRef {
    let values = rows
        .iter()
        .map(|p| p.and_then(|m| m.get(field.name())).unwrap_or(&J::Null));
    match field.data_type() {
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(rows.len());
            values.for_each(|v| b.append_option(v.as_bool()));
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(rows.len());
            values.for_each(|v| b.append_option(v.as_i64()));
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(rows.len());
            values.for_each(|v| b.append_option(v.as_f64()));
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, tz) => {
            let parse = if tz.is_some() { aware_ms } else { naive_ms };
            let mut b = TimestampMillisecondBuilder::with_capacity(rows.len());
            values.for_each(|v| b.append_option(v.as_str().and_then(parse)));
            Arc::new(b.finish().with_timezone_opt(tz.clone()))
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(rows.len());
            values.for_each(|v| b.append_option(v.as_str().and_then(date_days)));
            Arc::new(b.finish())
        }
        _ => {
            let mut b = StringBuilder::new();
            values.for_each(|v| b.append_option(as_text(v)));
            Arc::new(b.finish())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_are_inferred_like_gdal() {
        let rows = [
            json!({"i": 1, "f": 1, "b": true, "d": "2020-01-02", "s": "x", "m": 1, "n": null}),
            json!({"i": 2, "f": 2.5, "b": null, "d": "2021-12-31", "s": null, "m": "y", "o": {"a": 1}}),
        ];
        let maps: Vec<_> = rows.iter().map(|r| r.as_object()).collect();
        let fields = infer(maps.iter().copied());
        let types: Vec<(&str, &DataType)> = fields
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect();
        assert_eq!(
            types,
            [
                ("i", &DataType::Int64),
                ("f", &DataType::Float64),
                ("b", &DataType::Boolean),
                ("d", &DataType::Date32),
                ("s", &DataType::Utf8),
                ("m", &DataType::Utf8),
                ("n", &DataType::Utf8),
                ("o", &DataType::Utf8),
            ]
        );
        let m = column(&fields[5], &maps);
        let m = m
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .expect("strings");
        assert_eq!((m.value(0), m.value(1)), ("1", "y"));
        assert_eq!(date_days("1970-01-02"), Some(1));
        assert_eq!(naive_ms("1970-01-01T00:00:01.250"), Some(1250));
        assert_eq!(naive_ms("1970-01-01 00:01:00"), Some(60_000));
        assert_eq!(aware_ms("1970-01-01T02:00:00+02:00"), Some(0));
        assert_eq!(naive_ms("1970-01-01T02:00:00Z"), None);
        assert_eq!(date_days("2020-1-2"), None);
    }
}
