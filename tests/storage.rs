//! Sources on real object storage through the service layer: an S3 server (moto) and a static
//! HTTP server on loopback, read with the same catalogs and drivers as local files.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{write_catalog, HttpServer, S3Server};
use inlet::catalog::{EnvPolicy, Library};
use inlet::service::{Service, ServiceError};
use inlet_driver::testing::{assert_same, collect, expected, fixtures};
use inlet_driver::{DriverError, ReadRequest};

fn service(catalog: &Path) -> Service {
    let (library, diags) = Library::open(
        &[catalog.to_path_buf()],
        EnvPolicy::default(),
        std::sync::Arc::new(inlet::service::builtin_drivers()),
    );
    assert!(
        diags
            .iter()
            .all(|d| d.severity != inlet::catalog::Severity::Error),
        "{diags:#?}"
    );
    Service::new(library, vec![])
}

async fn read(svc: &Service, name: &str) -> Result<arrow_array::RecordBatch, ServiceError> {
    let (opened, d) = svc.discover(name, &BTreeMap::new()).await?;
    Ok(collect(
        d.schema.clone(),
        opened.source.read(ReadRequest::default()).await?,
    )
    .await)
}

/// Objects in the `public` bucket are uploaded public-read, the others private: moto then
/// refuses unsigned GETs of private objects, as S3 does.
async fn upload(client: &reqwest::Client, endpoint: &str, bucket: &str, key: &str, file: &Path) {
    let body = std::fs::read(file).expect("fixture");
    let acl = if bucket == "public" {
        "public-read"
    } else {
        "private"
    };
    let r = client
        .put(format!("{endpoint}/{bucket}/{key}"))
        .header("x-amz-acl", acl)
        .body(body)
        .send()
        .await
        .expect("put");
    assert!(r.status().is_success(), "upload {key}: {}", r.status());
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_anonymous_credentials_endpoint_and_globs() {
    let s3 = S3Server::start();
    let ep = s3.endpoint.clone();
    inlet_driver::storage::ensure_tls_provider();
    let client = reqwest::Client::new();
    for bucket in ["public", "private"] {
        let r = client
            .put(format!("{ep}/{bucket}"))
            .send()
            .await
            .expect("create bucket");
        assert!(r.status().is_success(), "create {bucket}: {}", r.status());
    }
    let fx = fixtures();
    for part in 0..4 {
        let name = format!("part-000{part}.parquet");
        upload(
            &client,
            &ep,
            "public",
            &format!("multi/{name}"),
            &fx.join("parquet/multi").join(&name),
        )
        .await;
    }
    upload(
        &client,
        &ep,
        "public",
        "multi/notes.txt",
        &fx.join("manifest.json"),
    )
    .await;
    upload(
        &client,
        &ep,
        "private",
        "data/types.parquet",
        &fx.join("parquet/types.parquet"),
    )
    .await;
    upload(
        &client,
        &ep,
        "public",
        "csv/gzip.csv.gz",
        &fx.join("csv/gzip.csv.gz"),
    )
    .await;

    let dir = tempfile::tempdir().expect("tmp");
    let yaml = format!(
        "sources:
  anon_glob:
    driver: parquet
    args:
      urlpath: s3://public/multi/part-*.parquet
      storage_options: {{anon: true, client_kwargs: {{endpoint_url: '{ep}', region_name: us-east-1}}}}
  with_keys:
    driver: parquet
    args:
      urlpath: s3://private/data/types.parquet
      storage_options: {{key: testing, secret: testing, endpoint_url: '{ep}', region: us-east-1}}
  private_anon:
    driver: parquet
    args:
      urlpath: s3://private/data/types.parquet
      storage_options: {{anon: true, endpoint_url: '{ep}'}}
  missing:
    driver: parquet
    args:
      urlpath: s3://private/data/nope.parquet
      storage_options: {{key: testing, secret: testing, endpoint_url: '{ep}'}}
  bad_option:
    driver: parquet
    args:
      urlpath: s3://public/multi/part-0000.parquet
      storage_options: {{anon: true, endpoint_url: '{ep}', profile: default}}
  gz_csv:
    driver: csv
    args:
      urlpath: s3://public/csv/gzip.csv.gz
      storage_options: {{anon: true, endpoint_url: '{ep}'}}
"
    );
    let svc = service(&write_catalog(dir.path(), "s3.yaml", &yaml));

    let (_, d) = svc
        .discover("s3.anon_glob", &BTreeMap::new())
        .await
        .expect("anon glob");
    assert_eq!(
        d.files.len(),
        4,
        "the glob matched the four parts, not notes.txt"
    );
    assert!(
        d.files[0]
            .location
            .starts_with("s3://public/multi/part-0000.parquet"),
        "{:?}",
        d.files[0]
    );
    assert!(d.files[0].etag.is_some(), "fingerprints carry the ETag");
    assert_same(
        &read(&svc, "s3.anon_glob").await.expect("read"),
        &expected("expected/parquet/multi.arrow"),
        "s3 glob",
    );

    let got = read(&svc, "s3.with_keys").await.expect("signed read");
    assert_same(
        &got,
        &expected("expected/parquet/types.parquet.arrow"),
        "s3 with keys",
    );

    // Unsigned requests cannot read a private object: `anon` really means anonymous.
    let denied = read(&svc, "s3.private_anon")
        .await
        .expect_err("anonymous read of a private object");
    assert!(denied.to_string().contains("denied"), "{denied}");

    let missing = svc
        .open("s3.missing", &BTreeMap::new())
        .await
        .err()
        .expect("missing object");
    assert!(
        matches!(missing, ServiceError::Driver(DriverError::NotFound(_))),
        "{missing}"
    );
    let bad = svc
        .open("s3.bad_option", &BTreeMap::new())
        .await
        .err()
        .expect("unknown option");
    assert!(bad.to_string().contains("storage_options.profile"), "{bad}");

    let csv = read(&svc, "s3.gz_csv").await.expect("gzip csv over s3");
    assert_eq!(
        csv.num_rows(),
        expected("expected/csv/gzip.csv.gz.arrow").num_rows()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_files_read_with_range_requests() {
    let server = HttpServer::start(&fixtures()).await;
    let base = &server.base;
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = format!(
        "sources:
  types:
    driver: parquet
    args: {{urlpath: '{base}/parquet/types.parquet'}}
  parts:
    driver: parquet
    args:
      urlpath: ['{base}/parquet/multi/part-0000.parquet', '{base}/parquet/multi/part-0001.parquet']
  missing:
    driver: parquet
    args: {{urlpath: '{base}/parquet/nope.parquet'}}
  globbed:
    driver: parquet
    args: {{urlpath: '{base}/parquet/multi/*.parquet'}}
"
    );
    let svc = service(&write_catalog(dir.path(), "web.yaml", &yaml));
    let got = read(&svc, "web.types").await.expect("http read");
    assert_same(
        &got,
        &expected("expected/parquet/types.parquet.arrow"),
        "http",
    );
    let (_, d) = svc
        .discover("web.parts", &BTreeMap::new())
        .await
        .expect("list of urls");
    assert_eq!((d.files.len(), d.partitions.len()), (2, 4));
    let missing = svc
        .open("web.missing", &BTreeMap::new())
        .await
        .err()
        .expect("404");
    assert!(
        matches!(missing, ServiceError::Driver(DriverError::NotFound(_))),
        "{missing}"
    );
    let glob = svc
        .open("web.globbed", &BTreeMap::new())
        .await
        .err()
        .expect("no listing over http");
    assert!(
        matches!(glob, ServiceError::Driver(DriverError::Unsupported(_))),
        "{glob}"
    );
}
