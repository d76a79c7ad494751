//! From what arrow-csv inferred on a sample, plus `names`, `dtype`, `parse_dates`, `usecols`
//! and the path-pattern fields, to the schema the decoder parses and the one the source shows.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_csv::reader::{Format, ReaderBuilder};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use inlet_driver::{DriverError, Result};

use crate::kwargs::{ColRef, CsvOptions, Dtype};

/// How the file's columns map onto the source's.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Every column of the file, typed: what the decoder is built with (it needs them all to
    /// count fields, and parses only the projected ones).
    pub file_schema: SchemaRef,
    /// The file column behind each CSV column of `schema`, in order.
    pub exposed: Vec<usize>,
    /// What the source shows: the exposed CSV columns, then the path-pattern fields.
    pub schema: SchemaRef,
    /// Whether each file's header must repeat the first file's column names.
    pub validate_header: bool,
    pub warnings: Vec<String>,
}

/// The Arrow type of the path-pattern columns: few distinct values, repeated on every row.
pub(crate) fn pattern_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// pandas' names for header cells that are empty (`Unnamed: 3`) or repeated (`a.1`).
fn mangle(names: Vec<String>) -> (Vec<String>, bool) {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    let mut changed = false;
    for (i, n) in names.into_iter().enumerate() {
        let mut name = if n.is_empty() {
            format!("Unnamed: {i}")
        } else {
            n.clone()
        };
        let mut k = 0;
        while out.contains(&name) {
            k += 1;
            name = format!("{n}.{k}");
        }
        changed |= name != n;
        out.push(name);
    }
    (out, changed)
}

fn resolve(arg: &str, col: &ColRef, names: &[String]) -> Result<usize> {
    match col {
        ColRef::Name(n) => names.iter().position(|c| c == n).ok_or_else(|| {
            DriverError::bad_arg(
                arg,
                format!(
                    "no column `{n}`; the file's columns are: {}",
                    names.join(", ")
                ),
            )
        }),
        ColRef::Index(i) if *i < names.len() => Ok(*i),
        ColRef::Index(i) => Err(DriverError::bad_arg(
            arg,
            format!(
                "column position {i} is past the last column ({} columns, counted from 0)",
                names.len()
            ),
        )),
    }
}

/// What the integers of one text column need, from the sample.
#[derive(Default)]
struct Integers {
    /// A value that is not an integer: the column stays text.
    text: bool,
    negative: bool,
    /// Over i64::MAX but within u64.
    beyond_i64: bool,
    /// Outside what u64 or i64 hold.
    beyond_u64: bool,
}

impl Integers {
    fn see(&mut self, v: &str) {
        let v = v.trim();
        let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            self.text = true;
            return;
        }
        let negative = v.starts_with('-');
        self.negative |= negative;
        if v.parse::<i64>().is_ok() {
            return;
        }
        match (negative, digits.parse::<u64>()) {
            (false, Ok(_)) => self.beyond_i64 = true,
            _ => self.beyond_u64 = true,
        }
    }

    /// pandas' type for the column: uint64 when every value fits, else float64.
    fn widened(&self) -> Option<DataType> {
        if self.text {
            None
        } else if self.beyond_u64 || (self.beyond_i64 && self.negative) {
            Some(DataType::Float64)
        } else if self.beyond_i64 {
            Some(DataType::UInt64)
        } else {
            None
        }
    }
}

/// arrow-csv infers a column of integers with one beyond the i64 range as text; pandas reads it
/// as uint64 when every value fits, else as float64, and so does Inlet (a later value that does
/// not parse is then an error, never a silent string).
pub(crate) fn widen_big_integers(format: &Format, sample: &[u8], inferred: Schema) -> Schema {
    let text: Vec<usize> = (0..inferred.fields().len())
        .filter(|&i| inferred.field(i).data_type() == &DataType::Utf8)
        .collect();
    if text.is_empty() {
        return inferred;
    }
    let as_text: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), DataType::Utf8, true))
        .collect();
    let Ok(reader) = ReaderBuilder::new(Arc::new(Schema::new(as_text)))
        .with_format(format.clone())
        .build(sample)
    else {
        return inferred;
    };
    let mut seen: Vec<Integers> = text.iter().map(|_| Integers::default()).collect();
    for batch in reader {
        let Ok(batch) = batch else { return inferred };
        for (k, &i) in text.iter().enumerate() {
            let Some(values) = batch.column(i).as_string_opt::<i32>() else {
                return inferred;
            };
            values.iter().flatten().for_each(|v| seen[k].see(v));
        }
    }
    let mut fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (k, &i) in text.iter().enumerate() {
        if let Some(t) = seen[k].widened() {
            fields[i] = fields[i].clone().with_data_type(t);
        }
    }
    Schema::new_with_metadata(fields, inferred.metadata().clone())
}

