//! The data plane over HTTP: streams of record batches (`/data`), Flight-style plans, and
//! ticket redemption. Batches are encoded one by one behind a bounded channel, so a slow client
//! slows the reader (backpressure) and memory does not grow with the dataset.

use arrow_ipc::writer::IpcWriteOptions;
use arrow_ipc::CompressionType;
use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::ReadRequest;
use serde::Serialize;
use serde_json::Value as J;
use utoipa::ToSchema;

use super::error::ApiError;
use super::query::Query;
use super::state::AppState;
use crate::encode::{self, Format};
use crate::service::resume::is_version;
use crate::service::spool::spool;
use crate::service::{schema_json, Caller, ErrorKind, PlanRequest, Read, Resume};

/// The response header naming the version of the data streamed (see `service::resume`).
pub const DATA_VERSION: &str = "x-inlet-data-version";

/// Format and IPC compression chosen from `format=` or the `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Negotiated {
    pub format: Format,
    pub codec: Option<CompressionType>,
}

fn codec_name(c: CompressionType) -> &'static str {
    if c == CompressionType::ZSTD {
        "zstd"
    } else {
        "lz4"
    }
}

pub fn negotiate(format: Option<&str>, headers: &HeaderMap) -> Result<Negotiated, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let arrow_entry = accept
        .split(',')
        .map(str::trim)
        .find(|m| m.starts_with("application/vnd.apache.arrow.stream"));
    let codec = arrow_entry.and_then(|entry| {
        let codecs = entry
            .split(';')
            .find_map(|p| p.trim().strip_prefix("codecs="))?;
        codecs
            .trim_matches('"')
            .split(',')
            .map(str::trim)
            .find_map(|c| match c.to_ascii_lowercase().as_str() {
                "zstd" => Some(CompressionType::ZSTD),
                "lz4" | "lz4_frame" => Some(CompressionType::LZ4_FRAME),
                _ => None,
            })
    });
    if let Some(name) = format {
        let f = Format::from_name(name).ok_or_else(|| {
            ApiError::invalid(
                "format",
                format!("unknown format `{name}`: use arrow, parquet, csv or ndjson"),
            )
        })?;
        return Ok(Negotiated {
            format: f,
            codec: if f == Format::Arrow { codec } else { None },
        });
    }
    for media in accept
        .split(',')
        .map(|m| m.split(';').next().unwrap_or("").trim())
    {
        let f = match media {
            "application/vnd.apache.arrow.stream" | "*/*" | "" => Format::Arrow,
            "application/vnd.apache.parquet" | "application/parquet" => Format::Parquet,
            "text/csv" => Format::Csv,
            "application/x-ndjson" | "application/jsonl" | "application/json" => Format::Ndjson,
            _ => continue,
        };
        return Ok(Negotiated {
            format: f,
            codec: if f == Format::Arrow { codec } else { None },
        });
    }
    Ok(Negotiated {
        format: Format::Arrow,
        codec: None,
    })
}

/// Streams a read as the response body. Errors before the first byte were answered as
/// problem+json when the read was started; an error after it aborts the body (no end-of-stream
/// marker), so clients see a failed transfer.
pub fn stream_response(
    read: Read,
    neg: Negotiated,
    idle: std::time::Duration,
) -> Result<Response, ApiError> {
    if let Some(why) = neg.format.unsupported_columns(&read.schema) {
        return Err(ApiError::invalid("format", why));
    }
    let options = IpcWriteOptions::default()
        .try_with_compression(neg.codec)
        .map_err(|e| ApiError::of(ErrorKind::Internal, e.to_string()))?;
    let source = read.source.clone();
    let schema = read.schema.clone();
    let meter = read.meter();
    let (first, version) = (read.first_batch, read.data_version.clone());
    let chunks = encode::chunks(&schema, read, neg.format, Some(options), first)
        .map_err(|e| ApiError::of(ErrorKind::Internal, e.to_string()))?;
    let counted = CountBytes::new(source);
    let chunks = chunks.map(move |c| {
        if let Ok(pieces) = &c {
            let len: usize = pieces.iter().map(bytes::Bytes::len).sum();
            counted.add(len);
            if let Some(m) = &meter {
                m.add_bytes(len as u64);
            }
        }
        c.map_err(|e| std::io::Error::other(e.to_string()))
    });
    // The spool takes the pieces of each chunk one by one, so encoding runs ahead of the socket
    // by at most one piece: a slow client slows the reader, one that reads nothing for the idle
    // timeout loses the stream, and a batch's buffers are freed as their pieces are written
    // (a stream holds about one batch outside the memory budget, not three).
    let pieces = chunks
        .map_ok(|pieces| futures::stream::iter(pieces.into_iter().map(Ok)))
        .try_flatten();
    let body = spool(pieces, 1, idle, |m| std::io::Error::other(m.to_string()));
    let body = Body::from_stream(body);
    let mut content_type = neg.format.media_type().to_string();
    if let Some(c) = neg.codec {
        content_type = format!("{content_type}; codecs=\"{}\"", codec_name(c));
    }
    let mut r = Response::new(body);
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&version) {
        r.headers_mut().insert(DATA_VERSION, v);
    }
    Ok(r)
}

