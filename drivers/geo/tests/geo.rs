//! The geo drivers on files written by geopandas (pyogrio/GDAL, pyarrow), compared value for
//! value with what `geopandas.read_file` / `pyarrow.parquet.read_table` read back (target/fixtures,
//! made by tests/fixtures/make_geo_fixtures.py). Geometries compare as ISO WKB bytes written by
//! shapely from the geometries GDAL read.

use std::sync::Arc;

use arrow_array::RecordBatch;
use inlet_driver::testing::{assert_same, collect, context, expected, fixtures};
use inlet_driver::{Discovery, Driver, DriverError, ReadRequest, Source};
use inlet_geo::{
    DocumentSource, GeoJson, GeoJsonDriver, GeoParquetDriver, Shapefile, ShapefileDriver,
};
use serde_json::{json, Map, Value as J};

fn geo_manifest() -> J {
    let path = fixtures().join("geo/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run `$(bash scripts/pyenv.sh) tests/fixtures/make_geo_fixtures.py target/fixtures`", path.display())
    });
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn driver(name: &str) -> Box<dyn Driver> {
    match name {
        "geojson" => Box::new(GeoJsonDriver),
        "shapefile" => Box::new(ShapefileDriver),
        "geoparquet" => Box::new(GeoParquetDriver),
        other => panic!("no driver {other}"),
    }
}

async fn open(name: &str, args: J) -> Result<Arc<dyn Source>, DriverError> {
    let args: Map<String, J> = serde_json::from_value(args).expect("object");
    driver(name).open(&args, &context()).await
}

async fn read_all(source: &Arc<dyn Source>, request: ReadRequest) -> (Arc<Discovery>, RecordBatch) {
    let d = source.discover().await.expect("discover");
    let schema = d.projected_schema(&request).expect("schema");
    let got = collect(schema, source.read(request).await.expect("read")).await;
    (d, got)
}

/// The batch without field and schema metadata (the expected tables have none).
fn plain(b: &RecordBatch) -> RecordBatch {
    let fields: Vec<_> = b
        .schema()
        .fields()
        .iter()
        .map(|f| {
            f.as_ref()
                .clone()
                .with_metadata(std::collections::HashMap::new())
        })
        .collect();
    RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(fields)),
        b.columns().to_vec(),
    )
    .expect("batch")
}

fn geometry_metadata(d: &Discovery) -> (String, J) {
    let field = d
        .schema
        .field_with_name("geometry")
        .expect("geometry field");
    let md = field.metadata();
    let ext: J = serde_json::from_str(&md["ARROW:extension:metadata"]).expect("extension metadata");
    (md["ARROW:extension:name"].clone(), ext)
}

#[tokio::test]
async fn every_case_reads_as_geopandas_reads_it() {
    let manifest = geo_manifest();
    for (name, case) in manifest["cases"].as_object().expect("cases") {
        let mut args = case["args"].clone();
        args["urlpath"] = case["urlpath"].clone();
        let source = open(case["driver"].as_str().expect("driver"), args)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Small batches: the stream slices the table.
        let request = ReadRequest {
            batch_size: 2,
            ..ReadRequest::default()
        };
        let (d, got) = read_all(&source, request).await;
        let want = expected(case["expected"].as_str().expect("expected"));
        let got = if case["driver"] == "geoparquet" {
            // pyarrow's tables say large_string where parquet-rs says string: same values.
            let cols = got
                .columns()
                .iter()
                .zip(want.schema().fields())
                .map(|(c, f)| arrow_cast::cast(c, f.data_type()).expect("cast"))
                .collect();
            RecordBatch::try_new(want.schema(), cols).expect("batch")
        } else {
            plain(&got)
        };
        assert_same(&got, &want, name);
        assert_eq!(d.total_rows, Some(want.num_rows() as u64), "{name}: rows");

        let (ext, ext_md) = geometry_metadata(&d);
        assert_eq!(ext, "geoarrow.wkb", "{name}");
        let crs = case["crs"].as_str().expect("crs");
        let summary = match d.metadata.get("geometry_columns") {
            Some(cols) => cols["geometry"].clone(),
            None => d.metadata["geo"]["columns"]["geometry"].clone(),
        };
        match crs {
            "wkt" => {
                let wkt = ext_md["crs"].as_str().expect("wkt");
                assert!(
                    wkt.starts_with("GEOGCS[") || wkt.starts_with("PROJCS["),
                    "{name}: {wkt}"
                );
            }
            "OGC:CRS84" | "EPSG:3857" => {
                assert_eq!(
                    ext_md,
                    json!({"crs": crs, "crs_type": "authority_code"}),
                    "{name}"
                );
            }
            _ => {
                // GeoParquet: PROJJSON as geopandas wrote it, summarised by its id.
                assert_eq!(ext_md["crs_type"], "projjson", "{name}");
                assert_eq!(ext_md["crs"]["id"]["code"], 4326, "{name}");
                assert_eq!(summary["crs"], crs, "{name}");
            }
        }
        let mut types: Vec<J> = summary["geometry_types"].as_array().expect("types").clone();
        types.sort_by_key(|t| t.as_str().unwrap_or_default().to_string());
        assert_eq!(
            J::Array(types),
            case["geometry_types"],
            "{name}: geometry types"
        );
        if case["driver"] != "geoparquet" {
            // geopandas does not write a bbox by default; Inlet computes it for the others.
            assert_eq!(summary["bbox"], case["bbox"], "{name}: bbox");
            let geo: J = serde_json::from_str(&d.schema.metadata()["geo"]).expect("geo");
            assert_eq!(geo["primary_column"], "geometry", "{name}");
        }
    }
}

