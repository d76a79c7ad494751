//! Pinned catalog revisions against a real `inlet serve` over a real git repository: `?ref=`
//! serves each commit's catalogs (descriptions, data, search), a plan made before a commit
//! still reads what it planned, `/api/v1/revisions` and `/sources/{s}/history` list the
//! commits, and bad refs or catalogs outside git are clear errors.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::InletServer;
use serde_json::Value as J;

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.org"])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn catalog(description: &str, data: &str) -> String {
    format!(
        "sources:
  t:
    description: {description}
    driver: csv
    args: {{urlpath: '{{{{ CATALOG_DIR }}}}/{data}'}}
  other:
    description: never changes
    driver: csv
    args: {{urlpath: '{{{{ CATALOG_DIR }}}}/a.csv'}}
"
    )
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

async fn get(server: &InletServer, path: &str) -> (u16, J) {
    let r = reqwest::get(server.url(path)).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(J::Null))
}

async fn rows(server: &InletServer, path: &str) -> usize {
    let r = reqwest::get(server.url(path)).await.expect("GET");
    assert_eq!(r.status(), 200, "{path}");
    let body = r.bytes().await.expect("body");
    arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
        .expect("IPC")
        .map(|b| b.expect("batch").num_rows())
        .sum()
}

async fn description(server: &InletServer, query: &str) -> String {
    let (status, v) = get(server, &format!("/api/v1/sources/cat.t{query}")).await;
    assert_eq!(status, 200, "{v}");
    v["description"].as_str().unwrap_or_default().to_string()
}

