//! Arrow Flight against a real `inlet serve`: the Rust `arrow-flight` client lists, plans and
//! fetches every endpoint in parallel; tickets cross between HTTP and Flight; bad tickets get
//! distinct codes; a failure mid-stream reaches the client as an error; pyarrow.flight reads
//! the same data (tests/clients/check_flight.py).

mod common;

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{
    Action, Criteria, Empty, FlightDescriptor, FlightEndpoint, FlightInfo,
    RenewFlightEndpointRequest, Ticket,
};
use common::InletServer;
use futures::{StreamExt, TryStreamExt};
use inlet::service::tickets::{now, Claims, TicketKey};
use inlet_driver::testing::{assert_same, expected, fixtures};
use prost::Message;
use tonic::transport::Channel;
use tonic::Code;

fn start(dir: &Path) -> InletServer {
    inlet_driver::storage::ensure_tls_provider();
    let fx = fixtures();
    let yaml = format!(
        "sources:
  big:
    description: a million rows in 16 row groups
    driver: parquet
    args: {{urlpath: '{fx}/parquet/big.parquet'}}
  types:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/types.parquet'}}
  copy:
    driver: parquet
    args: {{urlpath: '{{{{ CATALOG_DIR }}}}/copy.parquet'}}
",
        fx = fx.display()
    );
    std::fs::write(dir.join("fl.yaml"), yaml).expect("catalog");
    std::fs::copy(fx.join("parquet/big.parquet"), dir.join("copy.parquet")).expect("copy");
    InletServer::start(
        &[
            "--catalog",
            dir.join("fl.yaml").to_str().expect("utf8"),
            "--allow-path",
            fx.to_str().expect("utf8"),
        ],
        &[],
    )
}

async fn client(server: &InletServer) -> FlightServiceClient<Channel> {
    let uri = server.flight.replace("grpc://", "http://");
    let channel = Channel::from_shared(uri)
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    FlightServiceClient::new(channel).max_decoding_message_size(usize::MAX)
}

async fn info(c: &mut FlightServiceClient<Channel>, path: &[&str]) -> FlightInfo {
    let d = FlightDescriptor::new_path(path.iter().map(|s| s.to_string()).collect());
    c.get_flight_info(d).await.expect("info").into_inner()
}

