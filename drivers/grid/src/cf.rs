//! CF conventions as xarray applies them: `_FillValue`/`missing_value` masks, `scale_factor`/
//! `add_offset`, `units: "<unit> since <date>"` times, and xarray's `dtype: bool` marker.

use arrow_schema::{DataType, TimeUnit};
use base64::Engine;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use inlet_driver::{DriverError, Result};
use serde_json::{Map, Value as J};

/// The stored element types drivers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
}

impl Raw {
    pub fn size(self) -> usize {
        match self {
            Raw::Bool | Raw::I8 | Raw::U8 => 1,
            Raw::I16 | Raw::U16 => 2,
            Raw::I32 | Raw::U32 | Raw::F32 => 4,
            Raw::I64 | Raw::U64 | Raw::F64 => 8,
        }
    }

    pub fn arrow(self) -> DataType {
        match self {
            Raw::Bool => DataType::Boolean,
            Raw::I8 => DataType::Int8,
            Raw::I16 => DataType::Int16,
            Raw::I32 => DataType::Int32,
            Raw::I64 => DataType::Int64,
            Raw::U8 => DataType::UInt8,
            Raw::U16 => DataType::UInt16,
            Raw::U32 => DataType::UInt32,
            Raw::U64 => DataType::UInt64,
            Raw::F32 => DataType::Float32,
            Raw::F64 => DataType::Float64,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Raw::F32 | Raw::F64)
    }
}

/// A fill value as written in JSON, before it meets an element type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    Int(i128),
    Float(f64),
}

/// Parses a JSON fill value: numbers, "NaN"/"Infinity"/"-Infinity", or base64 of a
/// little-endian float (how xarray writes float `_FillValue` attributes in Zarr v3).
pub fn parse_fill(v: &J) -> Option<Fill> {
    match v {
        J::Number(n) => n
            .as_i64()
            .map(|i| Fill::Int(i.into()))
            .or_else(|| n.as_u64().map(|u| Fill::Int(u.into())))
            .or_else(|| n.as_f64().map(Fill::Float)),
        J::Bool(b) => Some(Fill::Int((*b).into())),
        J::String(s) => match s.as_str() {
            "NaN" => Some(Fill::Float(f64::NAN)),
            "Infinity" => Some(Fill::Float(f64::INFINITY)),
            "-Infinity" => Some(Fill::Float(f64::NEG_INFINITY)),
            other => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(other)
                    .ok()?;
                match bytes.len() {
                    8 => Some(Fill::Float(f64::from_le_bytes(bytes.try_into().ok()?))),
                    4 => Some(Fill::Float(
                        f32::from_le_bytes(bytes.try_into().ok()?).into(),
                    )),
                    _ => None,
                }
            }
        },
        _ => None,
    }
}

/// How stored values become column values.
#[derive(Debug, Clone, PartialEq)]
pub enum Decode {
    /// As stored (with nulls for `fills`, and NaN as null when `nan_null`).
    Plain,
    /// `raw * scale + offset` as float64.
    Scaled { scale: f64, offset: f64 },
    /// CF time: `raw` units of `unit_us` microseconds after `epoch_us`.
    Time { unit_us: i64, epoch_us: i64 },
    /// xarray's boolean encoding: int8 with `dtype: "bool"`.
    Bool,
}

/// Everything needed to turn one array's bytes into an Arrow column.
#[derive(Debug, Clone)]
pub struct Column {
    pub raw: Raw,
    pub decode: Decode,
    /// Stored values that mean missing.
    pub fills: Vec<Fill>,
    /// NaN reads as null (xarray's missing value; pandas -> Arrow turns it into null too).
    pub nan_null: bool,
}

impl Column {
    pub fn arrow_type(&self) -> DataType {
        match self.decode {
            Decode::Plain => self.raw.arrow(),
            Decode::Scaled { .. } => DataType::Float64,
            Decode::Time { .. } => DataType::Timestamp(TimeUnit::Microsecond, None),
            Decode::Bool => DataType::Boolean,
        }
    }

