//! ESRI shapefiles -> a table of `.dbf` attributes plus a WKB `geometry` column, as
//! `geopandas.read_file` gives them (pyogrio/GDAL): polyline shapes of one part are
//! LineStrings, of more MultiLineStrings; polygon rings are grouped by orientation (an outer
//! ring, clockwise, starts a polygon, the inner rings after it are its holes) into a Polygon or a
//! MultiPolygon; M values are dropped. The CRS is the `.prj`'s WKT; the `.dbf` is decoded in the
//! `.cpg`'s code page when there is one.
//!
//! A urlpath is a `.shp` (its `.dbf`, `.prj` and `.cpg` are read beside it) or a `.zip` holding
//! one shapefile (`zip://layer.shp::archive.zip` picks one of several).

use std::io::{Cursor, Read};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use async_trait::async_trait;
use dbase::{FieldType, FieldValue};
use inlet_driver::storage::Files;
use inlet_driver::{DriverError, Result};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use shapefile::{PolygonRing, Shape};

use crate::crs::Crs;
use crate::document::{read_whole, too_big, Document, Geometry, Table};
use crate::geojson::GEOMETRY;
use crate::wkb::{Extent, Kind, Writer};

pub struct Shapefile {
    /// The `.shp` to read inside a zip (`zip://member.shp::...`); None: the only one there.
    pub member: Option<String>,
}

/// The files of one shapefile, read whole.
struct Parts {
    shp: Vec<u8>,
    dbf: Option<Vec<u8>>,
    prj: Option<String>,
    cpg: Option<String>,
}

#[async_trait]
impl Document for Shapefile {
    fn name(&self) -> &'static str {
        "shapefile"
    }

    async fn load(&self, files: &Files, meta: &ObjectMeta, max_bytes: u64) -> Result<Table> {
        let at = files.display(meta);
        let parts = if meta
            .location
            .as_ref()
            .to_ascii_lowercase()
            .ends_with(".zip")
        {
            let bytes = read_whole(files, meta, "zipped shapefile", max_bytes).await?;
            let member = self.member.clone();
            let at2 = at.clone();
            tokio::task::spawn_blocking(move || from_zip(&bytes, member.as_deref(), &at2))
                .await
                .map_err(|e| DriverError::Io(format!("`{at}`: {e}")))??
        } else {
            let shp = read_whole(files, meta, "shapefile", max_bytes)
                .await?
                .to_vec();
            let sibling = |ext: &'static str| sibling(files, meta, ext, max_bytes);
            Parts {
                shp,
                dbf: sibling("dbf").await?,
                prj: sibling("prj")
                    .await?
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
                cpg: sibling("cpg")
                    .await?
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
            }
        };
        let at2 = at.clone();
        tokio::task::spawn_blocking(move || decode(parts, &at2))
            .await
            .map_err(|e| DriverError::Io(format!("`{at}`: {e}")))?
    }
}

