//! Geospatial drivers: GeoParquet (the Parquet driver plus the `geo` metadata), GeoJSON and
//! ESRI shapefiles (plain or zipped). Geometries are WKB columns marked `geoarrow.wkb` with
//! their CRS; the schema carries GeoParquet-style `geo` metadata, so `geopandas.read_feather`
//! turns Inlet's Arrow back into a GeoDataFrame.
#![forbid(unsafe_code)]

pub mod crs;
pub mod document;
pub mod geojson;
mod geoparquet;
mod properties;
mod shapefile;
pub mod wkb;

use std::sync::Arc;

use async_trait::async_trait;
use inlet_driver::args::Args;
use inlet_driver::{Driver, DriverError, DriverNames, OpenContext, Result, Source};
use serde_json::{Map, Value as J};

pub use document::{Document, DocumentSource, Table, MAX_DOCUMENT_BYTES};
pub use geojson::GeoJson;
pub use shapefile::Shapefile;

/// `geoparquet` (intake-geopandas' `GeoParquetSource`).
pub struct GeoParquetDriver;

#[async_trait]
impl Driver for GeoParquetDriver {
    fn name(&self) -> &'static str {
        "geoparquet"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "intake_geopandas.geopandas.GeoParquetSource",
                "intake_geopandas.GeoParquetSource",
            ],
            intake2_datatypes: &[],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let urlpath = a.required("urlpath")?;
        let storage_options = a.get("storage_options");
        let columns = a.strings("columns")?;
        let warnings = a.unused("geoparquet");
        let files = ctx
            .storage
            .resolve(urlpath, storage_options, &ctx.catalog_dir)
            .await?;
        let inner = inlet_parquet::ParquetDriver::source(files, columns, &ctx.limits, warnings);
        Ok(Arc::new(geoparquet::GeoParquetSource {
            inner,
            discovery: tokio::sync::OnceCell::new(),
        }))
    }
}

/// `geojson` (intake-geopandas' `GeoJSONSource`).
pub struct GeoJsonDriver;

#[async_trait]
impl Driver for GeoJsonDriver {
    fn name(&self) -> &'static str {
        "geojson"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "intake_geopandas.geopandas.GeoJSONSource",
                "intake_geopandas.GeoJSONSource",
            ],
            intake2_datatypes: &["GeoJSON"],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let urlpath = a.required("urlpath")?;
        let storage_options = a.get("storage_options");
        // intake-geopandas' switch between fsspec and GDAL's own I/O: no meaning here.
        let _ = a.get("use_fsspec");
        let warnings = a.unused("geojson");
        let files = ctx
            .storage
            .resolve(urlpath, storage_options, &ctx.catalog_dir)
            .await?;
        Ok(Arc::new(DocumentSource::new(
            GeoJson,
            files,
            &ctx.limits,
            warnings,
        )))
    }
}

/// `shapefile` (intake-geopandas' `ShapefileSource`).
pub struct ShapefileDriver;

/// A urlpath as catalogs write zipped shapefiles: `zip://archive.zip`,
/// `zip://layer.shp::archive-url` -> (the archive's urlpath, the member to read).
fn split_zip_url(urlpath: &J) -> Result<(J, Option<String>)> {
    let Some(s) = urlpath.as_str() else {
        return Ok((urlpath.clone(), None));
    };
    let Some(rest) = s.strip_prefix("zip://") else {
        return Ok((urlpath.clone(), None));
    };
    match rest.split_once("::") {
        Some((member, outer)) if !member.is_empty() && !outer.is_empty() => {
            Ok((J::String(outer.to_string()), Some(member.to_string())))
        }
        Some(_) => Err(DriverError::bad_arg(
            "urlpath",
            format!("`{s}`: write zip://LAYER.shp::ARCHIVE_URL, or the archive's path alone"),
        )),
        None => Ok((J::String(rest.to_string()), None)),
    }
}