    /// The column as stored: no CF decoding (Intake's `ndzarr`, `decode_cf: false`).
    pub fn raw(raw: Raw) -> Column {
        Column {
            raw,
            decode: Decode::Plain,
            fills: vec![],
            nan_null: false,
        }
    }
}

/// Options for CF decoding (xarray's `mask_and_scale`, `decode_times`).
#[derive(Debug, Clone, Copy)]
pub struct CfOptions {
    pub mask_and_scale: bool,
    pub decode_times: bool,
}

fn number(v: Option<&J>) -> Option<f64> {
    match v? {
        J::Number(n) => n.as_f64(),
        J::Array(a) if a.len() == 1 => a[0].as_f64(),
        _ => None,
    }
}

/// The column for an array of a group, as xarray would decode it.
pub fn column(
    name: &str,
    raw: Raw,
    attrs: &Map<String, J>,
    implicit_fill: Option<&J>,
    opts: CfOptions,
) -> Result<Column> {
    let mut col = Column::raw(raw);
    if opts.mask_and_scale {
        col.nan_null = raw.is_float();
        // xarray masks with `_FillValue`; a format may define one without the attribute
        // (Zarr v2's array fill_value, under xarray's `use_zarr_fill_value_as_mask` default).
        match (attrs.get("_FillValue"), implicit_fill) {
            (Some(v), _) | (None, Some(v)) => col.fills.extend(parse_fill(v)),
            (None, None) => {}
        }
        match attrs.get("missing_value") {
            Some(J::Array(items)) => col.fills.extend(items.iter().filter_map(parse_fill)),
            Some(v) => col.fills.extend(parse_fill(v)),
            None => {}
        }
        let scale = number(attrs.get("scale_factor"));
        let offset = number(attrs.get("add_offset"));
        if raw != Raw::Bool && (scale.is_some() || offset.is_some()) {
            col.decode = Decode::Scaled {
                scale: scale.unwrap_or(1.0),
                offset: offset.unwrap_or(0.0),
            };
        }
    }
    if attrs.get("dtype").and_then(J::as_str) == Some("bool") && raw == Raw::I8 {
        col.decode = Decode::Bool;
    }
    let units = attrs.get("units").and_then(J::as_str);
    if let (true, Some(units)) = (opts.decode_times, units) {
        if units.contains(" since ") && raw != Raw::Bool {
            let calendar = attrs.get("calendar").and_then(J::as_str);
            let (unit_us, epoch_us) = time_units(name, units, calendar)?;
            col.decode = Decode::Time { unit_us, epoch_us };
            col.nan_null = raw.is_float();
        }
    }
    Ok(col)
}

/// `"days since 2000-01-01 00:00:00"` -> (microseconds per unit, epoch in µs since 1970).
pub fn time_units(name: &str, units: &str, calendar: Option<&str>) -> Result<(i64, i64)> {
    let bad = |why: &str| {
        DriverError::Unsupported(format!(
            "time units `{units}` of `{name}`: {why}; set `decode_times: false` to read the numbers"
        ))
    };
    let (unit, since) = units
        .split_once(" since ")
        .ok_or_else(|| bad("expected `<unit> since <date>`"))?;
    let unit_us: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "days" | "day" | "d" => 86_400_000_000,
        "hours" | "hour" | "hr" | "hrs" | "h" => 3_600_000_000,
        "minutes" | "minute" | "min" | "mins" => 60_000_000,
        "seconds" | "second" | "sec" | "secs" | "s" => 1_000_000,
        "milliseconds" | "millisecond" | "msec" | "ms" => 1_000,
        "microseconds" | "microsecond" | "usec" | "us" => 1,
        _ => return Err(bad("unknown unit (days, hours, minutes, seconds, ms, us)")),
    };
    let epoch =
        parse_datetime(since.trim()).ok_or_else(|| bad("the reference date does not parse"))?;
    let cal = calendar.unwrap_or("standard").to_ascii_lowercase();
    match cal.as_str() {
        "proleptic_gregorian" => {}
        "standard" | "gregorian" => {
            // These calendars are Julian before 1582-10-15: only later references read the same.
            let reform = NaiveDate::from_ymd_opt(1582, 10, 15).and_then(|d| d.and_hms_opt(0, 0, 0));
            if reform.is_some_and(|r| epoch < r) {
                return Err(bad("a `standard` calendar with a reference date before 1582-10-15 (mixed Julian/Gregorian) is not supported"));
            }
        }
        other => {
            return Err(DriverError::Unsupported(format!(
                "calendar `{other}` of `{name}`: only standard, gregorian and proleptic_gregorian \
                 decode to timestamps; set `decode_times: false` to read the numbers"
            )))
        }
    }
    Ok((unit_us, epoch.and_utc().timestamp_micros()))
}

