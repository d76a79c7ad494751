//! GeoJSON (RFC 7946) documents -> a table of feature properties plus a WKB `geometry` column,
//! as `geopandas.read_file` gives it (pyogrio/GDAL): properties in order of first appearance,
//! geometry last. A FeatureCollection, a single Feature or a bare geometry are accepted.

use std::sync::Arc;

use arrow_array::builder::BinaryBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use async_trait::async_trait;
use inlet_driver::storage::Files;
use inlet_driver::{DriverError, Result};
use object_store::ObjectMeta;
use serde_json::{Map, Value as J};

use crate::crs;
use crate::document::{read_whole, Document, Geometry, Table};
use crate::properties;
use crate::wkb::{self, Extent, Writer};

/// The geometry column's name (geopandas').
pub const GEOMETRY: &str = "geometry";

pub struct GeoJson;

#[async_trait]
impl Document for GeoJson {
    fn name(&self) -> &'static str {
        "geojson"
    }

    async fn load(&self, files: &Files, meta: &ObjectMeta, max_bytes: u64) -> Result<Table> {
        let at = files.display(meta);
        let bytes = read_whole(files, meta, "GeoJSON", max_bytes).await?;
        let at2 = at.clone();
        tokio::task::spawn_blocking(move || parse(&bytes, &at2))
            .await
            .map_err(|e| DriverError::Io(format!("`{at}`: {e}")))?
    }
}

/// A FeatureCollection whose geometries stay unparsed text until each is written as WKB: a
/// tree of `serde_json::Value`s for every coordinate took ~25x the document's size.
#[derive(serde::Deserialize)]
struct Collection<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    features: Vec<RawFeature<'a>>,
    #[serde(default)]
    crs: Option<J>,
}

#[derive(serde::Deserialize)]
struct RawFeature<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    properties: Option<Map<String, J>>,
    #[serde(borrow, default)]
    geometry: Option<&'a serde_json::value::RawValue>,
}

/// A GeoJSON document's bytes as a table. A FeatureCollection is read feature by feature; any
/// other document (or one the typed reading refuses, to name the feature at fault) as a value.
pub fn parse(bytes: &[u8], at: &str) -> Result<Table> {
    match feature_collection(bytes, at) {
        Some(table) => table,
        None => table(&parse_json(bytes, at)?, at),
    }
}

/// The table of a document that is a well-formed FeatureCollection; None for anything else
/// (other JSON, other GeoJSON, invalid JSON: the caller reads it as a value and says why).
pub fn feature_collection(bytes: &[u8], at: &str) -> Option<Result<Table>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let c = serde_json::from_slice::<Collection>(bytes).ok()?;
    if c.kind != "FeatureCollection" || c.features.iter().any(|f| f.kind != "Feature") {
        return None;
    }
    let crs = crs::from_geojson_member(c.crs.as_ref());
    let props: Vec<Option<&Map<String, J>>> =
        c.features.iter().map(|f| f.properties.as_ref()).collect();
    Some(build(&props, crs, at, |i| match c.features[i].geometry {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<J>(raw.get())
            .map(|g| Some(std::borrow::Cow::Owned(g)))
            .map_err(|e| e.to_string()),
    }))
}

/// A whole JSON document, BOM allowed; a syntax error names the line and column.
pub fn parse_json(bytes: &[u8], at: &str) -> Result<J> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes)
        .map_err(|e| DriverError::corrupt(at, format!("invalid JSON: {e}")))
}

/// Whether a JSON document is GeoJSON (a FeatureCollection or a Feature).
pub fn is_geojson(value: &J) -> bool {
    matches!(
        value.get("type").and_then(J::as_str),
        Some("FeatureCollection" | "Feature")
    )
}

/// A feature's properties (None when null) and geometry (JSON null when absent).
type Feature<'v> = (Option<&'v Map<String, J>>, &'v J);

