//! ISO WKB (little endian) written from GeoJSON geometries and shapefile shapes, with the bounds
//! and geometry types of everything written (for GeoParquet-style `geo` metadata).
//!
//! Hand-written because it is small and exact: ISO type codes (Z = +1000, as shapely writes
//! with `flavor="iso"` and GeoParquet requires), empty points as NaN coordinates.

use std::collections::BTreeSet;

use serde_json::Value as J;

/// Bounds and geometry types of a column, as GeoParquet's `bbox` and `geometry_types` say them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extent {
    /// xmin, ymin, xmax, ymax; None until a coordinate is seen.
    pub bbox: Option<[f64; 4]>,
    pub types: BTreeSet<String>,
}

impl Extent {
    fn cover(&mut self, x: f64, y: f64) {
        if x.is_nan() || y.is_nan() {
            return;
        }
        let b = self.bbox.get_or_insert([x, y, x, y]);
        b[0] = b[0].min(x);
        b[1] = b[1].min(y);
        b[2] = b[2].max(x);
        b[3] = b[3].max(y);
    }

    pub fn merge(&mut self, other: &Extent) {
        if let Some([a, b, c, d]) = other.bbox {
            self.cover(a, b);
            self.cover(c, d);
        }
        self.types.extend(other.types.iter().cloned());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Point = 1,
    LineString = 2,
    Polygon = 3,
    MultiPoint = 4,
    MultiLineString = 5,
    MultiPolygon = 6,
    GeometryCollection = 7,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Point => "Point",
            Kind::LineString => "LineString",
            Kind::Polygon => "Polygon",
            Kind::MultiPoint => "MultiPoint",
            Kind::MultiLineString => "MultiLineString",
            Kind::MultiPolygon => "MultiPolygon",
            Kind::GeometryCollection => "GeometryCollection",
        }
    }
}

/// Appends WKB to a buffer, tracking the extent of the top-level geometries written.
pub struct Writer<'a> {
    pub out: &'a mut Vec<u8>,
    pub extent: &'a mut Extent,
}

impl Writer<'_> {
    pub fn header(&mut self, kind: Kind, z: bool) {
        self.out.push(1);
        let code = kind as u32 + if z { 1000 } else { 0 };
        self.out.extend_from_slice(&code.to_le_bytes());
    }

    pub fn count(&mut self, n: usize) {
        // Counts come from in-memory lengths: a file holding more than u32::MAX parts could not
        // have been read into memory first.
        self.out
            .extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
    }

    pub fn coord(&mut self, x: f64, y: f64, z: Option<f64>) {
        self.extent.cover(x, y);
        self.out.extend_from_slice(&x.to_le_bytes());
        self.out.extend_from_slice(&y.to_le_bytes());
        if let Some(z) = z {
            self.out.extend_from_slice(&z.to_le_bytes());
        }
    }

    /// Records the type of a top-level geometry (`"Polygon Z"`).
    pub fn top_level(&mut self, kind: Kind, z: bool) {
        let name = if z {
            format!("{} Z", kind.name())
        } else {
            kind.name().to_string()
        };
        self.extent.types.insert(name);
    }
}

/// A GeoJSON geometry object -> WKB appended to `out`; the message says what is wrong.
pub fn from_geojson(geometry: &J, w: &mut Writer<'_>) -> Result<(), String> {
    let z = has_z(geometry);
    let kind = geojson_kind(geometry)?;
    w.top_level(kind, z);
    geojson_geometry(geometry, kind, z, w)
}

fn geojson_kind(g: &J) -> Result<Kind, String> {
    let t = g
        .get("type")
        .and_then(J::as_str)
        .ok_or("a geometry has no \"type\"")?;
    Ok(match t {
        "Point" => Kind::Point,
        "LineString" => Kind::LineString,
        "Polygon" => Kind::Polygon,
        "MultiPoint" => Kind::MultiPoint,
        "MultiLineString" => Kind::MultiLineString,
        "MultiPolygon" => Kind::MultiPolygon,
        "GeometryCollection" => Kind::GeometryCollection,
        other => return Err(format!("unknown geometry type \"{other}\"")),
    })
}

/// Whether any position of the geometry has a third value (the geometry is then written with
/// Z everywhere, a missing z as 0, as GDAL does).
fn has_z(g: &J) -> bool {
    fn deep(v: &J) -> bool {
        match v {
            J::Array(items) if items.first().is_some_and(J::is_number) => items.len() >= 3,
            J::Array(items) => items.iter().any(deep),
            _ => false,
        }
    }
    match g.get("geometries").and_then(J::as_array) {
        Some(parts) => parts.iter().any(has_z),
        None => g.get("coordinates").is_some_and(deep),
    }
}