/// `name.shp`'s `name.<ext>` (or `.<EXT>`, matching the case of `.shp`), if it exists.
async fn sibling(
    files: &Files,
    shp: &ObjectMeta,
    ext: &str,
    max_bytes: u64,
) -> Result<Option<Vec<u8>>> {
    let path = shp.location.as_ref();
    let Some(stem) = path.get(..path.len().saturating_sub(4)) else {
        return Ok(None);
    };
    let upper = path.ends_with(".SHP");
    let ext = if upper {
        ext.to_ascii_uppercase()
    } else {
        ext.to_string()
    };
    let location = Path::from(format!("{stem}.{ext}"));
    let display = files.display(shp);
    let shown = format!(
        "{}.{ext}",
        display.get(..display.len().saturating_sub(4)).unwrap_or("")
    );
    match files.store.head(&location).await {
        Ok(m) if m.size > max_bytes => Err(too_big(&shown, m.size, max_bytes, "shapefile")),
        Ok(_) => {
            let got = files
                .store
                .get(&location)
                .await
                .map_err(|e| DriverError::from_store(&shown, e))?;
            let bytes = got
                .bytes()
                .await
                .map_err(|e| DriverError::from_store(&shown, e))?;
            Ok(Some(bytes.to_vec()))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(DriverError::from_store(&shown, e)),
    }
}

/// The shapefile inside a zip archive.
fn from_zip(bytes: &[u8], member: Option<&str>, at: &str) -> Result<Parts> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| DriverError::corrupt(at, format!("not a zip archive: {e}")))?;
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| DriverError::corrupt(at, format!("a damaged zip archive: {e}")))?;
    let layers: Vec<&String> = names
        .iter()
        .filter(|n| n.to_ascii_lowercase().ends_with(".shp") && !n.starts_with("__MACOSX"))
        .collect();
    let shp = match (member, layers.as_slice()) {
        (Some(m), _) => names
            .iter()
            .find(|n| n.as_str() == m || n.rsplit('/').next() == Some(m))
            .ok_or_else(|| {
                DriverError::bad_arg(
                    "urlpath",
                    format!("`{at}` holds no `{m}`; it holds {names:?}"),
                )
            })?,
        (None, [one]) => *one,
        (None, []) => {
            return Err(DriverError::corrupt(
                at,
                "the zip archive holds no .shp file",
            ))
        }
        (None, many) => {
            return Err(DriverError::bad_arg(
                "urlpath",
                format!(
                    "`{at}` holds several shapefiles ({}): name one as zip://LAYER.shp::{at}",
                    many.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }
    .clone();
    let stem = &shp[..shp.len() - 4];
    let mut read = |ext: &str| -> Result<Option<Vec<u8>>> {
        let Some(name) = names
            .iter()
            .find(|n| {
                n.len() == stem.len() + 4
                    && n.starts_with(stem)
                    && n[stem.len()..].eq_ignore_ascii_case(ext)
            })
            .cloned()
        else {
            return Ok(None);
        };
        let mut entry = zip
            .by_name(&name)
            .map_err(|e| DriverError::corrupt(format!("{at}!{name}"), e))?;
        let mut out = vec![];
        entry
            .read_to_end(&mut out)
            .map_err(|e| DriverError::corrupt(format!("{at}!{name}"), e))?;
        Ok(Some(out))
    };
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(Parts {
        shp: read(".shp")?.unwrap_or_default(),
        dbf: read(".dbf")?,
        prj: text(read(".prj")?),
        cpg: text(read(".cpg")?),
    })
}

/// Decimal places of each `.dbf` field, from the field descriptors (dbase does not expose them).
fn decimals(dbf: &[u8]) -> Vec<u8> {
    dbf.chunks(32)
        .skip(1)
        .take_while(|d| d.first() != Some(&0x0D) && d.len() == 32)
        .map(|d| d[17])
        .collect()
}

fn decode(parts: Parts, at: &str) -> Result<Table> {
    let shp_at = format!("{at} (.shp)");
    let mut shapes = shapefile::ShapeReader::new(Cursor::new(parts.shp))
        .map_err(|e| DriverError::corrupt(&shp_at, e))?;
    let mut extent = Extent::default();
    let mut wkb = BinaryBuilder::new();
    let mut buf = vec![];
    let mut rows = 0usize;
    for (i, shape) in shapes.iter_shapes().enumerate() {
        let shape = shape.map_err(|e| DriverError::corrupt(format!("{shp_at}, shape {i}"), e))?;
        buf.clear();
        let mut w = Writer {
            out: &mut buf,
            extent: &mut extent,
        };
        if write_shape(&shape, &mut w)
            .map_err(|m| DriverError::corrupt(format!("{shp_at}, shape {i}"), m))?
        {
            wkb.append_value(&buf);
        } else {
            wkb.append_null();
        }
        rows += 1;
    }
    let (mut fields, mut columns) = match &parts.dbf {
        Some(dbf) => attributes(dbf, parts.cpg.as_deref(), rows, at)?,
        None => (vec![], vec![]),
    };
    fields.push(Field::new(GEOMETRY, DataType::Binary, true));
    columns.push(Arc::new(wkb.finish()));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| DriverError::corrupt(at, e))?;
    let crs = match parts.prj {
        Some(wkt) if !wkt.trim().is_empty() => Crs::Wkt(wkt.trim().to_string()),
        _ => Crs::Unknown,
    };
    Ok(Table {
        batch,
        geometry: Some(Geometry {
            column: GEOMETRY.into(),
            crs,
            extent,
        }),
    })
}

/// The code page a `.cpg` names: dbase's table (code page numbers, `UTF-8`, `ISO-8859-x`), then
/// the WHATWG labels (`LATIN1`, as GDAL writes for `encoding="latin1"`, `windows-1252`, ...).
fn code_page(cpg: &str) -> Option<dbase::encoding::DynEncoding> {
    dbase::encoding::DynEncoding::from_name(cpg).or_else(|| {
        dbase::encoding_rs::Encoding::for_label(cpg.trim().as_bytes())
            .map(|e| dbase::encoding::EncodingRs::from(e).into())
    })
}

/// The `.dbf` records as columns; there must be one per shape.
fn attributes(
    dbf: &[u8],
    cpg: Option<&str>,
    rows: usize,
    at: &str,
) -> Result<(Vec<Field>, Vec<ArrayRef>)> {
    let dbf_at = format!("{at} (.dbf)");
    let mut builder = dbase::ReaderBuilder::new()
        .with_options(dbase::ReadingOptions::default().character_trim(dbase::TrimOption::End));
    if let Some(encoding) = cpg.and_then(code_page) {
        builder = builder.with_encoding(encoding);
    }
    let mut reader = builder
        .build(Cursor::new(dbf))
        .map_err(|e| DriverError::corrupt(&dbf_at, e))?;
    let infos: Vec<(String, FieldType, u8)> = reader
        .fields()
        .iter()
        .map(|f| (f.name().to_string(), f.field_type(), f.length()))
        .collect();
    let decimals = decimals(dbf);
    let types: Vec<DataType> = infos
        .iter()
        .enumerate()
        .map(|(i, (name, t, len))| {
            Ok(match t {
                FieldType::Character | FieldType::Memo => DataType::Utf8,
                // As GDAL: whole numbers up to 18 digits are integers.
                FieldType::Numeric if decimals.get(i) == Some(&0) && *len <= 18 => DataType::Int64,
                FieldType::Numeric | FieldType::Float | FieldType::Double | FieldType::Currency => {
                    DataType::Float64
                }
                FieldType::Integer => DataType::Int64,
                FieldType::Logical => DataType::Boolean,
                FieldType::Date => DataType::Date32,
                FieldType::DateTime => {
                    return Err(DriverError::Unsupported(format!(
                        "`{dbf_at}`: field `{name}` is a FoxPro DateTime, which Inlet does not read"
                    )))
                }
            })
        })
        .collect::<Result<_>>()?;
    let mut values: Vec<Vec<FieldValue>> = vec![Vec::with_capacity(rows); infos.len()];
    for (i, record) in reader.iter_records().enumerate() {
        let mut record =
            record.map_err(|e| DriverError::corrupt(format!("{dbf_at}, record {i}"), e))?;
        for (c, (name, _, _)) in infos.iter().enumerate() {
            values[c].push(record.remove(name).unwrap_or(FieldValue::Character(None)));
        }
    }
    let found = values.first().map_or(rows, Vec::len);
    if found != rows && !infos.is_empty() {
        return Err(DriverError::corrupt(
            at,
            format!("the .shp holds {rows} shapes but the .dbf {found} records"),
        ));
    }
    let fields = infos
        .iter()
        .zip(&types)
        .map(|((n, _, _), t)| Field::new(n, t.clone(), true))
        .collect();
    let columns = values
        .iter()
        .zip(&types)
        .map(|(v, t)| column(v, t))
        .collect();
    Ok((fields, columns))
}

fn column(values: &[FieldValue], t: &DataType) -> ArrayRef {
    let number = |v: &FieldValue| match v {
        FieldValue::Numeric(n) => *n,
        FieldValue::Float(f) => f.map(f64::from),
        FieldValue::Double(d) | FieldValue::Currency(d) => Some(*d),
        FieldValue::Integer(i) => Some(f64::from(*i)),
        _ => None,
    };
    match t {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(values.len());
            for v in values {
                b.append_option(match v {
                    FieldValue::Integer(i) => Some(i64::from(*i)),
                    // `as` saturates; an 18-digit integer is exact in the text dbase parsed.
                    other => number(other).map(|n| n as i64),
                });
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(values.len());
            values.iter().for_each(|v| b.append_option(number(v)));
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(match v {
                    FieldValue::Logical(l) => *l,
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(match v {
                    FieldValue::Date(d) => d.map(|d| d.to_unix_days()),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        _ => {
            let mut b = StringBuilder::new();
            values.iter().for_each(|v| {
                b.append_option(match v {
                    FieldValue::Character(s) => s.clone(),
                    FieldValue::Memo(s) => Some(s.clone()),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
    }
}

/// Writes a shape as WKB; false for a null shape.
fn write_shape(shape: &Shape, w: &mut Writer<'_>) -> std::result::Result<bool, String> {
    macro_rules! xy {
        ($p:expr) => {
            ($p.x, $p.y, None)
        };
    }
    macro_rules! xyz {
        ($p:expr) => {
            ($p.x, $p.y, Some($p.z))
        };
    }
    match shape {
        Shape::NullShape => return Ok(false),
        Shape::Point(p) => point(w, xy!(p)),
        Shape::PointM(p) => point(w, xy!(p)),
        Shape::PointZ(p) => point(w, xyz!(p)),
        Shape::Multipoint(m) => multipoint(w, m.points().iter().map(|p| xy!(p)).collect()),
        Shape::MultipointM(m) => multipoint(w, m.points().iter().map(|p| xy!(p)).collect()),
        Shape::MultipointZ(m) => multipoint(w, m.points().iter().map(|p| xyz!(p)).collect()),
        Shape::Polyline(l) => lines(
            w,
            l.parts()
                .iter()
                .map(|p| p.iter().map(|q| xy!(q)).collect())
                .collect(),
        ),
        Shape::PolylineM(l) => lines(
            w,
            l.parts()
                .iter()
                .map(|p| p.iter().map(|q| xy!(q)).collect())
                .collect(),
        ),
        Shape::PolylineZ(l) => lines(
            w,
            l.parts()
                .iter()
                .map(|p| p.iter().map(|q| xyz!(q)).collect())
                .collect(),
        ),
        Shape::Polygon(p) => polygons(w, rings(p.rings(), |q| xy!(q))),
        Shape::PolygonM(p) => polygons(w, rings(p.rings(), |q| xy!(q))),
        Shape::PolygonZ(p) => polygons(w, rings(p.rings(), |q| xyz!(q))),
        Shape::Multipatch(_) => {
            return Err("multipatch shapes (3D surfaces) are not supported".into())
        }
    }
    Ok(true)
}

type Xyz = (f64, f64, Option<f64>);

fn coords(w: &mut Writer<'_>, pts: &[Xyz]) {
    w.count(pts.len());
    pts.iter().for_each(|&(x, y, z)| w.coord(x, y, z));
}

fn point(w: &mut Writer<'_>, (x, y, z): Xyz) {
    w.top_level(Kind::Point, z.is_some());
    w.header(Kind::Point, z.is_some());
    w.coord(x, y, z);
}

fn multipoint(w: &mut Writer<'_>, pts: Vec<Xyz>) {
    let z = pts.first().is_some_and(|p| p.2.is_some());
    w.top_level(Kind::MultiPoint, z);
    w.header(Kind::MultiPoint, z);
    w.count(pts.len());
    for (x, y, zv) in pts {
        w.header(Kind::Point, z);
        w.coord(x, y, zv);
    }
}

fn lines(w: &mut Writer<'_>, parts: Vec<Vec<Xyz>>) {
    let z = parts.iter().flatten().next().is_some_and(|p| p.2.is_some());
    if let [one] = parts.as_slice() {
        w.top_level(Kind::LineString, z);
        w.header(Kind::LineString, z);
        coords(w, one);
        return;
    }
    w.top_level(Kind::MultiLineString, z);
    w.header(Kind::MultiLineString, z);
    w.count(parts.len());
    for part in &parts {
        w.header(Kind::LineString, z);
        coords(w, part);
    }
}

/// Rings grouped into polygons: an outer ring starts one, inner rings join the last one.
fn rings<P>(rings: &[PolygonRing<P>], f: impl Fn(&P) -> Xyz) -> Vec<Vec<Vec<Xyz>>> {
    let mut polygons: Vec<Vec<Vec<Xyz>>> = vec![];
    for ring in rings {
        let pts = ring.points().iter().map(&f).collect();
        match (ring, polygons.last_mut()) {
            (PolygonRing::Inner(_), Some(last)) => last.push(pts),
            _ => polygons.push(vec![pts]),
        }
    }
    polygons
}

fn polygons(w: &mut Writer<'_>, polygons: Vec<Vec<Vec<Xyz>>>) {
    let z = polygons
        .iter()
        .flatten()
        .flatten()
        .next()
        .is_some_and(|p| p.2.is_some());
    let polygon = |w: &mut Writer<'_>, rings: &Vec<Vec<Xyz>>| {
        w.header(Kind::Polygon, z);
        w.count(rings.len());
        rings.iter().for_each(|r| coords(w, r));
    };
    if let [one] = polygons.as_slice() {
        w.top_level(Kind::Polygon, z);
        polygon(w, one);
        return;
    }
    w.top_level(Kind::MultiPolygon, z);
    w.header(Kind::MultiPolygon, z);
    w.count(polygons.len());
    polygons.iter().for_each(|p| polygon(w, p));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_descriptors_give_decimal_places() {
        let mut dbf = vec![0u8; 32];
        let mut field = vec![0u8; 32];
        field[..4].copy_from_slice(b"AREA");
        field[11] = b'N';
        field[16] = 24;
        field[17] = 15;
        dbf.extend(&field);
        field[17] = 0;
        dbf.extend(&field);
        dbf.push(0x0D);
        assert_eq!(decimals(&dbf), [15, 0]);
    }
}
