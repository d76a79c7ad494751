//! pandas/Intake `csv_kwargs` -> what arrow-csv and the byte pipeline need.
//!
//! Kwargs that change which values come out but that arrow-csv cannot honour are refused
//! (`Unsupported`): reading them "almost right" would serve wrong data. Kwargs that only tune
//! pandas itself (`engine`, `low_memory`, ...) are accepted with a warning.

use std::sync::Arc;

use arrow_schema::{DataType, TimeUnit};
use inlet_driver::{DriverError, Result};
use regex::Regex;
use serde_json::{Map, Value as J};

use crate::decode::{Codec, CompressionSpec};

/// A column named by the catalog: by name or by position in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColRef {
    Name(String),
    Index(usize),
}

/// `dtype`: one type for every column, or per column.
#[derive(Debug, Clone, Default)]
pub(crate) enum Dtype {
    #[default]
    Inferred,
    All(DataType),
    PerColumn(Vec<(String, DataType)>),
}

/// The parsed `csv_kwargs`.
#[derive(Debug, Clone)]
pub(crate) struct CsvOptions {
    pub delimiter: u8,
    pub quote: Option<u8>,
    pub escape: Option<u8>,
    pub comment: Option<u8>,
    pub terminator: Option<u8>,
    /// Lines dropped at the start of the file (`skiprows`).
    pub skiprows: usize,
    /// `Some(n)`: the header row comes after `skiprows` and `n` more lines (pandas `header=n`);
    /// None: no header row.
    pub header: Option<usize>,
    pub names: Option<Vec<String>>,
    pub usecols: Option<Vec<ColRef>>,
    pub dtype: Dtype,
    pub parse_dates: Vec<ColRef>,
    /// Matches every null marker besides the empty field (always null); None when there is no
    /// other (arrow-csv then only checks for empty fields instead of running a regex per field).
    pub null_regex: Option<Regex>,
    pub compression: CompressionSpec,
    pub nrows: Option<usize>,
    pub warnings: Vec<String>,
}

/// pandas' default NA markers, used only when `keep_default_na: true` is given explicitly.
const PANDAS_NA: [&str; 18] = [
    "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
    "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// Kwargs that only steer pandas/dask internals: no effect on the data Inlet serves.
const NO_EFFECT: [&str; 10] = [
    "engine",
    "low_memory",
    "memory_map",
    "float_precision",
    "dtype_backend",
    "cache_dates",
    "infer_datetime_format",
    "chunksize",
    "iterator",
    "storage_options",
];

fn key(k: &str) -> String {
    format!("csv_kwargs.{k}")
}

fn bad(k: &str, message: impl Into<String>) -> DriverError {
    DriverError::bad_arg(&key(k), message)
}

/// One ASCII character (arrow-csv works on bytes); null means "not set".
fn one_byte(k: &str, v: &J) -> Result<Option<u8>> {
    let s = match v {
        J::Null => return Ok(None),
        J::String(s) => s,
        other => return Err(bad(k, format!("expected a single character, got {other}"))),
    };
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii() => Ok(Some(c as u8)),
        (Some(c), None) => Err(DriverError::Unsupported(format!(
            "{} `{c}`: only ASCII characters are supported here",
            key(k)
        ))),
        _ => Err(bad(
            k,
            format!("`{s}` is not a single character: give exactly one character"),
        )),
    }
}

/// `sep`: one character. pandas treats longer separators as regular expressions; the ones that
/// merely escape a single character (`\t`, `\|`) are that character, anything else is refused.
fn separator(k: &str, v: &J) -> Result<Option<u8>> {
    if let J::String(s) = v {
        match s.as_str() {
            "" => return Err(bad(k, "is empty: give one character such as `,` or `;`")),
            "\\t" => return Ok(Some(b'\t')),
            _ => {}
        }
        let escaped = s
            .strip_prefix('\\')
            .filter(|r| r.len() == 1 && r.chars().all(|c| c.is_ascii_punctuation()));
        if let Some(r) = escaped {
            return Ok(r.bytes().next());
        }
        if s.chars().count() > 1 {
            return Err(DriverError::Unsupported(format!(
                "{} `{s}`: multi-character and regular-expression separators cannot be read by \
                 Inlet's CSV reader; use a single-character separator",
                key(k)
            )));
        }
    }
    one_byte(k, v)
}