/// A CF/ISO reference date: `2000-01-01`, `2000-1-1 00:00:00`, `2000-01-01T06:00:00.5Z`,
/// `1970-01-01 00:00:00 +01:00`. Used for `sel` bounds too.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s
        .trim()
        .trim_end_matches(" UTC")
        .trim_end_matches('Z')
        .trim();
    let (date, rest) = match s.split_once(['T', ' ']) {
        Some((d, r)) => (d, r.trim()),
        None => (s, ""),
    };
    let mut ymd = date.splitn(3, '-');
    let (y, m, d) = (
        ymd.next()?,
        ymd.next().unwrap_or("1"),
        ymd.next().unwrap_or("1"),
    );
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    if rest.is_empty() {
        return date.and_hms_opt(0, 0, 0);
    }
    // A trailing numeric offset (`+01:00`, `-5`) shifts to UTC.
    let (clock, offset_min) = match rest.rfind(['+', '-']) {
        Some(i) => {
            let (c, o) = rest.split_at(i);
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let mut hm = o[1..].split(':');
            let h: i64 = hm.next()?.trim().parse().ok()?;
            let m: i64 = hm.next().unwrap_or("0").trim().parse().ok()?;
            (c.trim(), sign * (h * 60 + m))
        }
        None => (rest, 0),
    };
    let time = if clock.is_empty() {
        NaiveTime::from_hms_opt(0, 0, 0)?
    } else {
        let mut parts = clock.splitn(3, ':');
        let h: u32 = parts.next()?.parse().ok()?;
        let m: u32 = parts.next().unwrap_or("0").parse().ok()?;
        let sec: f64 = parts.next().unwrap_or("0").parse().ok()?;
        let whole = sec.trunc();
        let micro = ((sec - whole) * 1e6).round();
        NaiveTime::from_hms_micro_opt(h, m, whole as u32, micro as u32)?
    };
    Some(date.and_time(time) - chrono::Duration::minutes(offset_min))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_dates_and_units_parse() {
        let (u, e) = time_units("t", "days since 2000-01-01", None).expect("units");
        assert_eq!((u, e), (86_400_000_000, 946_684_800_000_000));
        let (u, e) = time_units(
            "t",
            "hours since 1970-01-01 01:00:00 +01:00",
            Some("gregorian"),
        )
        .expect("offset");
        assert_eq!((u, e), (3_600_000_000, 0));
        assert!(parse_datetime("2020-01-03T06:30:00.5").is_some());
        let noleap = time_units("t", "days since 2000-01-01", Some("noleap"));
        assert!(matches!(noleap, Err(DriverError::Unsupported(m)) if m.contains("noleap")));
        let early = time_units("t", "days since 1000-01-01", Some("standard"));
        assert!(matches!(early, Err(DriverError::Unsupported(_))));
        assert!(time_units("t", "days since 1000-01-01", Some("proleptic_gregorian")).is_ok());
    }

    #[test]
    fn fill_values_parse_like_xarray_writes_them() {
        assert_eq!(parse_fill(&J::from(-9999.0)), Some(Fill::Float(-9999.0)));
        assert_eq!(parse_fill(&J::from(-1)), Some(Fill::Int(-1)));
        assert_eq!(
            parse_fill(&J::from("AAAAAICHw8A=")),
            Some(Fill::Float(-9999.0))
        );
        assert!(matches!(parse_fill(&J::from("NaN")), Some(Fill::Float(f)) if f.is_nan()));
        assert_eq!(parse_fill(&J::Null), None);
    }
}
