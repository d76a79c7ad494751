//! GeoTIFFs on remote storage through the service layer: a COG window over plain HTTP reads
//! the header and the window's tiles by Range requests, a small part of the file; a path
//! pattern over S3 (moto) lists, stacks and labels bands as the Landsat catalogs of the corpus
//! ask (`s3://.../band{band:d}.tif`, `concat_dim: band`, `anon: true`).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{write_catalog, S3Server};
use inlet::catalog::{EnvPolicy, Library};
use inlet::service::Service;
use inlet_driver::testing::{assert_same, collect, expected, fixtures};
use inlet_driver::ReadRequest;

fn service(catalog: &std::path::Path) -> Service {
    let (library, diags) = Library::open(
        &[catalog.to_path_buf()],
        EnvPolicy::default(),
        Arc::new(inlet::service::builtin_drivers()),
    );
    assert!(
        diags
            .iter()
            .all(|d| d.severity != inlet::catalog::Severity::Error),
        "{diags:#?}"
    );
    Service::new(library, vec![])
}

async fn read(svc: &Service, name: &str) -> arrow_array::RecordBatch {
    let (opened, d) = svc
        .discover(name, &BTreeMap::new())
        .await
        .expect("discover");
    let stream = opened
        .source
        .read(ReadRequest::default())
        .await
        .expect("read");
    collect(d.schema.clone(), stream).await
}

/// A static file server on loopback that counts the body bytes of its GET responses.
async fn counting_server(served: Arc<AtomicU64>, gets: Arc<AtomicU64>) -> String {
    let app = axum::Router::new()
        .fallback_service(tower_http::services::ServeDir::new(fixtures()))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let (served, gets) = (served.clone(), gets.clone());
                async move {
                    let is_get = req.method() == axum::http::Method::GET;
                    let resp = next.run(req).await;
                    let len = resp
                        .headers()
                        .get(axum::http::header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                    if let (true, Some(len)) = (is_get, len) {
                        served.fetch_add(len, Ordering::SeqCst);
                        gets.fetch_add(1, Ordering::SeqCst);
                    }
                    resp
                }
            },
        ));
    let addr = common::serve_loopback(app).await;
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cog_window_over_http_reads_a_small_part_of_the_file() {
    let (served, gets) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let base = counting_server(served.clone(), gets.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = format!(
        "sources:
  window:
    driver: rasterio
    args:
      urlpath: '{base}/geotiff/cog.tif'
      isel: {{y: [70, 135], x: [130, 200]}}
"
    );
    let svc = service(&write_catalog(dir.path(), "cog.yaml", &yaml));
    let got = read(&svc, "cog.window").await;
    let want = expected("expected/geotiff/cog_window.arrow");
    assert_same(&got, &want, "COG window over HTTP");
    let size = std::fs::metadata(fixtures().join("geotiff/cog.tif"))
        .expect("fixture")
        .len();
    let (bytes, requests) = (served.load(Ordering::SeqCst), gets.load(Ordering::SeqCst));
    eprintln!("COG window over HTTP: {bytes} of {size} bytes in {requests} GETs");
    // The 16 KiB header read, then two GETs of two adjacent tiles each (~10 KiB a tile).
    assert_eq!(requests, 3, "{bytes} bytes in {requests} GETs");
    assert!(
        bytes * 20 < size,
        "{bytes} of {size} bytes in {requests} GETs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_band_pattern_on_s3_stacks_bands_as_intake_xarray_does() {
    let s3 = S3Server::start();
    let ep = s3.endpoint.clone();
    inlet_driver::storage::ensure_tls_provider();
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{ep}/landsat"))
        .send()
        .await
        .expect("create bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    for band in 1..=3 {
        let body =
            std::fs::read(fixtures().join(format!("geotiff/bands/b{band}.tif"))).expect("fixture");
        let r = client
            .put(format!("{ep}/landsat/small/scene_band{band}.tif"))
            .header("x-amz-acl", "public-read")
            .body(body)
            .send()
            .await
            .expect("put");
        assert!(
            r.status().is_success(),
            "upload band {band}: {}",
            r.status()
        );
    }
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = format!(
        "sources:
  scene:
    driver: rasterio
    args:
      urlpath: 's3://landsat/small/scene_band{{band:d}}.tif'
      chunks: {{band: 1, x: 50, y: 50}}
      concat_dim: band
      storage_options: {{anon: true, client_kwargs: {{endpoint_url: '{ep}', region_name: us-east-1}}}}
"
    );
    let svc = service(&write_catalog(dir.path(), "landsat.yaml", &yaml));
    let got = read(&svc, "landsat.scene").await;
    assert_same(
        &got,
        &expected("expected/geotiff/bands_pattern.arrow"),
        "band pattern on S3",
    );
}