fn array<'v>(v: &'v J, what: &str) -> Result<&'v Vec<J>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what}: expected an array, got {v}"))
}

fn position(p: &J, z: bool, w: &mut Writer<'_>) -> Result<(), String> {
    let items = array(p, "a position")?;
    let num = |i: usize| items.get(i).and_then(J::as_f64);
    match (num(0), num(1)) {
        (Some(x), Some(y)) => {
            let zv = z.then(|| num(2).unwrap_or(0.0));
            w.coord(x, y, zv);
            Ok(())
        }
        _ => Err(format!("a position needs two numbers, got {p}")),
    }
}

fn points(list: &J, z: bool, w: &mut Writer<'_>) -> Result<(), String> {
    let items = array(list, "a list of positions")?;
    w.count(items.len());
    items.iter().try_for_each(|p| position(p, z, w))
}

fn rings(list: &J, z: bool, w: &mut Writer<'_>) -> Result<(), String> {
    let items = array(list, "a list of rings")?;
    w.count(items.len());
    items.iter().try_for_each(|r| points(r, z, w))
}

fn geojson_geometry(g: &J, kind: Kind, z: bool, w: &mut Writer<'_>) -> Result<(), String> {
    if kind == Kind::GeometryCollection {
        let parts = array(g.get("geometries").unwrap_or(&J::Null), "\"geometries\"")?;
        w.header(kind, z);
        w.count(parts.len());
        for part in parts {
            let k = geojson_kind(part)?;
            geojson_geometry(part, k, z, w)?;
        }
        return Ok(());
    }
    let coords = g
        .get("coordinates")
        .ok_or_else(|| format!("a {} has no \"coordinates\"", kind.name()))?;
    w.header(kind, z);
    match kind {
        Kind::Point => {
            if array(coords, "a Point's coordinates")?.is_empty() {
                // POINT EMPTY, as shapely writes it.
                w.coord(f64::NAN, f64::NAN, z.then_some(f64::NAN));
                Ok(())
            } else {
                position(coords, z, w)
            }
        }
        Kind::LineString => points(coords, z, w),
        Kind::Polygon => rings(coords, z, w),
        Kind::MultiPoint => {
            let items = array(coords, "a MultiPoint's coordinates")?;
            w.count(items.len());
            items.iter().try_for_each(|p| {
                w.header(Kind::Point, z);
                position(p, z, w)
            })
        }
        Kind::MultiLineString => {
            let items = array(coords, "a MultiLineString's coordinates")?;
            w.count(items.len());
            items.iter().try_for_each(|l| {
                w.header(Kind::LineString, z);
                points(l, z, w)
            })
        }
        Kind::MultiPolygon => {
            let items = array(coords, "a MultiPolygon's coordinates")?;
            w.count(items.len());
            items.iter().try_for_each(|p| {
                w.header(Kind::Polygon, z);
                rings(p, z, w)
            })
        }
        Kind::GeometryCollection => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wkb(g: J) -> (Vec<u8>, Extent) {
        let (mut out, mut extent) = (vec![], Extent::default());
        from_geojson(
            &g,
            &mut Writer {
                out: &mut out,
                extent: &mut extent,
            },
        )
        .expect("valid");
        (out, extent)
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn points_and_lines_are_iso_wkb() {
        // shapely.to_wkb(Point(1, 2), hex=True, flavor="iso")
        let (b, e) = wkb(json!({"type": "Point", "coordinates": [1.0, 2.0]}));
        assert_eq!(hex(&b), "0101000000000000000000f03f0000000000000040");
        assert_eq!(e.bbox, Some([1.0, 2.0, 1.0, 2.0]));
        // shapely.to_wkb(LineString([(0, 0, 1), (1, 1, 2)]), hex=True, flavor="iso")
        let (b, e) = wkb(json!({"type": "LineString", "coordinates": [[0, 0, 1], [1, 1, 2]]}));
        assert_eq!(
            hex(&b),
            "01ea0300000200000000000000000000000000000000000000000000000000f03f\
             000000000000f03f000000000000f03f0000000000000040"
        );
        assert!(e.types.contains("LineString Z"));
    }

    #[test]
    fn bad_geometries_say_what_is_wrong() {
        let mut out = vec![];
        let mut extent = Extent::default();
        let mut w = Writer {
            out: &mut out,
            extent: &mut extent,
        };
        for (g, msg) in [
            (json!({"type": "Circle"}), "unknown geometry type"),
            (json!({"type": "Point"}), "no \"coordinates\""),
            (
                json!({"type": "Point", "coordinates": ["a", 1]}),
                "two numbers",
            ),
            (json!({"coordinates": [1, 2]}), "no \"type\""),
        ] {
            let e = from_geojson(&g, &mut w).expect_err("invalid");
            assert!(e.contains(msg), "{g}: {e}");
        }
    }
}