#[async_trait]
impl Driver for ShapefileDriver {
    fn name(&self) -> &'static str {
        "shapefile"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "intake_geopandas.geopandas.ShapefileSource",
                "intake_geopandas.ShapefileSource",
            ],
            intake2_datatypes: &["Shapefile"],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let (urlpath, member) = split_zip_url(a.required("urlpath")?)?;
        let storage_options = a.get("storage_options");
        let _ = a.get("use_fsspec");
        let warnings = a.unused("shapefile");
        let files = ctx
            .storage
            .resolve(&urlpath, storage_options, &ctx.catalog_dir)
            .await?;
        Ok(Arc::new(DocumentSource::new(
            Shapefile { member },
            files,
            &ctx.limits,
            warnings,
        )))
    }
}

/// `geopandasfile` (intake-geopandas' `GeoPandasFileSource`, any file GDAL reads): dispatched
/// by the urlpath's extension to the GeoJSON, shapefile or GeoParquet driver.
pub struct GeoFileDriver;

/// The driver for a urlpath's extension, as a name (`geojson`, `shapefile`, `geoparquet`).
fn geo_driver_for(urlpath: &J) -> Result<&'static str> {
    let first = match urlpath {
        J::Array(items) => items.first().and_then(J::as_str),
        other => other.as_str(),
    }
    .unwrap_or_default();
    let lower = first.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    Ok(match ext {
        _ if lower.starts_with("zip://") => "shapefile",
        "shp" | "zip" => "shapefile",
        "geojson" | "json" => "geojson",
        "parquet" | "geoparquet" | "pq" => "geoparquet",
        other => {
            return Err(DriverError::Unsupported(format!(
                "`{first}`: geopandasfile reads .geojson/.json, .shp/.zip and .parquet here; \
                 `.{other}` (GeoPackage, FlatGeobuf, KML, ...) is not read by Inlet"
            )))
        }
    })
}

#[async_trait]
impl Driver for GeoFileDriver {
    fn name(&self) -> &'static str {
        "geopandasfile"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "intake_geopandas.geopandas.GeoPandasFileSource",
                "intake_geopandas.GeoPandasFileSource",
            ],
            intake2_datatypes: &[],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let urlpath = args
            .get("urlpath")
            .ok_or_else(|| DriverError::bad_arg("urlpath", "is required"))?;
        match geo_driver_for(urlpath)? {
            "shapefile" => ShapefileDriver.open(args, ctx).await,
            "geoparquet" => GeoParquetDriver.open(args, ctx).await,
            _ => GeoJsonDriver.open(args, ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn geopandasfile_dispatches_by_extension() {
        for (url, driver) in [
            (json!("a/b.geojson"), "geojson"),
            (json!(["a/b.JSON"]), "geojson"),
            (json!("zip://a/b.zip"), "shapefile"),
            (json!("s3://b/k.shp"), "shapefile"),
            (json!("a/b.parquet"), "geoparquet"),
        ] {
            assert_eq!(geo_driver_for(&url).expect("known"), driver, "{url}");
        }
        let e = geo_driver_for(&json!("a/b.gpkg")).expect_err("gpkg");
        assert!(
            matches!(&e, DriverError::Unsupported(m) if m.contains(".gpkg")),
            "{e}"
        );
    }

    #[test]
    fn zip_urls_split_into_archive_and_layer() {
        assert_eq!(
            split_zip_url(&json!("zip://data/a.zip")).expect("ok"),
            (json!("data/a.zip"), None)
        );
        assert_eq!(
            split_zip_url(&json!("zip://roads.shp::s3://b/a.zip")).expect("ok"),
            (json!("s3://b/a.zip"), Some("roads.shp".into()))
        );
        assert!(split_zip_url(&json!("zip://::x.zip")).is_err());
        assert_eq!(
            split_zip_url(&json!("a.shp")).expect("ok"),
            (json!("a.shp"), None)
        );
    }
}