/// The features of a GeoJSON document.
fn features<'v>(value: &'v J, at: &str) -> Result<Vec<Feature<'v>>> {
    let feature = |f: &'v J, i: usize| -> Result<Feature<'v>> {
        if f.get("type").and_then(J::as_str) != Some("Feature") {
            return Err(DriverError::corrupt(
                format!("{at}, feature {i}"),
                "not a GeoJSON Feature (its \"type\" is not \"Feature\")",
            ));
        }
        let props = match f.get("properties") {
            None | Some(J::Null) => None,
            Some(J::Object(m)) => Some(m),
            Some(other) => {
                return Err(DriverError::corrupt(
                    format!("{at}, feature {i}"),
                    format!("\"properties\" must be an object or null, got {other}"),
                ))
            }
        };
        Ok((props, f.get("geometry").unwrap_or(&J::Null)))
    };
    match value.get("type").and_then(J::as_str) {
        Some("FeatureCollection") => value
            .get("features")
            .and_then(J::as_array)
            .ok_or_else(|| {
                DriverError::corrupt(at, "a FeatureCollection without a \"features\" array")
            })?
            .iter()
            .enumerate()
            .map(|(i, f)| feature(f, i))
            .collect(),
        Some("Feature") => Ok(vec![feature(value, 0)?]),
        Some(
            "Point" | "LineString" | "Polygon" | "MultiPoint" | "MultiLineString" | "MultiPolygon"
            | "GeometryCollection",
        ) => Ok(vec![(None, value)]),
        _ => Err(DriverError::corrupt(
            at,
            "not GeoJSON: expected a FeatureCollection, a Feature or a geometry",
        )),
    }
}

/// A parsed GeoJSON document as a table.
pub fn table(value: &J, at: &str) -> Result<Table> {
    let features = features(value, at)?;
    let props: Vec<Option<&Map<String, J>>> = features.iter().map(|(p, _)| *p).collect();
    let crs = crs::from_geojson_member(value.get("crs"));
    build(&props, crs, at, |i| {
        let g = features[i].1;
        Ok((!g.is_null()).then_some(std::borrow::Cow::Borrowed(g)))
    })
}

/// The table of features: their properties, and `geometry(i)` (None when null) as WKB.
fn build<'g>(
    props: &[Option<&Map<String, J>>],
    crs: crs::Crs,
    at: &str,
    geometry: impl Fn(usize) -> std::result::Result<Option<std::borrow::Cow<'g, J>>, String>,
) -> Result<Table> {
    let mut fields = properties::infer(props.iter().copied());
    // A property called `geometry` would clash with the geometry column: GDAL drops it too.
    fields.retain(|f| f.name() != GEOMETRY);
    let mut columns: Vec<ArrayRef> = fields
        .iter()
        .map(|f| properties::column(f, props))
        .collect();
    let mut extent = Extent::default();
    let mut wkb = BinaryBuilder::new();
    let mut buf = vec![];
    for i in 0..props.len() {
        let at_feature = || format!("{at}, feature {i}");
        let Some(g) = geometry(i).map_err(|m| DriverError::corrupt(at_feature(), m))? else {
            wkb.append_null();
            continue;
        };
        buf.clear();
        wkb::from_geojson(
            &g,
            &mut Writer {
                out: &mut buf,
                extent: &mut extent,
            },
        )
        .map_err(|m| DriverError::corrupt(at_feature(), m))?;
        wkb.append_value(&buf);
    }
    columns.push(Arc::new(wkb.finish()));
    fields.push(Field::new(GEOMETRY, DataType::Binary, true));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| DriverError::corrupt(at, e))?;
    Ok(Table {
        batch,
        geometry: Some(Geometry {
            column: GEOMETRY.into(),
            crs,
            extent,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_feature_collection_is_properties_and_geometry() {
        let doc = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "a", "n": 1}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
            {"type": "Feature", "properties": null, "geometry": null},
        ]});
        let t = table(&doc, "x.geojson").expect("table");
        let names: Vec<_> = t
            .batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["name", "n", "geometry"]);
        assert_eq!(t.batch.num_rows(), 2);
        assert_eq!(t.batch.column(2).null_count(), 1);
        let g = t.geometry.expect("geometry");
        assert_eq!(g.extent.bbox, Some([1.0, 2.0, 1.0, 2.0]));
        assert_eq!(g.crs, crs::Crs::Crs84);
    }

    #[test]
    fn bad_features_name_their_index() {
        let doc = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
            {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": "x"}},
        ]});
        let e = table(&doc, "x.geojson").err().expect("error");
        assert!(e.to_string().contains("x.geojson, feature 1"), "{e}");
        let e = parse(
            serde_json::to_vec(&doc).expect("bytes").as_slice(),
            "x.geojson",
        )
        .err()
        .expect("typed path falls back to name the feature");
        assert!(e.to_string().contains("x.geojson, feature 1"), "{e}");
        let e = parse(
            b"{\"type\": \"FeatureCollection\", \"features\": [",
            "z.geojson",
        )
        .err()
        .expect("eof");
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_json(b"{\"type\": ", "y.json").expect_err("syntax");
        assert!(
            matches!(e, DriverError::Corrupt { .. }) && e.to_string().contains("line 1"),
            "{e}"
        );
    }
}
