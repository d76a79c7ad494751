//! The numpy and intake-esm drivers on HTTP storage, through the service layer: an `.npy` file
//! read by range GETs (never whole), and an ESM catalog JSON whose relative `catalog_file` (a
//! gzip CSV) is resolved against the JSON's URL, as intake-esm does.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_schema::Schema;
use common::write_catalog;
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

async fn read(svc: &Service, name: &str, request: ReadRequest) -> arrow_array::RecordBatch {
    let (opened, d) = svc
        .discover(name, &BTreeMap::new())
        .await
        .expect("discover");
    let schema = d.projected_schema(&request).expect("schema");
    let stream = opened.source.read(request).await.expect("read");
    collect(schema, stream).await
}

/// A static file server on loopback over the fixtures, counting GETs and body bytes.
async fn server(served: Arc<AtomicU64>, gets: Arc<AtomicU64>) -> String {
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
async fn npy_and_esm_catalogs_read_over_http() {
    let (served, gets) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let base = server(served.clone(), gets.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = format!(
        "sources:
  arr:
    driver: numpy
    args:
      path: '{base}/numpy/long.npy'
      chunks: 30000
  cmip6:
    driver: intake_esm.esm_datastore
    args:
      esmcol_obj: '{base}/esm/collection_gz.json'
      columns_with_iterables: [variables]
"
    );
    let svc = service(&write_catalog(dir.path(), "remote.yaml", &yaml));

    let want = expected("expected/numpy/long.arrow");
    let got = read(&svc, "remote.arr", ReadRequest::default()).await;
    assert_same(&got, &want, "long.npy over HTTP");
    // One partition's first 10 rows: the header, then one small range.
    let before = served.load(Ordering::SeqCst);
    let part = read(
        &svc,
        "remote.arr",
        ReadRequest {
            partitions: Some(vec![2]),
            limit: Some(10),
            batch_size: 10,
            ..ReadRequest::default()
        },
    )
    .await;
    assert_same(&part, &want.slice(60_000, 10), "partition 2, 10 rows");
    let bytes = served.load(Ordering::SeqCst) - before;
    assert!(
        bytes < 8 * 1024,
        "{bytes} bytes for 10 rows of one partition"
    );

    let want = expected("expected/esm/assets.arrow");
    let got = read(&svc, "remote.cmip6", ReadRequest::default()).await;
    let got = arrow_array::RecordBatch::try_new(
        Arc::new(Schema::clone(&want.schema())),
        got.columns()
            .iter()
            .zip(want.schema().fields())
            .map(|(c, f)| arrow_cast::cast(c, f.data_type()).expect("cast"))
            .collect(),
    )
    .expect("batch");
    assert_same(&got, &want, "ESM catalog over HTTP");
    eprintln!(
        "served {} bytes in {} GETs",
        served.load(Ordering::SeqCst),
        gets.load(Ordering::SeqCst)
    );
}
