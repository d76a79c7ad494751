//! Azure Blob Storage through a real emulator (Azurite on loopback), with the
//! `storage_options` spelling adlfs-based Intake catalogs use (`connection_string`): a Parquet
//! file and a glob of CSV files read over HTTP equal what was uploaded.

mod common;

use std::process::Command;

use common::{python, AzuriteServer, InletServer};
use inlet_driver::testing::fixtures;

/// Uploads `files` (local path, blob name) into a new container `data`, with Azure's Python SDK.
fn upload(connection_string: &str, files: &[(&std::path::Path, &str)]) {
    let mut script = String::from(
        "import sys\nfrom azure.storage.blob import BlobServiceClient\n\
         c = BlobServiceClient.from_connection_string(sys.argv[1]).create_container('data')\n",
    );
    for (path, name) in files {
        script.push_str(&format!(
            "c.upload_blob({name:?}, open({:?}, 'rb').read())\n",
            path.display().to_string()
        ));
    }
    let out = Command::new(python())
        .args(["-c", &script, connection_string])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "upload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parquet_and_csv_globs_read_from_azurite_with_a_connection_string() {
    inlet_driver::storage::ensure_tls_provider();
    let azurite = AzuriteServer::start();
    let fx = fixtures();
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("a.csv"), "id,name\n1,one\n2,two\n").expect("csv");
    std::fs::write(dir.path().join("b.csv"), "id,name\n3,three\n").expect("csv");
    upload(
        &azurite.connection_string,
        &[
            (&fx.join("parquet/types.parquet"), "tables/types.parquet"),
            (&dir.path().join("a.csv"), "parts/a.csv"),
            (&dir.path().join("b.csv"), "parts/b.csv"),
        ],
    );
    let options = format!("{{connection_string: '{}'}}", azurite.connection_string);
    let cat = dir.path().join("az.yaml");
    std::fs::write(
        &cat,
        format!(
            "sources:
  types:
    driver: parquet
    args: {{urlpath: 'az://data/tables/types.parquet', storage_options: {options}}}
  parts:
    driver: csv
    args: {{urlpath: 'abfs://data/parts/*.csv', storage_options: {options}}}
"
        ),
    )
    .expect("catalog");
    let server = InletServer::start(&["--catalog", cat.to_str().expect("utf8")], &[]);
    let c = reqwest::Client::new();

    let d = server.json("/api/v1/sources/az.types").await;
    assert_eq!(d["discovery"]["total_rows"], 10_000, "{d}");
    let body = c
        .get(server.url("/api/v1/sources/az.types/data"))
        .send()
        .await
        .expect("read")
        .bytes()
        .await
        .expect("body");
    let rows: usize = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
        .expect("IPC")
        .map(|b| b.expect("batch").num_rows())
        .sum();
    assert_eq!(rows, 10_000);

    let csv = c
        .get(server.url("/api/v1/sources/az.parts/data?format=csv"))
        .send()
        .await
        .expect("read");
    assert_eq!(csv.status(), 200);
    assert_eq!(
        csv.text().await.expect("text"),
        "id,name\n1,one\n2,two\n3,three\n"
    );
}
