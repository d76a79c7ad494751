//! Direct file access against a real `inlet serve` on loopback: `/files`, the signed file URLs
//! with `Range` (single, suffix, multiple, unsatisfiable), validators, HEAD, expired, forged
//! and stale URLs, `/data.parquet`, and real readers (tests/clients/check_direct.py: Polars,
//! pandas + fsspec, DuckDB, compared with pyarrow).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::InletServer;
use inlet::service::files::FileClaims;
use inlet::service::tickets::{now, TicketKey};
use inlet_driver::testing::fixtures;
use reqwest::{header, Client, StatusCode};
use serde_json::Value as J;

/// A catalog `fx` over fixture files, plus `local` over `dir/data/replaced.parquet`.
fn catalog(dir: &Path) -> PathBuf {
    let fx = fixtures();
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::copy(
        fx.join("parquet/codec_zstd.parquet"),
        dir.join("data/replaced.parquet"),
    )
    .expect("copy");
    let yaml = format!(
        "sources:
  types:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/types.parquet'}}
  big:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/big.parquet'}}
  multi:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/multi'}}
  plain:
    driver: csv
    args: {{urlpath: '{fx}/csv/plain.csv'}}
  avro_types:
    driver: avro_table
    args: {{urlpath: '{fx}/avro/types.avro'}}
  guarded:
    driver: parquet
    direct_access: forbid
    args: {{urlpath: '{fx}/parquet/types.parquet'}}
  grid:
    driver: intake_xarray.xzarr.ZarrSource
    args: {{urlpath: '{fx}/zarr/grid_v3.zarr'}}
  local:
    driver: parquet
    args: {{urlpath: '{{{{ CATALOG_DIR }}}}/data/replaced.parquet'}}
",
        fx = fx.display()
    );
    common::write_catalog(dir, "fx.yaml", &yaml)
}

struct Fixture {
    server: InletServer,
    client: Client,
    dir: tempfile::TempDir,
}