/// `from_batch=N`: the batches a client already has (0 when absent).
fn from_batch_of(q: &mut Query) -> Result<u64, ApiError> {
    let Some(v) = q.one("from_batch") else {
        return Ok(0);
    };
    v.parse::<u64>().map_err(|_| {
        ApiError::invalid(
            "from_batch",
            format!("`from_batch` must be a batch index (a whole number from 0), got `{v}`: pass the number of batches already received"),
        )
    })
}

/// Where a request resumes: `from_batch=N`, and the data version it continues, from
/// `data_version=` or an `If-Match` header (the `x-inlet-data-version` of the first response).
fn resume_of(q: &mut Query, headers: &HeaderMap) -> Result<Resume, ApiError> {
    let from_batch = from_batch_of(q)?;
    let if_match = headers
        .get(header::IF_MATCH)
        .map(|v| {
            v.to_str()
                .map(|t| {
                    t.trim()
                        .trim_start_matches("W/")
                        .trim_matches('"')
                        .to_string()
                })
                .map_err(|_| ApiError::invalid("If-Match", "`If-Match` must be ASCII"))
        })
        .transpose()?
        .filter(|t| t != "*");
    let named = |field: &str, v: String| {
        if is_version(&v) {
            Ok(v)
        } else {
            Err(ApiError::invalid(
                field,
                format!("`{field}` must be the `x-inlet-data-version` of an earlier response (32 hex digits), got `{v}`"),
            ))
        }
    };
    let data_version = match (q.one("data_version"), if_match) {
        (Some(v), _) => Some(named("data_version", v)?),
        (None, Some(v)) => Some(named("If-Match", v)?),
        (None, None) => None,
    };
    Ok(Resume {
        from_batch,
        data_version,
    })
}

/// Bytes sent for one source, added to the metric when the stream ends (however it ends).
struct CountBytes {
    source: String,
    bytes: std::sync::atomic::AtomicU64,
}

