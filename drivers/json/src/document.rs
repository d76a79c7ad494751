//! JSON documents read whole: an array of objects is a table of rows, one object is one row, a
//! GeoJSON FeatureCollection (or Feature) is the GeoJSON table (properties + WKB geometry), and
//! a file of several concatenated values (NDJSON without its extension) is one row per value.
//! Types are arrow-json's inference over every row of the document.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::reader::{infer_json_schema_from_iterator, ReaderBuilder};
use arrow_schema::Schema;
use async_trait::async_trait;
use inlet_driver::storage::Files;
use inlet_driver::{DriverError, Result};
use inlet_geo::{Document, Table};
use object_store::ObjectMeta;
use serde_json::Value as J;

use crate::decode::{self, Compression};

/// JSON documents (decompressed as `compression` says: by extension by default).
#[derive(Default)]
pub struct JsonDocument {
    pub(crate) compression: Compression,
}

#[async_trait]
impl Document for JsonDocument {
    fn name(&self) -> &'static str {
        "json"
    }

    async fn load(&self, files: &Files, meta: &ObjectMeta, max_bytes: u64) -> Result<Table> {
        let at = files.display(meta);
        let codec = self.compression.for_path(meta.location.as_ref());
        let bytes = decode::read_all(files, meta, codec, max_bytes).await?;
        let at2 = at.clone();
        tokio::task::spawn_blocking(move || parse(&bytes, &at2))
            .await
            .map_err(|e| DriverError::Io(format!("`{at}`: {e}")))?
    }
}

fn kind(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "boolean",
        J::Number(_) => "number",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(_) => "object",
    }
}

/// A document's bytes as a table.
pub fn parse(bytes: &[u8], at: &str) -> Result<Table> {
    // A FeatureCollection is read without a value tree for its coordinates.
    if let Some(table) = inlet_geo::geojson::feature_collection(bytes, at) {
        return table;
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut values: Vec<J> = serde_json::Deserializer::from_slice(bytes)
        .into_iter::<J>()
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| DriverError::corrupt(at, format!("invalid JSON: {e}")))?;
    let rows = match values.len() {
        1 => match values.pop() {
            Some(v) if inlet_geo::geojson::is_geojson(&v) => {
                return inlet_geo::geojson::table(&v, at)
            }
            Some(J::Array(items)) => items,
            Some(v @ J::Object(_)) => vec![v],
            Some(other) => {
                return Err(DriverError::corrupt(
                    at,
                    format!(
                        "the document is a single {}: rows are an array of objects, an object, \
                         or one object per line",
                        kind(&other)
                    ),
                ))
            }
            None => vec![],
        },
        _ => values,
    };
    rows_table(&rows, at, "row")
}

/// Objects as a table, types inferred over all of them; `unit` names a row in messages.
pub fn rows_table(rows: &[J], at: &str, unit: &str) -> Result<Table> {
    if let Some((i, v)) = rows.iter().enumerate().find(|(_, v)| !v.is_object()) {
        return Err(DriverError::corrupt(
            format!("{at}, {unit} {i}"),
            format!("a {} where a JSON object (one row) was expected", kind(v)),
        ));
    }
    let schema = infer_json_schema_from_iterator(rows.iter().map(Ok))
        .map_err(|e| DriverError::corrupt(at, e))?;
    let schema = Arc::new(schema);
    if rows.is_empty() {
        return Ok(Table {
            batch: RecordBatch::new_empty(Arc::new(Schema::empty())),
            geometry: None,
        });
    }
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len())
        .build_decoder()
        .map_err(|e| DriverError::corrupt(at, e))?;
    decoder
        .serialize(rows)
        .map_err(|e| DriverError::corrupt(at, e))?;
    let batch = decoder
        .flush()
        .map_err(|e| DriverError::corrupt(at, e))?
        .unwrap_or_else(|| RecordBatch::new_empty(schema));
    Ok(Table {
        batch,
        geometry: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_objects_and_concatenated_values_are_rows() {
        let t = parse(br#"[{"a": 1, "b": "x"}, {"a": 2.5}]"#, "t.json").expect("array");
        assert_eq!(t.batch.num_rows(), 2);
        assert_eq!(
            t.batch.schema().field(0).data_type(),
            &arrow_schema::DataType::Float64
        );
        let t = parse(br#"{"a": 1}"#, "o.json").expect("object");
        assert_eq!(t.batch.num_rows(), 1);
        let t = parse(b"{\"a\": 1}\n{\"a\": 2}\n", "n.json").expect("concatenated");
        assert_eq!(t.batch.num_rows(), 2);
        let t = parse(
            br#"{"type": "FeatureCollection", "features": []}"#,
            "g.json",
        )
        .expect("geojson");
        assert!(t.geometry.is_some());
        let e = parse(b"[1, 2]", "s.json").err().expect("scalars");
        assert!(e.to_string().contains("s.json, row 0"), "{e}");
        let e = parse(b"42", "s.json").err().expect("scalar");
        assert!(e.to_string().contains("single number"), "{e}");
        let e = parse(b"[{\"a\": 1},", "t.json").err().expect("truncated");
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