fn start(extra: &[&str]) -> Fixture {
    inlet_driver::storage::ensure_tls_provider();
    let dir = tempfile::tempdir().expect("tmp");
    let cat = catalog(dir.path());
    let fx = fixtures();
    let mut args = vec![
        "--catalog",
        cat.to_str().expect("utf8"),
        "--allow-path",
        fx.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    let server = InletServer::start(&args, &[]);
    Fixture {
        server,
        client: Client::new(),
        dir,
    }
}

impl Fixture {
    async fn files(&self, source: &str) -> J {
        self.server
            .json(&format!("/api/v1/sources/{source}/files"))
            .await
    }

    async fn url(&self, source: &str) -> String {
        let list = self.files(source).await;
        list["files"][0]["url"]
            .as_str()
            .unwrap_or_else(|| panic!("no url in {list}"))
            .to_string()
    }

    async fn get(&self, url: &str, headers: &[(header::HeaderName, &str)]) -> reqwest::Response {
        let mut r = self.client.get(url);
        for (k, v) in headers {
            r = r.header(k, *v);
        }
        r.send().await.expect("GET")
    }
}

fn text(r: &reqwest::Response, h: header::HeaderName) -> &str {
    r.headers()
        .get(h)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn problem(r: reqwest::Response, status: StatusCode, slug: &str) -> J {
    assert_eq!(r.status(), status);
    assert_eq!(text(&r, header::CONTENT_TYPE), "application/problem+json");
    let body: J = r.json().await.expect("problem json");
    assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
    body
}

#[tokio::test]
async fn files_are_listed_with_partitions_sizes_and_urls() {
    let f = start(&[]);
    let fx = fixtures();
    let multi = f.files("fx.multi").await;
    let files = multi["files"].as_array().expect("files");
    let paths: Vec<&str> = files.iter().filter_map(|f| f["path"].as_str()).collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(fx.join("parquet/multi"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert!(on_disk.len() > 1);
    assert_eq!(paths, on_disk, "{multi}");
    let described = f.server.json("/api/v1/sources/fx.multi").await;
    for (i, file) in files.iter().enumerate() {
        let size = std::fs::metadata(fx.join("parquet/multi").join(paths[i]))
            .expect("meta")
            .len();
        assert_eq!(file["size"], size);
        assert!(file["etag"].is_string() && file["last_modified"].is_string());
        let parts = file["partitions"].as_array().expect("partitions");
        assert!(!parts.is_empty(), "{file}");
        assert!(file["url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&f.server.url("/api/v1/files/"))));
        // The partitions are the source's, by file.
        for p in parts {
            let listed = &described["discovery"]["partitions"][p.as_u64().expect("id") as usize];
            assert_eq!(listed["id"], *p, "{listed}");
            assert_eq!(listed["file"], i, "{listed}");
        }
    }
    assert!(multi["expires_at"].as_u64().is_some_and(|t| t > now()));
    // CSV and Avro sources are whole files too; Zarr is not.
    assert_eq!(f.files("fx.plain").await["files"][0]["path"], "plain.csv");
    assert_eq!(
        f.files("fx.avro_types").await["files"][0]["path"],
        "types.avro"
    );
    let zarr = f
        .get(&f.server.url("/api/v1/sources/fx.grid/files"), &[])
        .await;
    let body = problem(zarr, StatusCode::CONFLICT, "no-direct-files").await;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("/data")));
    // Intake's `direct_access: forbid`: the catalog's author wants reads through the server.
    let guarded = f
        .get(&f.server.url("/api/v1/sources/fx.guarded/files"), &[])
        .await;
    let body = problem(guarded, StatusCode::CONFLICT, "no-direct-files").await;
    assert!(body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("direct_access: forbid")));
    let unknown = f
        .get(&f.server.url("/api/v1/sources/fx.nope/files"), &[])
        .await;
    problem(unknown, StatusCode::NOT_FOUND, "not-found").await;
    let bad_query = f
        .get(
            &f.server.url("/api/v1/sources/fx.types/files?columns=a"),
            &[],
        )
        .await;
    problem(
        bad_query,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-request",
    )
    .await;
}

/// The parts of a `multipart/byteranges` body: (Content-Range, bytes).
fn multipart(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type.split("boundary=").nth(1).expect("a boundary");
    let delimiter = format!("--{boundary}");
    let mut parts = vec![];
    let mut rest = body;
    loop {
        let at = find(rest, delimiter.as_bytes()).expect("a delimiter");
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            return parts;
        }
        let end_of_head = find(rest, b"\r\n\r\n").expect("part headers");
        let head = String::from_utf8_lossy(&rest[..end_of_head]).to_string();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .expect("Content-Range")
            .to_string();
        let (from, to) = range
            .trim_start_matches("bytes ")
            .split('/')
            .next()
            .and_then(|r| r.split_once('-'))
            .expect("a range");
        let len = to.parse::<usize>().expect("n") - from.parse::<usize>().expect("n") + 1;
        let data = &rest[end_of_head + 4..end_of_head + 4 + len];
        parts.push((range, data.to_vec()));
        rest = &rest[end_of_head + 4 + len..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn ranges_validators_and_head_follow_rfc_9110() {
    let f = start(&[]);
    let bytes = std::fs::read(fixtures().join("parquet/types.parquet")).expect("read");
    let size = bytes.len();
    let url = f.url("fx.types").await;

    let whole = f.get(&url, &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(text(&whole, header::ACCEPT_RANGES), "bytes");
    assert_eq!(text(&whole, header::CONTENT_LENGTH), size.to_string());
    assert_eq!(
        text(&whole, header::CONTENT_TYPE),
        "application/vnd.apache.parquet"
    );
    assert!(
        whole.headers().get(header::CONTENT_ENCODING).is_none(),
        "files are sent as stored"
    );
    let etag = text(&whole, header::ETAG).to_string();
    let modified = text(&whole, header::LAST_MODIFIED).to_string();
    assert!(
        etag.starts_with('"') && modified.ends_with(" GMT"),
        "{etag} {modified}"
    );
    assert_eq!(
        whole.bytes().await.expect("body").as_ref(),
        bytes.as_slice()
    );
    // Bytes of files count as the source's usage.
    let usage = f.server.json("/api/v1/sources/fx.types/usage").await;
    assert!(
        usage["bytes"].as_u64().is_some_and(|b| b >= size as u64),
        "{usage}"
    );

    let first = f.get(&url, &[(header::RANGE, "bytes=0-3")]).await;
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        text(&first, header::CONTENT_RANGE),
        format!("bytes 0-3/{size}")
    );
    assert_eq!(first.bytes().await.expect("body").as_ref(), b"PAR1");

    let suffix = f.get(&url, &[(header::RANGE, "bytes=-8")]).await;
    assert_eq!(suffix.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        text(&suffix, header::CONTENT_RANGE),
        format!("bytes {}-{}/{size}", size - 8, size - 1)
    );
    assert_eq!(
        suffix.bytes().await.expect("body").as_ref(),
        &bytes[size - 8..]
    );

    let open_ended = f
        .get(&url, &[(header::RANGE, &format!("bytes={}-", size - 2))])
        .await;
    assert_eq!(
        open_ended.bytes().await.expect("body").as_ref(),
        &bytes[size - 2..]
    );

    let many = f
        .get(&url, &[(header::RANGE, "bytes=0-3, 100-199, -4")])
        .await;
    assert_eq!(many.status(), StatusCode::PARTIAL_CONTENT);
    let content_type = text(&many, header::CONTENT_TYPE).to_string();
    assert!(content_type.starts_with("multipart/byteranges; boundary="));
    let length: usize = text(&many, header::CONTENT_LENGTH).parse().expect("length");
    let body = many.bytes().await.expect("body");
    assert_eq!(body.len(), length, "Content-Length counts the framing");
    let parts = multipart(&content_type, &body);
    assert_eq!(
        parts,
        vec![
            (format!("bytes 0-3/{size}"), bytes[..4].to_vec()),
            (format!("bytes 100-199/{size}"), bytes[100..200].to_vec()),
            (
                format!("bytes {}-{}/{size}", size - 4, size - 1),
                bytes[size - 4..].to_vec()
            ),
        ]
    );

    for bad in [
        format!("bytes={size}-"),
        "bytes=9-2".to_string(),
        "bytes=0-9,5-20".into(),
        "bytes=a-b".into(),
    ] {
        let r = f.get(&url, &[(header::RANGE, &bad)]).await;
        assert_eq!(
            text(&r, header::CONTENT_RANGE),
            format!("bytes */{size}"),
            "{bad}"
        );
        let body = problem(
            r,
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range-not-satisfiable",
        )
        .await;
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(&bad)),
            "{body}"
        );
    }

    let not_modified = f.get(&url, &[(header::IF_NONE_MATCH, &etag)]).await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(text(&not_modified, header::ETAG), etag);
    let other = f.get(&url, &[(header::IF_NONE_MATCH, "\"other\"")]).await;
    assert_eq!(other.status(), StatusCode::OK);

    for validator in [etag.as_str(), modified.as_str()] {
        let holds = f
            .get(
                &url,
                &[(header::RANGE, "bytes=0-3"), (header::IF_RANGE, validator)],
            )
            .await;
        assert_eq!(holds.status(), StatusCode::PARTIAL_CONTENT, "{validator}");
    }
    for stale in ["\"old\"", "Mon, 01 Jan 2001 00:00:00 GMT"] {
        let changed = f
            .get(
                &url,
                &[(header::RANGE, "bytes=0-3"), (header::IF_RANGE, stale)],
            )
            .await;
        assert_eq!(changed.status(), StatusCode::OK, "{stale}: the whole file");
        assert_eq!(changed.bytes().await.expect("body").len(), size);
    }

    let head = f
        .client
        .head(&url)
        .header(header::RANGE, "bytes=0-9")
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(text(&head, header::CONTENT_LENGTH), "10");
    assert_eq!(text(&head, header::ETAG), etag);
    assert!(head.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn expired_forged_and_stale_urls_are_refused() {
    let f = start(&[]);
    let url = f.url("fx.types").await;
    let ticket = url.rsplit('/').next().expect("ticket").to_string();
    let key = TicketKey::load_or_create(&f.server.state_dir.path().join("ticket.key"))
        .expect("the server's key");
    let mut claims: FileClaims = key.open(&ticket).expect("a file ticket");
    assert_eq!(claims.source, "fx.types");

    claims.expires = now() - 1;
    let expired = f
        .server
        .url(&format!("/api/v1/files/{}", key.sign_any(&claims)));
    let body = problem(
        f.get(&expired, &[]).await,
        StatusCode::GONE,
        "ticket-expired",
    )
    .await;
    assert!(body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("expired")));

    // Another file, signed by another key: the signature does not match.
    claims.expires = now() + 60;
    claims.file = "etc/passwd".into();
    let forged = TicketKey::new(vec![7u8; 32]).sign_any(&claims);
    let r = f
        .get(&f.server.url(&format!("/api/v1/files/{forged}")), &[])
        .await;
    problem(r, StatusCode::FORBIDDEN, "ticket-invalid").await;
    // Signed by the server but naming a file outside the source: not one of its files.
    let outside = key.sign_any(&claims);
    let r = f
        .get(&f.server.url(&format!("/api/v1/files/{outside}")), &[])
        .await;
    problem(r, StatusCode::CONFLICT, "data-changed").await;
    // Garbage, and a read ticket where a file ticket belongs.
    let r = f.get(&f.server.url("/api/v1/files/garbage"), &[]).await;
    problem(r, StatusCode::FORBIDDEN, "ticket-invalid").await;
    let plan: J = f
        .client
        .post(f.server.url("/api/v1/sources/fx.types/plan"))
        .send()
        .await
        .expect("plan")
        .json()
        .await
        .expect("json");
    let read_ticket = plan["endpoints"][0]["ticket"].as_str().expect("ticket");
    let r = f
        .get(&f.server.url(&format!("/api/v1/files/{read_ticket}")), &[])
        .await;
    problem(r, StatusCode::FORBIDDEN, "ticket-invalid").await;

    // A file replaced after it was listed is not served as a mix of versions.
    let local = f.url("fx.local").await;
    assert_eq!(f.get(&local, &[]).await.status(), StatusCode::OK);
    let path = f.dir.path().join("data/replaced.parquet");
    std::fs::copy(fixtures().join("parquet/codec_gzip.parquet"), &path).expect("replace");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let r = f.get(&local, &[(header::RANGE, "bytes=0-3")]).await;
    problem(r, StatusCode::CONFLICT, "data-changed").await;
}

#[tokio::test]
async fn data_parquet_redirects_one_file_parquet_sources_only() {
    let f = start(&[]);
    inlet_driver::storage::ensure_tls_provider();
    let plain = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = plain
        .get(f.server.url("/api/v1/sources/fx.types/data.parquet"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    assert!(text(&r, header::LOCATION).starts_with(&f.server.url("/api/v1/files/")));
    let followed = f
        .get(
            &f.server.url("/api/v1/sources/fx.types/data.parquet"),
            &[(header::RANGE, "bytes=0-3")],
        )
        .await;
    assert_eq!(followed.bytes().await.expect("body").as_ref(), b"PAR1");
    for (source, says) in [
        ("fx.multi", "Parquet files, not one"),
        ("fx.plain", "not a Parquet source"),
    ] {
        let r = f
            .get(
                &f.server
                    .url(&format!("/api/v1/sources/{source}/data.parquet")),
                &[],
            )
            .await;
        let body = problem(r, StatusCode::CONFLICT, "no-direct-files").await;
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{body}"
        );
    }
}

#[test]
fn python_readers_read_files_directly() {
    let f = start(&[]);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(common::python())
        .arg(repo.join("tests/clients/check_direct.py"))
        .arg(&f.server.base)
        .arg(fixtures())
        .output()
        .expect("run check_direct.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check_direct.py failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("all direct-access checks passed"),
        "{stdout}"
    );
}

/// A catalog `s3` with one private object in a moto S3 bucket.
async fn s3_catalog(dir: &Path, endpoint: &str) -> (PathBuf, Vec<u8>) {
    let client = Client::new();
    let r = client
        .put(format!("{endpoint}/private"))
        .send()
        .await
        .expect("create bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    let bytes = std::fs::read(fixtures().join("parquet/types.parquet")).expect("fixture");
    let r = client
        .put(format!("{endpoint}/private/data/types.parquet"))
        .header("x-amz-acl", "private")
        .body(bytes.clone())
        .send()
        .await
        .expect("put");
    assert!(r.status().is_success(), "upload: {}", r.status());
    let yaml = format!(
        "sources:
  types:
    driver: parquet
    args:
      urlpath: s3://private/data/types.parquet
      storage_options: {{key: testing, secret: testing, endpoint_url: '{endpoint}', region: us-east-1}}
"
    );
    (common::write_catalog(dir, "s3.yaml", &yaml), bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn object_storage_is_proxied_presigned_or_off() {
    inlet_driver::storage::ensure_tls_provider();
    let s3 = common::S3Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let (cat, bytes) = s3_catalog(dir.path(), &s3.endpoint).await;
    let client = Client::new();
    let unsigned = client
        .get(format!("{}/private/data/types.parquet", s3.endpoint))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        unsigned.status(),
        StatusCode::FORBIDDEN,
        "the object is private"
    );
    let tail = |b: &[u8]| b[b.len() - 8..].to_vec();
    let cat = cat.to_str().expect("utf8");

    for mode in ["proxy", "presign", "off"] {
        let server = InletServer::start(&["--catalog", cat, "--direct-access", mode], &[]);
        let list = server.json("/api/v1/sources/s3.types/files").await;
        let file = &list["files"][0];
        assert_eq!(file["path"], "types.parquet", "{list}");
        assert_eq!(file["size"], bytes.len());
        let url = file["url"].as_str();
        match mode {
            "proxy" => {
                let url = url.expect("a url");
                assert!(url.starts_with(&server.url("/api/v1/files/")), "{url}");
            }
            "presign" => {
                let url = url.expect("a url");
                assert!(
                    url.starts_with(&s3.endpoint) && url.contains("X-Amz-Signature="),
                    "{url}"
                );
            }
            _ => {
                assert!(file["url"].is_null(), "{list}");
                let r = client
                    .get(server.url("/api/v1/sources/s3.types/data.parquet"))
                    .send()
                    .await
                    .expect("GET");
                let body = problem(r, StatusCode::CONFLICT, "no-direct-files").await;
                assert!(body["detail"].as_str().is_some_and(|d| d.contains("off")));
                continue;
            }
        }
        let url = url.expect("a url");
        let whole = client.get(url).send().await.expect("GET");
        assert_eq!(whole.status(), StatusCode::OK, "{mode}");
        assert_eq!(
            whole.bytes().await.expect("body").as_ref(),
            bytes.as_slice(),
            "{mode}"
        );
        let suffix = client
            .get(url)
            .header(header::RANGE, "bytes=-8")
            .send()
            .await
            .expect("GET");
        assert_eq!(suffix.status(), StatusCode::PARTIAL_CONTENT, "{mode}");
        assert_eq!(
            suffix.bytes().await.expect("body").to_vec(),
            tail(&bytes),
            "{mode}"
        );
    }
}

/// `inlet token ...` against the SQLite state of `server`: stdout.
fn token_cli(server: &InletServer, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_inlet"))
        .arg("token")
        .args(args)
        .arg("--state-dir")
        .arg(server.state_dir.path())
        .env_remove("INLET_DATABASE_URL")
        .env_remove("INLET_STATE_DIR")
        .env_remove("INLET_CONFIG")
        .output()
        .expect("run inlet token");
    assert!(
        out.status.success(),
        "token {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_apply_and_a_revoked_token_ends_its_urls() {
    let f = start(&["--auth", "required"]);
    let made = |name: &str, scope: &str| -> (String, String) {
        let out = token_cli(
            &f.server,
            &[
                "create", "--name", name, "--scope", scope, "--format", "json",
            ],
        );
        let v: J = serde_json::from_str(&out).expect("json");
        (
            v["id"].as_str().expect("id").into(),
            v["token"].as_str().expect("token").into(),
        )
    };
    let (id, token) = made("reader", "catalog:fx:read");
    let (_, other) = made("other", "catalog:elsewhere:read");
    let list = f.server.url("/api/v1/sources/fx.types/files");
    let anonymous = f.get(&list, &[]).await;
    problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let out_of_scope = f
        .client
        .get(&list)
        .bearer_auth(&other)
        .send()
        .await
        .expect("GET");
    problem(out_of_scope, StatusCode::NOT_FOUND, "not-found").await;
    let listed: J = f
        .client
        .get(&list)
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let url = listed["files"][0]["url"].as_str().expect("url");
    // The URL is the credential: readers fetch it without headers.
    let r = f.get(url, &[(header::RANGE, "bytes=0-3")]).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    token_cli(&f.server, &["revoke", &id]);
    let body = problem(
        f.get(url, &[]).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("revoked")),
        "{body}"
    );
}