/// One endpoint's batches, as one batch.
async fn fetch(
    mut c: FlightServiceClient<Channel>,
    ticket: Ticket,
    compression: Option<&str>,
) -> Result<Vec<RecordBatch>, tonic::Status> {
    let mut request = tonic::Request::new(ticket);
    if let Some(codec) = compression {
        request
            .metadata_mut()
            .insert("x-inlet-compression", codec.parse().expect("ascii"));
    }
    let stream = c.do_get(request).await?.into_inner();
    FlightRecordBatchStream::new_from_flight_data(stream.map_err(Into::into))
        .try_collect()
        .await
        .map_err(|e| match e {
            arrow_flight::error::FlightError::Tonic(s) => *s,
            other => tonic::Status::unknown(other.to_string()),
        })
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    let schema = batches.first().expect("a batch").schema();
    arrow_select::concat::concat_batches(&schema, batches).expect("concat")
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_fetched_in_parallel_equal_pyarrow_and_tickets_cross_planes() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start(dir.path());
    let mut c = client(&server).await;

    let listed: Vec<FlightInfo> = c
        .list_flights(Criteria {
            expression: "million".into(),
        })
        .await
        .expect("list")
        .into_inner()
        .try_collect()
        .await
        .expect("infos");
    assert_eq!(listed.len(), 1, "search text filters the list");
    let d = listed[0].flight_descriptor.clone().expect("descriptor");
    assert_eq!(d.path, vec!["fl", "big"]);

    let plan = info(&mut c, &["fl", "big"]).await;
    assert_eq!(plan.total_records, 1_000_000);
    assert!(plan.ordered);
    assert!(
        plan.endpoint.len() >= 4,
        "{} endpoints",
        plan.endpoint.len()
    );
    for e in &plan.endpoint {
        assert_eq!(e.location[0].uri, server.flight);
        assert!(e.expiration_time.is_some());
    }
    let tasks: Vec<_> = plan
        .endpoint
        .iter()
        .map(|e| {
            let (c, t) = (c.clone(), e.ticket.clone().expect("ticket"));
            tokio::spawn(async move { fetch(c, t, None).await })
        })
        .collect();
    let mut batches = vec![];
    for t in tasks {
        batches.extend(t.await.expect("join").expect("endpoint"));
    }
    let want = expected("expected/parquet/big.parquet.arrow");
    assert_same(
        &concat(&batches),
        &want,
        "big over Flight, 16 parallel endpoints",
    );
    let schema = plan.clone().try_decode_schema().expect("schema");
    assert_eq!(&schema, want.schema().as_ref());

    // A dotted one-element path and a JSON command plan the same source.
    let cmd = serde_json::json!({"source": "fl.types", "columns": ["int32"], "limit": 3});
    let by_cmd = c
        .get_flight_info(FlightDescriptor::new_cmd(cmd.to_string()))
        .await
        .expect("cmd")
        .into_inner();
    assert_eq!(by_cmd.endpoint.len(), 1, "a limit is one endpoint");
    let got = fetch(
        c.clone(),
        by_cmd.endpoint[0].ticket.clone().expect("t"),
        Some("zstd"),
    )
    .await
    .expect("types over Flight, zstd");
    let got = concat(&got);
    assert_eq!(got.num_rows(), 3);
    assert_eq!(got.schema().field(0).name(), "int32");
    let schema = c
        .get_schema(FlightDescriptor::new_path(vec!["fl.types".into()]))
        .await
        .expect("schema")
        .into_inner();
    assert!(!schema.schema.is_empty());

    // A ticket planned over HTTP is redeemed by DoGet ...
    let http = reqwest::Client::new();
    let plan_json: serde_json::Value = http
        .post(server.url("/api/v1/sources/fl.types/plan"))
        .body(r#"{"max_endpoints": 1}"#)
        .send()
        .await
        .expect("plan")
        .json()
        .await
        .expect("json");
    let ticket = plan_json["endpoints"][0]["ticket"]
        .as_str()
        .expect("ticket");
    let over_flight = fetch(c.clone(), Ticket::new(ticket.to_string()), Some("lz4"))
        .await
        .expect("HTTP ticket over Flight");
    let types = expected("expected/parquet/types.parquet.arrow");
    assert_same(
        &concat(&over_flight),
        &types,
        "HTTP-planned types over Flight",
    );
    // ... and a Flight ticket over HTTP.
    let flight_ticket =
        String::from_utf8(plan.endpoint[0].ticket.clone().expect("t").ticket.to_vec())
            .expect("utf8");
    let r = http
        .get(server.url(&format!("/api/v1/tickets/{flight_ticket}")))
        .send()
        .await
        .expect("redeem");
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.expect("body");
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None).expect("ipc");
    let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
    assert_eq!(rows, 65_536, "endpoint 0 is the first row group");

    // Renewing re-signs the ticket with a later expiry; the new ticket reads.
    let endpoint = plan.endpoint[0].clone();
    let before = endpoint.expiration_time.expect("expiry").seconds;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let body = RenewFlightEndpointRequest {
        endpoint: Some(endpoint),
    }
    .encode_to_vec();
    let renewed: Vec<arrow_flight::Result> = c
        .do_action(Action::new("RenewFlightEndpoint", body))
        .await
        .expect("renew")
        .into_inner()
        .try_collect()
        .await
        .expect("result");
    let renewed = FlightEndpoint::decode(renewed[0].body.clone()).expect("endpoint");
    assert!(renewed.expiration_time.expect("expiry").seconds > before);
    let again = fetch(c.clone(), renewed.ticket.expect("t"), None)
        .await
        .expect("renewed ticket");
    assert_eq!(concat(&again).num_rows() as u64, rows as u64);

    let actions: Vec<_> = c
        .list_actions(Empty {})
        .await
        .expect("actions")
        .into_inner()
        .try_collect()
        .await
        .expect("list");
    let names: Vec<&str> = actions.iter().map(|a| a.r#type.as_str()).collect();
    assert_eq!(names, ["RenewFlightEndpoint", "CancelFlightInfo"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tickets_get_codes_that_say_which() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start(dir.path());
    let c = client(&server).await;
    let code = |r: Result<Vec<RecordBatch>, tonic::Status>| r.expect_err("refused").code();

    let garbage = fetch(c.clone(), Ticket::new("not a ticket"), None).await;
    assert_eq!(code(garbage), Code::InvalidArgument);

    let claims = Claims {
        source: "fl.types".into(),
        partitions: None,
        columns: None,
        limit: None,
        params: Default::default(),
        revision: String::new(),
        expires: now() + 60,
        token: None,
        data_version: None,
    };
    let forged = TicketKey::new(vec![1u8; 32]).sign(&claims);
    let forged = fetch(c.clone(), Ticket::new(forged), None).await;
    let forged = forged.expect_err("forged");
    assert_eq!(forged.code(), Code::PermissionDenied);
    assert!(
        forged.message().contains("signature"),
        "{}",
        forged.message()
    );

    // Signed with the server's own key but expired.
    let key = TicketKey::load_or_create(&server.state_dir.path().join("ticket.key")).expect("key");
    let revision: serde_json::Value = reqwest::get(server.url("/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    let expired = Claims {
        revision: revision["revision"].as_str().expect("rev").to_string(),
        expires: now() - 1,
        token: None,
        ..claims
    };
    let expired = fetch(c.clone(), Ticket::new(key.sign(&expired)), None).await;
    assert_eq!(code(expired), Code::Unauthenticated);

    let mut c2 = c.clone();
    let missing = c2
        .get_flight_info(FlightDescriptor::new_path(vec!["fl".into(), "nope".into()]))
        .await
        .expect_err("no such source");
    assert_eq!(missing.code(), Code::NotFound);
    assert!(
        missing.message().starts_with("not-found: "),
        "{}",
        missing.message()
    );
    let bad_cmd = c2
        .get_flight_info(FlightDescriptor::new_cmd("{\"source\": 1}"))
        .await
        .expect_err("bad command");
    assert_eq!(bad_cmd.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_deleted_mid_stream_fails_the_flight_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start(dir.path());
    let mut c = client(&server).await;
    let plan = info(&mut c, &["fl", "copy"]).await;
    let cmd = serde_json::json!({"source": "fl.copy", "max_endpoints": 1});
    let one = c
        .get_flight_info(FlightDescriptor::new_cmd(cmd.to_string()))
        .await
        .expect("plan")
        .into_inner();
    assert!(plan.endpoint.len() > 1 && one.endpoint.len() == 1);
    let ticket = one.endpoint[0].ticket.clone().expect("ticket");
    let mut stream = c.do_get(ticket).await.expect("do_get").into_inner();
    let first = stream.next().await.expect("a message").expect("ok");
    assert!(!first.data_header.is_empty());
    std::fs::remove_file(dir.path().join("copy.parquet")).expect("delete");
    let mut outcome = Ok(0usize);
    while let Some(m) = stream.next().await {
        match m {
            Ok(_) => outcome = outcome.map(|n| n + 1),
            Err(s) => {
                outcome = Err(s);
                break;
            }
        }
    }
    let status = outcome.expect_err("the stream must end in an error, not cleanly");
    assert_ne!(status.code(), Code::Ok);
}

#[test]
fn pyarrow_flight_reads_what_the_server_streams() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start(dir.path());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(common::python())
        .arg(repo.join("tests/clients/check_flight.py"))
        .arg(&server.flight)
        .arg(&server.base)
        .arg(fixtures())
        .output()
        .expect("run check_flight.py");
    assert!(
        out.status.success(),
        "check_flight.py failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
