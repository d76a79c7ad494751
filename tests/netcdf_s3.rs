//! NetCDF files on S3 (a moto server on loopback) through the service layer: a glob of
//! NetCDF 4 files joined along time and a window of a NetCDF 3 file, read by range GETs and
//! compared with xarray's tables (target/fixtures, tests/fixtures/make_netcdf_fixtures.py).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use common::{write_catalog, S3Server};
use inlet::catalog::{EnvPolicy, Library};
use inlet::service::Service;
use inlet_driver::testing::{assert_same, collect, expected, fixtures};
use inlet_driver::ReadRequest;

/// The driver's table in xarray's pandas types (timestamps in ns, masked ints as float64).
fn like(got: &RecordBatch, want: &RecordBatch) -> RecordBatch {
    let columns = got
        .columns()
        .iter()
        .zip(want.schema().fields())
        .map(|(c, f)| arrow_cast::cast(c, f.data_type()).expect("cast"))
        .collect();
    RecordBatch::try_new(want.schema(), columns).expect("batch")
}

#[tokio::test(flavor = "multi_thread")]
async fn netcdf_globs_and_windows_read_from_s3() {
    let s3 = S3Server::start();
    let ep = s3.endpoint.clone();
    inlet_driver::storage::ensure_tls_provider();
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{ep}/grids"))
        .send()
        .await
        .expect("create bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    let fx = fixtures().join("netcdf");
    for key in [
        "parts/part_0.nc",
        "parts/part_1.nc",
        "parts/part_2.nc",
        "big_nc3.nc",
    ] {
        let body = std::fs::read(fx.join(key)).expect("fixture");
        let r = client
            .put(format!("{ep}/grids/{key}"))
            .header("x-amz-acl", "public-read")
            .body(body)
            .send()
            .await
            .expect("put");
        assert!(r.status().is_success(), "upload {key}: {}", r.status());
    }
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = format!(
        "sources:
  parts:
    driver: intake_xarray.netcdf.NetCDFSource
    args:
      urlpath: s3://grids/parts/part_*.nc
      concat_dim: time
      combine: nested
      storage_options: {{anon: true, client_kwargs: {{endpoint_url: '{ep}', region_name: us-east-1}}}}
  window:
    driver: netcdf
    args:
      urlpath: s3://grids/big_nc3.nc
      isel: {{time: [0, 8]}}
      storage_options: {{anon: true, endpoint_url: '{ep}'}}
"
    );
    let catalog = write_catalog(dir.path(), "nc.yaml", &yaml);
    let (library, diags) = Library::open(
        &[catalog],
        EnvPolicy::default(),
        Arc::new(inlet::service::builtin_drivers()),
    );
    assert!(
        diags
            .iter()
            .all(|d| d.severity != inlet::catalog::Severity::Error),
        "{diags:#?}"
    );
    let svc = Service::new(library, vec![]);
    for (name, want) in [
        ("nc.parts", "expected/netcdf/parts.arrow"),
        ("nc.window", "expected/netcdf/big_nc3_window.arrow"),
    ] {
        let (opened, d) = svc
            .discover(name, &BTreeMap::new())
            .await
            .expect("discover");
        assert!(d
            .files
            .iter()
            .all(|f| f.location.starts_with("s3://grids/")));
        let stream = opened.source.read(ReadRequest::default()).await;
        let got = collect(d.schema.clone(), stream.expect("read")).await;
        let want = expected(want);
        assert_same(&like(&got, &want), &want, name);
    }
}