impl CountBytes {
    fn new(source: String) -> Self {
        CountBytes {
            source,
            bytes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn add(&self, n: usize) {
        self.bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for CountBytes {
    fn drop(&mut self) {
        let n = self.bytes.load(std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("inlet_bytes_streamed_total", "source" => self.source.clone())
            .increment(n);
    }
}

fn read_request(st: &AppState, q: &mut Query) -> Result<ReadRequest, ApiError> {
    let columns: Option<Vec<String>> = q.one("columns").map(|c| {
        c.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });

    let limit = q.usize("limit")?;
    let partitions = q
        .list("partition")
        .iter()
        .map(|p| {
            p.parse::<usize>().map_err(|_| {
                ApiError::invalid(
                    "partition",
                    format!("`partition` must be a partition id (an integer), got `{p}`"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReadRequest {
        partitions: (!partitions.is_empty()).then_some(partitions),
        projection: columns,
        limit,
        batch_size: st.config.batch_size.max(1),
    })
}

/// The data, streamed: Arrow IPC stream by default; `format=` or `Accept` for Parquet, CSV, NDJSON.
#[utoipa::path(get, path = "/api/v1/sources/{source}/data", tag = "data",
    params(("ref" = Option<String>, Query, description = "A catalog revision to serve: commit id, branch or tag of the catalogs' git repository (default: the current catalogs)"), ("source" = String, Path), ("columns" = Option<String>, Query, description = "Comma-separated column names"),
           ("limit" = Option<usize>, Query), ("partition" = Option<Vec<usize>>, Query, description = "Repeatable partition id"),
           ("format" = Option<String>, Query, pattern = "^(arrow|arrows|ipc|parquet|pq|csv|ndjson|jsonl|json)$", description = "arrow | parquet | csv | ndjson (else the Accept header)"),
           ("param.<name>" = Option<String>, Query, description = "A parameter value"),
           ("from_batch" = Option<u64>, Query, minimum = 0, description = "Resume: leave out the first N batches (those a broken stream delivered); batches are deterministic for a request and a data version"),
           ("data_version" = Option<String>, Query, pattern = "^[0-9a-f]{32}$", description = "The `x-inlet-data-version` of the response being resumed: 409 if the data is no longer that version"),
           ("If-Match" = Option<String>, Header, description = "Same as `data_version` (quoted)")),
    responses((status = 200, description = "The data; `application/vnd.apache.arrow.stream` (codecs=\"zstd\"|\"lz4\" when negotiated), Parquet, CSV or NDJSON. Arrow IPC batches carry their index in the read as `inlet.batch` custom metadata", content((Binary = "application/vnd.apache.arrow.stream"), (Binary = "application/vnd.apache.parquet"), (String = "text/csv"), (String = "application/x-ndjson")),
                headers(("x-inlet-data-version" = String, description = "The version of the data read (files, args, batch size): pass it as `data_version` or `If-Match` when resuming"))),
              (status = 404, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 409, description = "The data changed since the read being resumed (`/problems/data-changed`)", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 501, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 502, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 503, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn get_data(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    method: axum::http::Method,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let request = read_request(&st, &mut q)?;
    let resume = resume_of(&mut q, &headers)?;
    let format = q.one("format");
    let params = q.params();
    q.finish(&[
        "columns",
        "limit",
        "partition",
        "format",
        "from_batch",
        "data_version",
        "param.<name>",
    ])?;
    let neg = negotiate(format.as_deref(), &headers)?;
    if method == axum::http::Method::HEAD {
        // What a GET would answer, checked (source, parameters, columns), without reading data.
        crate::service::access::authorize(&caller, &name)?;
        st.snapshot_for(&caller)
            .check_read(&name, &params, &request)
            .await
            .map_err(|e| caller.conceal(e))?;
        let mut r = Response::new(Body::empty());
        if let Ok(v) = HeaderValue::from_str(neg.format.media_type()) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        return Ok(r);
    }
    let read = st
        .read_from(&caller, &name, &params, request, &resume)
        .await?;
    stream_response(read, neg, st.stream_idle_timeout())
}

// One endpoint of a plan, as HTTP shows it (with the URLs that redeem it).
#[derive(Debug, Serialize, ToSchema)]
pub struct Endpoint {
    /// Signed; redeem with `GET /api/v1/tickets/{ticket}` on any replica.
    pub ticket: String,
    /// URLs that serve this ticket, one per advertised replica.
    pub locations: Vec<String>,
    pub partitions: Vec<usize>,
    pub estimated_rows: Option<u64>,
    pub estimated_bytes: Option<u64>,
    /// Unix time (seconds).
    pub expires_at: u64,
}

/// FlightInfo-shaped answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Plan {
    #[schema(value_type = Vec<Object>)]
    pub schema: J,
    pub endpoints: Vec<Endpoint>,
    pub total_records: Option<u64>,
    pub total_bytes: Option<u64>,
    pub revision: String,
}

fn json_kind(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "an array",
        J::Object(_) => "an object",
    }
}

/// Bytes of a binary format (Arrow IPC, Parquet), as the OpenAPI document names them.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

/// Base URLs of the replicas that serve tickets: the advertised ones, else this server as the
/// client reached it.
fn ticket_bases(st: &AppState, headers: &HeaderMap) -> Vec<String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    crate::service::urls::public_bases(&st.config, host)
}

/// Plans a read: the schema and endpoints with signed tickets, for parallel fetching.
#[utoipa::path(post, path = "/api/v1/sources/{source}/plan", tag = "data",
    params(("ref" = Option<String>, Query, description = "A catalog revision to serve: commit id, branch or tag of the catalogs' git repository (default: the current catalogs)"), ("source" = String, Path)), request_body(content = Option<PlanRequest>, description = "Optional: an empty body plans the whole source"),
    responses((status = 200, body = Plan),
              (status = 404, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn plan(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    // Parsed from the bytes whatever the Content-Type: a bare `urllib.request.Request(data=...)`
    // sends a form type, and the body is still JSON.
    let bytes = body.map_err(|e| {
        ApiError::new(
            e.status(),
            "invalid-request",
            format!("cannot read the plan body: {}", e.body_text()),
        )
    })?;
    let trimmed = bytes.trim_ascii();
    let req: PlanRequest = if trimmed.is_empty() || trimmed == b"null" {
        PlanRequest::default()
    } else {
        let bad = |e: String| {
            ApiError::invalid(
                "body",
                format!("the plan body must be a JSON object like {{\"columns\": [..], \"limit\": N, \"params\": {{..}}, \"max_endpoints\": N}}: {e}"),
            )
        };
        // An object only: serde would also read a struct from a JSON array.
        match serde_json::from_slice::<J>(trimmed).map_err(|e| bad(e.to_string()))? {
            object @ J::Object(_) => {
                serde_json::from_value(object).map_err(|e| bad(e.to_string()))?
            }
            other => return Err(bad(format!("got {}", json_kind(&other)))),
        }
    };
    let plan = st.plan(&caller, &name, req).await?;
    let bases = ticket_bases(&st, &headers);
    let endpoints = plan
        .endpoints
        .into_iter()
        .map(|e| Endpoint {
            locations: bases
                .iter()
                .map(|b| format!("{b}/api/v1/tickets/{}", e.ticket))
                .collect(),
            ticket: e.ticket,
            partitions: e.partitions,
            estimated_rows: e.estimated_rows,
            estimated_bytes: e.estimated_bytes,
            expires_at: e.expires_at,
        })
        .collect();
    Ok(Json(Plan {
        schema: schema_json(&plan.schema),
        endpoints,
        total_records: plan.total_records,
        total_bytes: plan.total_bytes,
        revision: plan.revision,
    })
    .into_response())
}

/// Redeems a ticket: one endpoint's data as an Arrow IPC stream (or `format=`/`Accept`).
#[utoipa::path(get, path = "/api/v1/tickets/{ticket}", tag = "data",
    params(("ticket" = String, Path),
           ("from_batch" = Option<u64>, Query, minimum = 0, description = "Resume: leave out the first N batches; the ticket pins the data version of its plan")),
    responses((status = 200, description = "The endpoint's data (`format=`/`Accept` as for /data); Arrow IPC batches carry `inlet.batch`", content((Binary = "application/vnd.apache.arrow.stream"), (Binary = "application/vnd.apache.parquet"), (String = "text/csv"), (String = "application/x-ndjson"))),
              (status = 401, description = "No valid token (auth required), or the token that planned the ticket was revoked or expired", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 403, description = "Forged or malformed ticket", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 409, description = "Planned against an older catalog revision, or the data changed since the plan", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 410, description = "Expired", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 503, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn redeem(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(ticket): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let format = q.one("format");
    let from_batch = from_batch_of(&mut q)?;
    q.finish(&["format", "from_batch"])?;
    let neg = negotiate(format.as_deref(), &headers)?;
    let read = st.redeem(&caller, &ticket, from_batch).await?;
    stream_response(read, neg, st.stream_idle_timeout())
}

/// The 503 every request gets while the server shuts down.
pub fn draining() -> Response {
    ApiError::busy("the server is shutting down: retry on another replica").into_response()
}