pub(crate) fn layout(
    o: &CsvOptions,
    inferred: &Schema,
    pattern_fields: &[String],
    location: &str,
) -> Result<Layout> {
    let mut warnings = vec![];
    let mut types: Vec<DataType> = inferred
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let (names, renamed) = match &o.names {
        Some(names) if types.is_empty() => {
            // An empty file: its columns are the names given.
            types = vec![DataType::Null; names.len()];
            (names.clone(), true)
        }
        Some(names) if names.len() != types.len() => {
            return Err(DriverError::bad_arg(
                "csv_kwargs.names",
                format!(
                    "gives {} names but `{location}` has {} columns: give one name per column",
                    names.len(),
                    types.len()
                ),
            ))
        }
        Some(names) => (names.clone(), true),
        None if types.is_empty() => {
            return Err(DriverError::corrupt(
                location,
                "the file is empty: there is no header to take the columns from (set \
                 csv_kwargs.names to read it as an empty table)",
            ))
        }
        None => mangle(inferred.fields().iter().map(|f| f.name().clone()).collect()),
    };
    // A column with no value in the sample: text is the only type no later value can break.
    let inferred_types = types.clone();
    for t in &mut types {
        if *t == DataType::Null {
            *t = DataType::Utf8;
        }
    }
    match &o.dtype {
        Dtype::Inferred => {}
        Dtype::All(t) => types.iter_mut().for_each(|c| *c = t.clone()),
        Dtype::PerColumn(cols) => {
            for (name, t) in cols {
                match names.iter().position(|n| n == name) {
                    Some(i) => types[i] = t.clone(),
                    None => warnings.push(format!(
                        "csv_kwargs.dtype names column `{name}`, which the file does not have"
                    )),
                }
            }
        }
    }
    for col in &o.parse_dates {
        let i = resolve("csv_kwargs.parse_dates", col, &names)?;
        // Dates without a time stay dates (pandas would make midnight timestamps).
        types[i] = if inferred_types[i] == DataType::Date32 {
            DataType::Date32
        } else {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        };
    }
    let exposed: Vec<usize> = match &o.usecols {
        None => (0..names.len()).collect(),
        Some(cols) => {
            let mut idx = cols
                .iter()
                .map(|c| resolve("csv_kwargs.usecols", c, &names))
                .collect::<Result<Vec<_>>>()?;
            // As in pandas, usecols selects; the file's order is kept.
            idx.sort_unstable();
            idx.dedup();
            idx
        }
    };
    let file_fields: Vec<Field> = names
        .iter()
        .zip(&types)
        .map(|(n, t)| Field::new(n, t.clone(), true))
        .collect();
    let mut fields: Vec<Field> = exposed.iter().map(|i| file_fields[*i].clone()).collect();
    for p in pattern_fields {
        if fields.iter().any(|f| f.name() == p) {
            return Err(DriverError::bad_arg(
                "path_as_pattern",
                format!("the pattern field `{p}` is also a column of the file: rename the field"),
            ));
        }
        fields.push(Field::new(p, pattern_type(), false));
    }
    Ok(Layout {
        file_schema: Arc::new(Schema::new(file_fields)),
        exposed,
        schema: Arc::new(Schema::new(fields)),
        validate_header: o.header.is_some() && !renamed,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: serde_json::Value) -> CsvOptions {
        match CsvOptions::parse(Some(&v)) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        }
    }

    fn inferred() -> Schema {
        Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("", DataType::Null, true),
            Field::new("a", DataType::Date32, true),
        ])
    }

    #[test]
    fn integers_beyond_i64_are_uint64_then_float64_as_in_pandas() {
        let sample = b"id,big,neg,huge,word\n1,18446744073709551615,1,1,x\n\
                       2,9223372036854775808,-9223372036854775809,99999999999999999999999,1\n\
                       3,,5,2,99999999999999999999\n";
        let format = Format::default().with_header(true);
        let (inferred, _) = format.infer_schema(&sample[..], None).expect("infer");
        let types: Vec<DataType> = widen_big_integers(&format, sample, inferred)
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            [
                DataType::Int64,
                DataType::UInt64,
                DataType::Float64,
                DataType::Float64,
                DataType::Utf8
            ]
        );
    }

    #[test]
    fn names_types_and_selection() {
        let l = layout(&opts(json!({})), &inferred(), &[], "f").expect("layout");
        let names: Vec<&str> = l
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["a", "Unnamed: 1", "a.1"]);
        assert_eq!(l.schema.field(1).data_type(), &DataType::Utf8);
        assert!(!l.validate_header, "mangled names cannot be validated");
        let o = opts(json!({"usecols": ["c", 0], "names": ["a", "b", "c"],
                            "dtype": {"a": "int32", "zz": "str"}, "parse_dates": [2]}));
        let l = layout(&o, &inferred(), &["year".into()], "f").expect("layout");
        assert_eq!(l.exposed, [0, 2]);
        assert_eq!(l.schema.field(0).data_type(), &DataType::Int32);
        assert_eq!(l.schema.field(1).data_type(), &DataType::Date32);
        assert_eq!(l.schema.field(2).data_type(), &pattern_type());
        assert_eq!(l.warnings.len(), 1);
        let e = layout(&opts(json!({"names": ["x"]})), &inferred(), &[], "f");
        assert!(matches!(e, Err(DriverError::BadArg { arg, .. }) if arg == "csv_kwargs.names"));
        let e = layout(&opts(json!({"usecols": [7]})), &inferred(), &[], "f");
        assert!(matches!(e, Err(DriverError::BadArg { arg, .. }) if arg == "csv_kwargs.usecols"));
    }
}
