//! A driver registered by a third party, with no change to Inlet: its names resolve in
//! catalogs (Intake v1 spellings and an Intake 2 datatype), and its sources are listed,
//! described, read and planned over HTTP like the built-in ones.

mod common;

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use futures::StreamExt;
use inlet::api::{router, AppState};
use inlet::config::ServeConfig;
use inlet::service::tickets::TicketKey;
use inlet::service::{builtin_drivers, Core};
use inlet_driver::{
    BatchStream, Discovery, Driver, DriverError, DriverNames, OpenContext, Partition, ReadRequest,
    Result, Source,
};
use serde_json::Value as J;

/// Counts from 0 to `rows - 1` in two partitions.
struct Counter;

struct CounterSource {
    rows: i64,
    schema: SchemaRef,
}

#[async_trait]
impl Driver for Counter {
    fn name(&self) -> &'static str {
        "counter"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &["acme_intake.CounterSource"],
            intake2_datatypes: &["Counter"],
        }
    }

    async fn open(
        &self,
        args: &serde_json::Map<String, J>,
        _ctx: &OpenContext,
    ) -> Result<Arc<dyn Source>> {
        let rows = args
            .get("rows")
            .and_then(J::as_i64)
            .ok_or_else(|| DriverError::bad_arg("rows", "`rows` must be an integer"))?;
        Ok(Arc::new(CounterSource {
            rows,
            schema: Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
        }))
    }
}

impl CounterSource {
    fn range(&self, partition: usize) -> std::ops::Range<i64> {
        let half = self.rows / 2;
        if partition == 0 {
            0..half
        } else {
            half..self.rows
        }
    }
}

#[async_trait]
impl Source for CounterSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        let partitions = (0..2)
            .map(|id| Partition {
                id,
                label: format!("half-{id}"),
                file: 0,
                estimated_rows: Some(self.range(id).count() as u64),
                estimated_bytes: None,
            })
            .collect();
        Ok(Arc::new(Discovery {
            schema: self.schema.clone(),
            partitions,
            total_rows: Some(self.rows as u64),
            total_bytes: None,
            files: vec![],
            statistics: vec![],
            metadata: Default::default(),
            warnings: vec![],
        }))
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let discovery = self.discover().await?;
        let parts: Vec<usize> = discovery.select(&request)?.iter().map(|p| p.id).collect();
        let schema = self.schema.clone();
        let batches: Vec<Result<RecordBatch>> = parts
            .into_iter()
            .map(|p| {
                let values: Int64Array = self.range(p).collect::<Vec<_>>().into();
                RecordBatch::try_new(schema.clone(), vec![Arc::new(values)])
                    .map_err(|e| DriverError::Io(e.to_string()))
            })
            .collect();
        Ok(inlet_driver::limit_stream(
            futures::stream::iter(batches).boxed(),
            request.limit,
        ))
    }
}

const CATALOG: &str = "\
sources:
  counted:
    description: numbers from a plugin
    driver: acme_intake.CounterSource
    args:
      rows: 10
  short:
    driver: counter
    args:
      rows: 4
";

const INTAKE2: &str = "\
version: 2
data:
  d1:
    datatype: acme:Counter
    kwargs:
      url: nowhere
entries:
  via_datatype:
    reader: acme.CounterReader
    kwargs:
      data: '{data(d1)}'
";

async fn serve(drivers: inlet_driver::Registry, dir: &std::path::Path) -> String {
    inlet_driver::storage::ensure_tls_provider();
    let config = ServeConfig {
        catalogs: vec![dir.to_path_buf()],
        ..ServeConfig::default()
    };
    let store = inlet::store::Store::memory().await.expect("store");
    let core = Arc::new(Core::new(
        config,
        Arc::new(drivers),
        TicketKey::new(vec![7u8; 32]),
        store,
    ));
    core.start();
    let app = router(AppState::new(core, None));
    let addr = common::serve_loopback(app).await;
    format!("http://{addr}")
}

async fn get_json(url: &str) -> (u16, J) {
    let r = reqwest::get(url).await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

async fn ipc_values(url: &str) -> Vec<i64> {
    let r = reqwest::get(url).await.expect("request");
    assert_eq!(r.status(), 200, "{url}");
    let bytes = r.bytes().await.expect("body");
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .expect("an Arrow IPC stream");
    reader
        .flat_map(|b| {
            let b = b.expect("batch");
            let col = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("int64")
                .clone();
            col.values().to_vec()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registered_driver_is_listed_described_read_and_planned() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("plug.yaml"), CATALOG).expect("write");
    std::fs::write(dir.path().join("v2.yaml"), INTAKE2).expect("write");
    let mut drivers = builtin_drivers();
    drivers.register(Arc::new(Counter));
    let base = serve(drivers, dir.path()).await;

    let (status, cat) = get_json(&format!("{base}/api/v1/catalogs/plug")).await;
    assert_eq!(status, 200, "{cat}");
    let counted = &cat["entries"][0];
    assert_eq!(counted["name"], "plug.counted");
    assert_eq!(counted["driver"], "acme_intake.CounterSource");
    assert_eq!(counted["status"], "ok", "{cat}");

    let (status, d) = get_json(&format!("{base}/api/v1/sources/plug.counted")).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["driver"]["resolved"], "counter", "{d}");
    assert_eq!(d["discovery"]["total_rows"], 10, "{d}");
    assert_eq!(d["discovery"]["schema"][0]["name"], "n");

    let all = ipc_values(&format!("{base}/api/v1/sources/plug.counted/data")).await;
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    let second = ipc_values(&format!(
        "{base}/api/v1/sources/plug.short/data?partition=1"
    ))
    .await;
    assert_eq!(second, vec![2, 3]);

    // Planned in two endpoints whose union is the whole read.
    let plan: J = reqwest::Client::new()
        .post(format!("{base}/api/v1/sources/plug.counted/plan"))
        .body("{}")
        .send()
        .await
        .expect("plan")
        .json()
        .await
        .expect("json");
    let endpoints = plan["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), 2, "{plan}");
    let mut union = vec![];
    for e in endpoints {
        let url = e["locations"][0].as_str().expect("location");
        union.extend(ipc_values(url).await);
    }
    assert_eq!(union, (0..10).collect::<Vec<_>>());

    // The Intake 2 datatype the driver claims maps to it.
    let (status, v2) = get_json(&format!("{base}/api/v1/catalogs/v2")).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["entries"][0]["driver"], "counter", "{v2}");
    assert_eq!(v2["entries"][0]["status"], "ok", "{v2}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_driver_the_entry_is_listed_as_unsupported() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("plug.yaml"), CATALOG).expect("write");
    let base = serve(builtin_drivers(), dir.path()).await;
    let (_, cat) = get_json(&format!("{base}/api/v1/catalogs/plug")).await;
    assert_eq!(
        cat["entries"][0]["status"],
        "unsupported driver: acme_intake.CounterSource"
    );
    let r = reqwest::get(format!("{base}/api/v1/sources/plug.counted/data"))
        .await
        .expect("request");
    assert_eq!(r.status(), 501);
    let p: J = r.json().await.expect("problem");
    assert_eq!(p["type"], "/problems/unsupported-driver");
}