fn count(k: &str, v: &J) -> Result<usize> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad(k, format!("expected a non-negative integer, got {v}")))
}

fn text_list(k: &str, v: &J) -> Result<Vec<String>> {
    let one = |i: &J| match i {
        J::String(s) => Ok(s.clone()),
        J::Number(n) => Ok(n.to_string()),
        other => Err(bad(k, format!("expected strings, got {other}"))),
    };
    match v {
        J::Array(items) => items.iter().map(one).collect(),
        J::Null => Ok(vec![]),
        other => Ok(vec![one(other)?]),
    }
}

fn columns(k: &str, v: &J) -> Result<Vec<ColRef>> {
    let one = |i: &J| match i {
        J::String(s) => Ok(ColRef::Name(s.clone())),
        J::Number(_) => Ok(ColRef::Index(count(k, i)?)),
        J::Array(_) | J::Object(_) => Err(DriverError::Unsupported(format!(
            "{}: nested lists and mappings (combining columns) are not supported; list single \
             columns",
            key(k)
        ))),
        other => Err(bad(
            k,
            format!("expected column names or positions, got {other}"),
        )),
    };
    match v {
        J::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// A pandas/numpy dtype string as an Arrow type.
pub(crate) fn pandas_dtype(s: &str) -> Option<DataType> {
    let lower = s.trim().to_ascii_lowercase();
    let t = match lower.as_str() {
        "int8" | "i1" => DataType::Int8,
        "int16" | "i2" => DataType::Int16,
        "int32" | "i4" => DataType::Int32,
        "int64" | "i8" | "int" => DataType::Int64,
        "uint8" | "u1" => DataType::UInt8,
        "uint16" | "u2" => DataType::UInt16,
        "uint32" | "u4" => DataType::UInt32,
        "uint64" | "u8" => DataType::UInt64,
        "float16" | "f2" => DataType::Float16,
        "float32" | "f4" => DataType::Float32,
        "float64" | "f8" | "float" | "double" => DataType::Float64,
        "str" | "object" | "string" | "string[python]" | "string[pyarrow]" | "unicode" | "u" => {
            DataType::Utf8
        }
        "bool" | "boolean" | "?" => DataType::Boolean,
        "category" => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        _ => return datetime_dtype(s.trim()),
    };
    Some(t)
}

/// `datetime64`, `datetime64[us]`, `datetime64[ns, UTC]`.
fn datetime_dtype(s: &str) -> Option<DataType> {
    let rest = s.strip_prefix("datetime64")?;
    if rest.is_empty() {
        return Some(DataType::Timestamp(TimeUnit::Nanosecond, None));
    }
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    let (unit, tz) = match inner.split_once(',') {
        Some((u, tz)) => (u.trim(), Some(tz.trim())),
        None => (inner.trim(), None),
    };
    let unit = match unit {
        "s" => TimeUnit::Second,
        "ms" => TimeUnit::Millisecond,
        "us" => TimeUnit::Microsecond,
        "ns" => TimeUnit::Nanosecond,
        _ => return None,
    };
    // Checked here so that a typo is a bad arg now rather than a parse error on every row.
    if let Some(tz) = tz {
        tz.parse::<arrow_array::timezone::Tz>().ok()?;
    }
    Some(DataType::Timestamp(unit, tz.map(Arc::from)))
}

fn dtype_of(k: &str, v: &J) -> Result<DataType> {
    let s = v
        .as_str()
        .ok_or_else(|| bad(k, format!("expected a dtype name, got {v}")))?;
    pandas_dtype(s).ok_or_else(|| {
        bad(
            k,
            format!(
                "unknown dtype `{s}`; use one of int8..int64, uint8..uint64, float32, float64, \
                 str, bool, category, datetime64[s|ms|us|ns]"
            ),
        )
    })
}

fn compression(v: &J) -> Result<CompressionSpec> {
    let name = match v {
        J::Null => return Ok(CompressionSpec::Off),
        J::String(s) => s.as_str(),
        // pandas also takes {"method": "gzip", ...options}: only the method matters for reading.
        J::Object(m) => match m.get("method") {
            Some(J::String(s)) => s.as_str(),
            _ => {
                return Err(bad(
                    "compression",
                    "a mapping needs a `method` string (e.g. {method: gzip})",
                ))
            }
        },
        other => {
            return Err(bad(
                "compression",
                format!("expected a string, got {other}"),
            ))
        }
    };
    Ok(match name.to_ascii_lowercase().as_str() {
        "infer" => CompressionSpec::Infer,
        "gzip" | "gz" => CompressionSpec::Codec(Codec::Gzip),
        "zstd" | "zst" => CompressionSpec::Codec(Codec::Zstd),
        "bz2" | "bzip2" => CompressionSpec::Codec(Codec::Bz2),
        "xz" | "lzma" => CompressionSpec::Codec(Codec::Xz),
        "zip" | "tar" => {
            return Err(DriverError::Unsupported(format!(
            "csv_kwargs.compression `{name}`: archives cannot be streamed; extract the files or \
                 recompress them with gzip, zstd, bz2 or xz"
        )))
        }
        other => {
            return Err(bad(
                "compression",
                format!("unknown compression `{other}`; use infer, gzip, zstd, bz2, xz or null"),
            ))
        }
    })
}

fn encoding(v: &J) -> Result<()> {
    let Some(s) = v.as_str() else {
        return match v {
            J::Null => Ok(()),
            other => Err(bad("encoding", format!("expected a string, got {other}"))),
        };
    };
    let norm: String = s
        .chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .collect::<String>()
        .to_ascii_lowercase();
    match norm.as_str() {
        // utf-8-sig is utf-8 with a byte order mark, which is stripped anyway.
        "utf8" | "utf8sig" => Ok(()),
        _ => Err(DriverError::Unsupported(format!(
            "csv_kwargs.encoding `{s}`: only UTF-8 files can be read; re-encode the file as UTF-8"
        ))),
    }
}

/// Refuses kwargs whose non-default values change the data in ways arrow-csv cannot follow.
fn refuse_if(k: &str, v: &J, is_default: bool, why: &str) -> Result<()> {
    if is_default {
        Ok(())
    } else {
        Err(DriverError::Unsupported(format!("{} = {v}: {why}", key(k))))
    }
}

fn null_regex(values: &[String], keep_default: bool) -> Result<Option<Regex>> {
    if !keep_default && values.iter().all(String::is_empty) {
        return Ok(None);
    }
    let mut alternatives: Vec<String> = vec![String::new()];
    if keep_default {
        alternatives.extend(PANDAS_NA.iter().map(|s| regex::escape(s)));
    }
    alternatives.extend(values.iter().map(|v| regex::escape(v)));
    Regex::new(&format!("^(?:{})$", alternatives.join("|")))
        .map(Some)
        .map_err(|e| bad("na_values", format!("cannot be matched: {e}")))
}

impl CsvOptions {
    /// Parses `csv_kwargs` (a mapping or null).
    pub(crate) fn parse(kwargs: Option<&J>) -> Result<CsvOptions> {
        let empty = Map::new();
        let map = match kwargs {
            None | Some(J::Null) => &empty,
            Some(J::Object(m)) => m,
            Some(other) => {
                return Err(DriverError::bad_arg(
                    "csv_kwargs",
                    format!("must be a mapping of pandas read_csv options, got {other}"),
                ))
            }
        };
        let mut o = CsvOptions {
            delimiter: b',',
            quote: None,
            escape: None,
            comment: None,
            terminator: None,
            skiprows: 0,
            header: Some(0),
            names: None,
            usecols: None,
            dtype: Dtype::Inferred,
            parse_dates: vec![],
            null_regex: null_regex(&[], false)?,
            compression: CompressionSpec::Infer,
            nrows: None,
            warnings: vec![],
        };
        let mut header: Option<&J> = None;
        let mut na_values: Vec<String> = vec![];
        let mut keep_default_na = false;
        if map.contains_key("sep") && map.contains_key("delimiter") {
            return Err(bad(
                "delimiter",
                "both `sep` and `delimiter` are given: keep only one",
            ));
        }
        for (k, v) in map {
            let k = k.as_str();
            match k {
                "sep" | "delimiter" => {
                    if let Some(b) = separator(k, v)? {
                        o.delimiter = b;
                    }
                }
                "quotechar" => o.quote = one_byte(k, v)?,
                "escapechar" => o.escape = one_byte(k, v)?,
                "comment" => o.comment = one_byte(k, v)?,
                "lineterminator" => o.terminator = one_byte(k, v)?,
                "header" => header = Some(v),
                "names" if !v.is_null() => {
                    let names = text_list(k, v)?;
                    if let Some(dup) = names
                        .iter()
                        .enumerate()
                        .find(|(i, n)| names[..*i].contains(n))
                    {
                        return Err(bad(k, format!("`{}` appears twice: names must be unique", dup.1)));
                    }
                    o.names = Some(names);
                }
                "usecols" if !v.is_null() => o.usecols = Some(columns(k, v)?),
                "dtype" => {
                    o.dtype = match v {
                        J::Null => Dtype::Inferred,
                        J::Object(m) => Dtype::PerColumn(
                            m.iter()
                                .map(|(c, t)| Ok((c.clone(), dtype_of(&format!("dtype.{c}"), t)?)))
                                .collect::<Result<_>>()?,
                        ),
                        other => Dtype::All(dtype_of(k, other)?),
                    }
                }
                "parse_dates" => match v {
                    J::Null | J::Bool(false) => {}
                    J::Bool(true) => o.warnings.push(
                        "csv_kwargs.parse_dates: true parses the pandas index, which Inlet does not \
                         build; list the date columns instead"
                            .into(),
                    ),
                    J::Object(_) => {
                        return Err(DriverError::Unsupported(
                            "csv_kwargs.parse_dates as a mapping (combining columns) is not \
                             supported; list the date columns"
                                .into(),
                        ))
                    }
                    other => o.parse_dates = columns(k, other)?,
                },
                "skiprows" => match v {
                    J::Null => {}
                    J::Array(_) => {
                        return Err(DriverError::Unsupported(
                            "csv_kwargs.skiprows as a list of line numbers is not supported; give \
                             the number of lines to skip at the start"
                                .into(),
                        ))
                    }
                    _ => o.skiprows = count(k, v)?,
                },
                "nrows" if !v.is_null() => o.nrows = Some(count(k, v)?),
                "na_values" => match v {
                    J::Object(per_column) => {
                        for vals in per_column.values() {
                            na_values.extend(text_list(k, vals)?);
                        }
                        o.warnings.push(
                            "csv_kwargs.na_values per column: the markers apply to every column here"
                                .into(),
                        );
                    }
                    other => na_values.extend(text_list(k, other)?),
                },
                "keep_default_na" => match v {
                    J::Bool(b) => keep_default_na = *b,
                    other => return Err(bad(k, format!("expected true or false, got {other}"))),
                },
                "compression" => o.compression = compression(v)?,
                "encoding" => encoding(v)?,
                "index_col" if matches!(v, J::Null | J::Bool(false)) => {}
                "skipfooter" | "skip_footer" => refuse_if(
                    k,
                    v,
                    v.is_null() || v.as_u64() == Some(0),
                    "footer lines cannot be dropped from a stream; remove them from the file",
                )?,
                "decimal" => refuse_if(
                    k,
                    v,
                    v.is_null() || v.as_str() == Some("."),
                    "only `.` decimal points are parsed; the values would not be numbers",
                )?,
                "thousands" => refuse_if(
                    k,
                    v,
                    v.is_null(),
                    "thousands separators are not parsed; the values would not be numbers",
                )?,
                "delim_whitespace" => refuse_if(
                    k,
                    v,
                    matches!(v, J::Null | J::Bool(false)),
                    "whitespace-separated files are not supported; use a single-character sep",
                )?,
                "true_values" | "false_values" => refuse_if(
                    k,
                    v,
                    v.is_null() || v.as_array().is_some_and(Vec::is_empty),
                    "only true/false (any case) are read as booleans",
                )?,
                _ if NO_EFFECT.contains(&k) => o.warnings.push(format!(
                    "csv_kwargs.{k} only tunes pandas and has no effect in Inlet"
                )),
                _ => o.warnings.push(format!(
                    "csv_kwargs.{k} is not supported by the csv driver and is ignored"
                )),
            }
        }
        o.header = match header {
            // pandas' default `infer`: a header row unless `names` are given.
            None => o.names.is_none().then_some(0),
            Some(J::String(s)) if s == "infer" => o.names.is_none().then_some(0),
            Some(J::Null) => None,
            Some(J::Array(_)) => {
                return Err(DriverError::Unsupported(
                    "csv_kwargs.header as a list (multi-row headers) is not supported".into(),
                ))
            }
            Some(v @ J::Number(_)) => Some(count("header", v)?),
            Some(other) => {
                return Err(bad(
                    "header",
                    format!(
                        "expected 0 (the first line is the header), a line number, or null (no \
                         header), got {other}"
                    ),
                ))
            }
        };
        o.null_regex = null_regex(&na_values, keep_default_na)?;
        Ok(o)
    }

    /// Lines to drop from the byte stream before the decoder: `skiprows`, then the lines above
    /// the header row.
    pub(crate) fn skip_lines(&self) -> usize {
        self.skiprows.saturating_add(self.header.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: J) -> Result<CsvOptions> {
        CsvOptions::parse(Some(&v))
    }

    #[test]
    fn separators() {
        assert_eq!(
            parse(json!({"sep": ";"})).map(|o| o.delimiter).ok(),
            Some(b';')
        );
        assert_eq!(
            parse(json!({"sep": "\\t"})).map(|o| o.delimiter).ok(),
            Some(b'\t')
        );
        assert_eq!(
            parse(json!({"delimiter": "\\|"})).map(|o| o.delimiter).ok(),
            Some(b'|')
        );
        assert!(
            matches!(parse(json!({"sep": "\\s+"})), Err(DriverError::Unsupported(m)) if m.contains("\\s+"))
        );
        assert!(
            matches!(parse(json!({"sep": ""})), Err(DriverError::BadArg { arg, .. }) if arg == "csv_kwargs.sep")
        );
        assert!(parse(json!({"sep": ",", "delimiter": ","})).is_err());
    }

    #[test]
    fn header_follows_pandas() {
        let h = |v: J| parse(v).map(|o| (o.header, o.skip_lines())).ok();
        assert_eq!(h(json!({})), Some((Some(0), 0)));
        assert_eq!(h(json!({"names": ["a"]})), Some((None, 0)));
        assert_eq!(h(json!({"names": ["a"], "header": 0})), Some((Some(0), 0)));
        assert_eq!(h(json!({"header": null})), Some((None, 0)));
        assert_eq!(h(json!({"header": 2, "skiprows": 1})), Some((Some(2), 3)));
        assert!(parse(json!({"header": true})).is_err());
    }

    #[test]
    fn dtypes_and_nulls() {
        assert_eq!(pandas_dtype("Int64"), Some(DataType::Int64));
        assert_eq!(
            pandas_dtype("datetime64[ns, UTC]"),
            Some(DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("UTC".into())
            ))
        );
        assert_eq!(pandas_dtype("datetime64[ns, Mars/Base]"), None);
        assert!(parse(json!({"dtype": {"a": "complex128"}})).is_err());
        let o = parse(json!({"na_values": ["NA", "-", 999]})).expect("na");
        let nulls = o.null_regex.expect("a regex");
        for null in ["", "NA", "-", "999"] {
            assert!(nulls.is_match(null), "{null}");
        }
        for value in ["n.a.", "-x", "NAN", "9999"] {
            assert!(!nulls.is_match(value), "{value}");
        }
        assert!(parse(json!({})).expect("plain").null_regex.is_none());
    }

    #[test]
    fn unknown_and_value_changing_kwargs() {
        let o = parse(json!({"engine": "c", "frobnicate": 1, "index_col": false})).expect("ok");
        assert_eq!(o.warnings.len(), 2, "{:?}", o.warnings);
        assert!(o.warnings.iter().any(|w| w.contains("frobnicate")));
        assert!(matches!(
            parse(json!({"decimal": ","})),
            Err(DriverError::Unsupported(_))
        ));
        assert!(matches!(
            parse(json!({"encoding": "latin-1"})),
            Err(DriverError::Unsupported(_))
        ));
        assert!(parse(json!({"encoding": "UTF_8"})).is_ok());
        assert!(matches!(
            parse(json!({"compression": "zip"})),
            Err(DriverError::Unsupported(_))
        ));
    }
}