/// Waits until the server reloaded the edited catalogs.
async fn until_described(server: &InletServer, expected: &str) {
    for _ in 0..100 {
        if description(server, "").await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server never served `{expected}`");
}

async fn plan_ticket(server: &InletServer, query: &str) -> String {
    let r = reqwest::Client::new()
        .post(server.url(&format!("/api/v1/sources/cat.t/plan{query}")))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("plan");
    assert_eq!(r.status(), 200);
    let plan: J = r.json().await.expect("plan JSON");
    plan["endpoints"][0]["ticket"]
        .as_str()
        .expect("ticket")
        .to_string()
}

/// Rows of `cat.t` at `reference`, planned and fetched over Arrow Flight.
async fn flight_rows(server: &InletServer, reference: &str) -> usize {
    use arrow_flight::decode::FlightRecordBatchStream;
    use arrow_flight::flight_service_client::FlightServiceClient;
    use arrow_flight::FlightDescriptor;
    use futures::TryStreamExt;
    let uri = server.flight.replace("grpc://", "http://");
    let channel = tonic::transport::Channel::from_shared(uri)
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut c = FlightServiceClient::new(channel);
    let cmd = serde_json::json!({"source": "cat.t", "ref": reference});
    let info = c
        .get_flight_info(FlightDescriptor::new_cmd(cmd.to_string()))
        .await
        .expect("info")
        .into_inner();
    let mut total = 0;
    for e in info.endpoint {
        let stream = c
            .do_get(e.ticket.expect("ticket"))
            .await
            .expect("do_get")
            .into_inner();
        let batches: Vec<_> =
            FlightRecordBatchStream::new_from_flight_data(stream.map_err(Into::into))
                .try_collect()
                .await
                .expect("batches");
        total += batches
            .iter()
            .map(|b: &arrow_array::RecordBatch| b.num_rows())
            .sum::<usize>();
    }
    total
}

#[tokio::test(flavor = "multi_thread")]
async fn each_ref_serves_its_own_catalogs_and_plans_read_what_they_planned() {
    inlet_driver::storage::ensure_tls_provider();
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path();
    let cats = repo.join("catalogs");
    std::fs::create_dir_all(&cats).expect("mkdir");
    write(&cats.join("a.csv"), "x\n1\n2\n");
    write(&cats.join("b.csv"), "x\n10\n20\n30\n");
    write(&cats.join("c.csv"), "x\n5\n6\n7\n8\n");
    git(repo, &["init", "-q", "-b", "main"]);
    write(&cats.join("cat.yaml"), &catalog("first", "a.csv"));
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "first catalog"]);
    git(repo, &["tag", "v1"]);
    let v1 = git(repo, &["rev-parse", "HEAD"]);
    write(&cats.join("cat.yaml"), &catalog("second one", "b.csv"));
    git(repo, &["commit", "-q", "-am", "point t at b"]);
    git(repo, &["tag", "v2"]);
    let v2 = git(repo, &["rev-parse", "HEAD"]);
    // A commit that changes no catalog file is not a catalog revision.
    write(&repo.join("NOTES.txt"), "notes\n");
    git(repo, &["add", "NOTES.txt"]);
    git(repo, &["commit", "-q", "-m", "notes only"]);

    let server = InletServer::start(
        &["--catalog", cats.to_str().expect("utf8")],
        &[("INLET_RELOAD_INTERVAL_SECS", "1")],
    );
    assert_eq!(description(&server, "").await, "second one");
    // A plan made now, at the clean HEAD, and one made at v1.
    let planned_at_head = plan_ticket(&server, "").await;
    let planned_at_v1 = plan_ticket(&server, "?ref=v1").await;

    // Commit a third version; the server reloads it.
    write(
        &cats.join("cat.yaml"),
        &catalog("the third version", "c.csv"),
    );
    git(repo, &["commit", "-q", "-am", "point t at c"]);
    let v3 = git(repo, &["rev-parse", "HEAD"]);
    until_described(&server, "the third version").await;
    assert_eq!(rows(&server, "/api/v1/sources/cat.t/data").await, 4);

    // Each ticket still reads the revision it was planned at.
    let head_ticket = format!("/api/v1/tickets/{planned_at_head}");
    assert_eq!(rows(&server, &head_ticket).await, 3, "planned at v2: b.csv");
    let v1_ticket = format!("/api/v1/tickets/{planned_at_v1}");
    assert_eq!(rows(&server, &v1_ticket).await, 2, "planned at v1: a.csv");

    // Flight plans at a ref too (`ref` in the CMD descriptor), and DoGet reads that revision.
    assert_eq!(flight_rows(&server, "v1").await, 2);
    assert_eq!(flight_rows(&server, "v2").await, 3);

    // An uncommitted edit is served; refs serve commits.
    write(&cats.join("cat.yaml"), &catalog("uncommitted", "a.csv"));
    until_described(&server, "uncommitted").await;
    assert_eq!(description(&server, "?ref=v1").await, "first");
    assert_eq!(
        description(&server, &format!("?ref={v2}")).await,
        "second one"
    );
    assert_eq!(
        description(&server, &format!("?ref={}", &v3[..8])).await,
        "the third version"
    );
    assert_eq!(description(&server, "?ref=main~2").await, "second one");
    assert_eq!(description(&server, "?ref=main").await, "the third version");
    let (_, at_v1) = get(&server, "/api/v1/sources/cat.t?ref=v1").await;
    assert_eq!(at_v1["revision"], format!("git:{}", &v1[..12]));
    let (_, now) = get(&server, "/api/v1/sources/cat.t").await;
    assert!(
        now["revision"]
            .as_str()
            .is_some_and(|r| r.contains("-dirty")),
        "{now}"
    );
    assert_eq!(rows(&server, "/api/v1/sources/cat.t/data?ref=v1").await, 2);
    assert_eq!(
        rows(&server, "/api/v1/sources/cat.t/data?ref=v2&limit=1").await,
        1
    );
    let (_, list) = get(&server, "/api/v1/catalogs/cat?ref=v1").await;
    assert_eq!(list["revision"], format!("git:{}", &v1[..12]));

    // Search at a revision finds what that revision says.
    let (status, found) = get(&server, "/api/v1/search?q=first&ref=v1").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["results"][0]["name"], "cat.t", "{found}");
    let (_, found_now) = get(&server, "/api/v1/search?q=first").await;
    assert_eq!(found_now["total"], 0, "{found_now}");

    // A ref that does not exist: 404 naming those that do.
    let (status, problem) = get(&server, "/api/v1/sources/cat.t?ref=v9").await;
    assert_eq!(status, 404, "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("unknown-revision")),
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("v1") && detail.contains("v2") && detail.contains("main"),
        "{detail}"
    );
    assert_eq!(problem["errors"][0]["name"], "ref", "{problem}");
    for twice_or_empty in ["?ref=v1&ref=v2", "?ref="] {
        let (status, problem) = get(&server, &format!("/api/v1/catalogs{twice_or_empty}")).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["name"], "ref", "{problem}");
    }
    // A wrong method is still a 405, whatever the ref.
    let r = reqwest::Client::new()
        .delete(server.url("/api/v1/catalogs?ref=nope"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 405);
    // A source that did not exist at that revision.
    let (status, _) = get(&server, "/api/v1/sources/cat.gone?ref=v1").await;
    assert_eq!(status, 404);

    // The commits that changed the catalogs, newest first; not the notes-only one.
    let (status, revs) = get(&server, "/api/v1/revisions").await;
    assert_eq!(status, 200, "{revs}");
    let revs = revs["revisions"].as_array().expect("revisions").clone();
    let ids: Vec<&str> = revs.iter().filter_map(|r| r["commit"].as_str()).collect();
    assert_eq!(ids, [v3.as_str(), v2.as_str(), v1.as_str()]);
    assert_eq!(revs[0]["message"], "point t at c");
    assert_eq!(revs[0]["author"], "Ada");
    assert_eq!(revs[0]["revision"], format!("git:{}", &v3[..12]));
    assert!(revs[0]["time"].as_i64().is_some_and(|t| t > 1_600_000_000));
    assert_eq!(revs[2]["files"], serde_json::json!(["catalogs/cat.yaml"]));
    let (_, from_v2) = get(&server, "/api/v1/revisions?ref=v2&limit=1").await;
    assert_eq!(from_v2["revisions"][0]["commit"], v2.as_str());
    assert_eq!(from_v2["revisions"].as_array().map(Vec::len), Some(1));

    // One source's history: `t` changed in every commit, `other` only appeared.
    let (status, h) = get(&server, "/api/v1/sources/cat.t/history").await;
    assert_eq!(status, 200, "{h}");
    let changes: Vec<(&str, &str)> = h["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["commit"].as_str().unwrap_or(""),
                c["change"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            (v3.as_str(), "modified"),
            (v2.as_str(), "modified"),
            (v1.as_str(), "added")
        ]
    );
    let (_, other) = get(&server, "/api/v1/sources/cat.other/history").await;
    assert_eq!(
        other["changes"].as_array().map(Vec::len),
        Some(1),
        "{other}"
    );
    assert_eq!(other["changes"][0]["change"], "added");
    let (status, _) = get(&server, "/api/v1/revisions?limit=0").await;
    assert_eq!(status, 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn refs_outside_git_are_refused_with_the_reason() {
    inlet_driver::storage::ensure_tls_provider();
    let tmp = tempfile::tempdir().expect("tmp");
    write(&tmp.path().join("a.csv"), "x\n1\n");
    write(&tmp.path().join("cat.yaml"), &catalog("plain", "a.csv"));
    let server = InletServer::start(
        &[
            "--catalog",
            tmp.path().join("cat.yaml").to_str().expect("utf8"),
        ],
        &[],
    );
    assert_eq!(description(&server, "").await, "plain");
    for path in [
        "/api/v1/sources/cat.t?ref=main",
        "/api/v1/revisions",
        "/api/v1/sources/cat.t/history",
    ] {
        let (status, problem) = get(&server, path).await;
        assert_eq!(status, 422, "{path}: {problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("git repository"), "{path}: {detail}");
    }
}