#[tokio::test]
async fn projection_and_limit_apply() {
    let source = open("geojson", json!({"urlpath": "geo/places.geojson"}))
        .await
        .expect("open");
    let request = ReadRequest {
        projection: Some(vec!["geometry".into(), "name".into()]),
        limit: Some(3),
        ..ReadRequest::default()
    };
    let (_, got) = read_all(&source, request).await;
    assert_eq!(got.num_rows(), 3);
    let names: Vec<_> = got
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["geometry", "name"]);
    assert_eq!(
        got.schema().field(0).metadata()["ARROW:extension:name"],
        "geoarrow.wkb",
        "a projected geometry keeps its extension"
    );
}

#[tokio::test]
async fn intake_geopandas_spellings_resolve() {
    let mut r = inlet_driver::Registry::new();
    r.register(Arc::new(GeoJsonDriver))
        .register(Arc::new(ShapefileDriver))
        .register(Arc::new(GeoParquetDriver));
    for (written, name) in [
        ("intake_geopandas.geopandas.GeoJSONSource", "geojson"),
        ("intake_geopandas.geopandas.ShapefileSource", "shapefile"),
        ("intake_geopandas.geopandas.GeoParquetSource", "geoparquet"),
    ] {
        assert_eq!(r.resolve(written), Some(name), "{written}");
    }
}

#[tokio::test]
async fn geopandasfile_reads_each_format_by_its_extension() {
    for urlpath in [
        "geo/places.geojson",
        "zip://geo/parcels.zip",
        "geo/places.parquet",
    ] {
        let args: Map<String, J> =
            serde_json::from_value(json!({"urlpath": urlpath})).expect("args");
        let source = inlet_geo::GeoFileDriver
            .open(&args, &context())
            .await
            .expect("open");
        let d = source.discover().await.expect("discover");
        let (ext, _) = geometry_metadata(&d);
        assert_eq!(ext, "geoarrow.wkb", "{urlpath}");
    }
}

#[tokio::test]
async fn bad_files_are_typed_errors_naming_them() {
    let source = open("geojson", json!({"urlpath": "geo/broken.geojson"}))
        .await
        .expect("open");
    let e = source.discover().await.expect_err("truncated");
    assert!(
        matches!(&e, DriverError::Corrupt { location, message } if location.ends_with("geo/broken.geojson") && message.contains("line")),
        "{e}"
    );
    let source = open("shapefile", json!({"urlpath": "geo/empty.zip"}))
        .await
        .expect("open");
    let e = source.discover().await.expect_err("no shp");
    assert!(
        matches!(&e, DriverError::Corrupt { location, message } if location.ends_with("empty.zip") && message.contains("no .shp")),
        "{e}"
    );
    // A GeoJSON read as a shapefile: the .shp header is wrong.
    let source = open("shapefile", json!({"urlpath": "geo/places.geojson"}))
        .await
        .expect("open");
    let e = source.discover().await.expect_err("not a shapefile");
    assert!(
        matches!(&e, DriverError::Corrupt { location, .. } if location.contains("places.geojson")),
        "{e}"
    );
    let e = open("shapefile", json!({"urlpath": "zip://::geo/parcels.zip"}))
        .await
        .err()
        .expect("bad zip url");
    assert!(
        matches!(&e, DriverError::BadArg { arg, .. } if arg == "urlpath"),
        "{e}"
    );
}

#[tokio::test]
async fn documents_over_the_size_bound_are_refused_naming_the_file() {
    let ctx = context();
    for (urlpath, format) in [
        ("geo/places.geojson", "GeoJSON"),
        ("geo/parcels.zip", "zipped shapefile"),
    ] {
        let files = ctx
            .storage
            .resolve(&json!(urlpath), None, &ctx.catalog_dir)
            .await
            .expect("resolve");
        let limits = inlet_driver::Limits::default();
        let source: Arc<dyn Source> = if format == "GeoJSON" {
            Arc::new(DocumentSource::new(GeoJson, files, &limits, vec![]).with_max_bytes(100))
        } else {
            Arc::new(
                DocumentSource::new(Shapefile { member: None }, files, &limits, vec![])
                    .with_max_bytes(100),
            )
        };
        let e = source.discover().await.expect_err("too big");
        assert!(
            matches!(&e, DriverError::Unsupported(m) if m.contains(urlpath) && m.contains("at most 100 bytes") && m.contains(format)),
            "{e}"
        );
    }
}
