//! Coordinate reference systems as the sources know them, and how they are written into Arrow:
//! GeoArrow extension metadata on the geometry field (`geoarrow.wkb`) and GeoParquet-style `geo`
//! metadata on the schema (what `geopandas.read_feather` reads back).

use std::collections::HashMap;

use serde_json::{json, Map, Value as J};

use crate::wkb::Extent;

pub const EXTENSION_NAME: &str = "ARROW:extension:name";
pub const EXTENSION_METADATA: &str = "ARROW:extension:metadata";

#[derive(Debug, Clone, PartialEq)]
pub enum Crs {
    /// Longitude/latitude on WGS 84 (GeoJSON's only CRS; GeoParquet's default when absent).
    Crs84,
    /// `EPSG:3857` and the like.
    Authority(String),
    /// A `.prj` file's WKT (ESRI WKT1).
    Wkt(String),
    /// PROJJSON, as GeoParquet files carry it.
    Projjson(J),
    /// Explicitly unknown (GeoParquet `"crs": null`, a shapefile without `.prj`).
    Unknown,
}

impl Crs {
    /// The GeoArrow extension metadata (`{"crs": ..., "crs_type": ...}`).
    pub fn geoarrow(&self, edges: Option<&str>) -> String {
        let mut m = Map::new();
        match self {
            Crs::Crs84 => {
                m.insert("crs".into(), "OGC:CRS84".into());
                m.insert("crs_type".into(), "authority_code".into());
            }
            Crs::Authority(code) => {
                m.insert("crs".into(), code.clone().into());
                m.insert("crs_type".into(), "authority_code".into());
            }
            // WKT1 has no GeoArrow crs_type: the string alone (crs_type is optional).
            Crs::Wkt(wkt) => {
                m.insert("crs".into(), wkt.clone().into());
            }
            Crs::Projjson(p) => {
                m.insert("crs".into(), p.clone());
                m.insert("crs_type".into(), "projjson".into());
            }
            Crs::Unknown => {}
        }
        if let Some(e) = edges {
            m.insert("edges".into(), e.into());
        }
        J::Object(m).to_string()
    }

    /// The value for GeoParquet's `crs` key; None means "leave the key out" (= OGC:CRS84).
    /// Authority codes and WKT are given as strings, which pyproj (and so geopandas) reads.
    pub fn geoparquet(&self) -> Option<J> {
        match self {
            Crs::Crs84 => None,
            Crs::Authority(s) | Crs::Wkt(s) => Some(J::String(s.clone())),
            Crs::Projjson(p) => Some(p.clone()),
            Crs::Unknown => Some(J::Null),
        }
    }

    /// A short name for discovery metadata.
    pub fn describe(&self) -> J {
        match self {
            Crs::Crs84 => "OGC:CRS84".into(),
            Crs::Authority(s) | Crs::Wkt(s) => s.clone().into(),
            Crs::Projjson(p) => match (p.pointer("/id/authority"), p.pointer("/id/code")) {
                (Some(J::String(a)), Some(code)) => format!(
                    "{a}:{}",
                    code.as_str().map_or(code.to_string(), str::to_string)
                )
                .into(),
                _ => p.get("name").cloned().unwrap_or_else(|| p.clone()),
            },
            Crs::Unknown => J::Null,
        }
    }
}

/// Field metadata marking a WKB column as `geoarrow.wkb`.
pub fn wkb_field_metadata(crs: &Crs, edges: Option<&str>) -> HashMap<String, String> {
    HashMap::from([
        (EXTENSION_NAME.to_string(), "geoarrow.wkb".to_string()),
        (EXTENSION_METADATA.to_string(), crs.geoarrow(edges)),
    ])
}

/// GeoParquet 1.1-style `geo` metadata for one WKB geometry column.
pub fn geo_metadata(column: &str, crs: &Crs, extent: &Extent) -> J {
    let mut col = Map::new();
    col.insert("encoding".into(), "WKB".into());
    col.insert(
        "geometry_types".into(),
        extent.types.iter().cloned().collect::<Vec<_>>().into(),
    );
    if let Some(c) = crs.geoparquet() {
        col.insert("crs".into(), c);
    }
    if let Some(b) = extent.bbox {
        col.insert("bbox".into(), json!(b));
    }
    json!({"version": "1.1.0", "primary_column": column, "columns": {column: col}})
}

/// A GeoJSON document's legacy `crs` member (`{"type": "name", "properties": {"name": ...}}`);
/// without one, GeoJSON is OGC:CRS84.
pub fn from_geojson_member(crs: Option<&J>) -> Crs {
    let Some(name) = crs
        .and_then(|c| c.pointer("/properties/name"))
        .and_then(J::as_str)
    else {
        return Crs::Crs84;
    };
    let upper = name.to_ascii_uppercase();
    if upper.ends_with("CRS84") {
        return Crs::Crs84;
    }
    // urn:ogc:def:crs:EPSG::3857 -> EPSG:3857
    match upper.strip_prefix("URN:OGC:DEF:CRS:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').filter(|p| !p.is_empty()).collect();
            match parts.as_slice() {
                [authority, .., code] => Crs::Authority(format!("{authority}:{code}")),
                _ => Crs::Authority(name.to_string()),
            }
        }
        None => Crs::Authority(name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geojson_crs_members_become_authority_codes() {
        assert_eq!(from_geojson_member(None), Crs::Crs84);
        let m = json!({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}});
        assert_eq!(
            from_geojson_member(Some(&m)),
            Crs::Authority("EPSG:3857".into())
        );
        let m = json!({"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}});
        assert_eq!(from_geojson_member(Some(&m)), Crs::Crs84);
        assert_eq!(
            Crs::Crs84.geoarrow(None),
            r#"{"crs":"OGC:CRS84","crs_type":"authority_code"}"#
        );
    }
}
