//! Direct file access over HTTP: the files behind a source (`/files`), each file served by
//! its signed URL with `Range` (RFC 9110: single, suffix and multiple ranges, `If-Range`,
//! `If-None-Match`, `HEAD`), and `/data.parquet` redirecting to a one-file Parquet source's
//! file, so that Polars, DuckDB and fsspec read Parquet from the catalog's name.

use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::query::Query;
use super::ranges::{self, Ranges};
use super::state::AppState;
use crate::service::files::{FileAccess, FileListing, OpenFile};
use crate::service::{Caller, ErrorKind};

/// Marks a response that must reach the client byte for byte (no compression layer).
#[derive(Debug, Clone, Copy)]
pub struct Verbatim;

// One file of `GET /api/v1/sources/{source}/files`; its doc line is the OpenAPI description.
/// A file behind a source.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    /// Relative to the directory holding all of the source's files.
    pub path: String,
    pub size: u64,
    pub etag: Option<String>,
    /// RFC 3339.
    pub last_modified: String,
    /// Ids of the source's partitions in this file (`partition=` of /data).
    pub partitions: Vec<usize>,
    /// Where to read it (with `Range`): this server's signed, expiring `/api/v1/files/{ticket}`,
    /// or a URL pre-signed for the object store; null when direct access is off.
    pub url: Option<String>,
}

/// The files behind a source.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileList {
    pub source: String,
    pub files: Vec<FileView>,
    /// When the URLs stop working (Unix time, seconds).
    pub expires_at: u64,
}

fn base(st: &AppState, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    crate::service::urls::public_base(&st.config, host)
}

fn url_of(access: &FileAccess, base: &str) -> Option<String> {
    match access {
        FileAccess::Ticket(t) => Some(format!("{base}/api/v1/files/{t}")),
        FileAccess::Presigned(u) => Some(u.clone()),
        FileAccess::Off => None,
    }
}

fn view(listing: FileListing, base: &str) -> FileList {
    FileList {
        source: listing.source,
        expires_at: listing.expires_at,
        files: listing
            .files
            .into_iter()
            .map(|f| FileView {
                url: url_of(&f.access, base),
                path: f.path,
                size: f.size,
                etag: f.etag,
                last_modified: f.last_modified.to_rfc3339(),
                partitions: f.partitions,
            })
            .collect(),
    }
}

/// The files behind a source, after its parameters are applied, with URLs to read each one
/// directly (with `Range`).
#[utoipa::path(get, path = "/api/v1/sources/{source}/files", tag = "data",
    params(("ref" = Option<String>, Query, description = "A catalog revision to serve: commit id, branch or tag of the catalogs' git repository (default: the current catalogs)"), ("source" = String, Path), ("param.<name>" = Option<String>, Query, description = "A parameter value")),
    responses((status = 200, body = FileList),
              (status = 404, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 409, description = "The source is not made of whole files (Zarr)", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 502, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn list_files(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<FileList>, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let params = q.params();
    q.finish(&["param.<name>"])?;
    let listing = st.files(&caller, &name, &params).await?;
    Ok(Json(view(listing, &base(&st, &headers))))
}

/// A one-file Parquet source's file: a redirect to its URL, for readers that fetch Parquet
/// over HTTP with `Range` (Polars, DuckDB, fsspec).
#[utoipa::path(get, path = "/api/v1/sources/{source}/data.parquet", tag = "data",
    params(("ref" = Option<String>, Query, description = "A catalog revision to serve: commit id, branch or tag of the catalogs' git repository (default: the current catalogs)"), ("source" = String, Path), ("param.<name>" = Option<String>, Query, description = "A parameter value")),
    responses((status = 307, description = "Redirect to the file's URL (`Location`)"),
              (status = 404, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 409, description = "Not a one-file Parquet source, or direct access is off", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn data_parquet(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let params = q.params();
    q.finish(&["param.<name>"])?;
    let file = st.single_parquet(&caller, &name, &params).await?;
    let url = url_of(&file.access, &base(&st, &headers)).ok_or_else(|| {
        ApiError::of(
            ErrorKind::NoDirectFiles,
            format!("direct access to object storage is off on this server: read `{name}` with /api/v1/sources/{name}/data?format=parquet"),
        )
    })?;
    let location = HeaderValue::from_str(&url)
        .map_err(|e| ApiError::of(ErrorKind::Internal, format!("file URL: {e}")))?;
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response())
}

/// One file, by its signed URL: `Range` (single, suffix, multiple), `HEAD`, `ETag`,
/// `Last-Modified`, `If-Range`, `If-None-Match`. The URL is the credential (no token needed).
#[utoipa::path(get, path = "/api/v1/files/{ticket}", tag = "data",
    params(("ticket" = String, Path), ("Range" = Option<String>, Header, description = "`bytes=a-b`, `bytes=a-`, `bytes=-n`, or several, comma-separated")),
    responses((status = 200, description = "The whole file", content((super::data::Binary = "application/octet-stream"))),
              (status = 206, description = "The range (`Content-Range`), or several as `multipart/byteranges`", content((super::data::Binary = "application/octet-stream"))),
              (status = 304, description = "`If-None-Match` matched the file's ETag"),
              (status = 401, description = "The token that listed the file was revoked or expired", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 403, description = "Forged or malformed URL", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 409, description = "The file changed since it was listed", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 410, description = "Expired URL", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 416, description = "No range inside the file (`Content-Range: bytes */size`)", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn get_file(
    State(st): State<AppState>,
    method: Method,
    Path(ticket): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = st.open_file(&ticket).await?;
    let validators = Validators::of(&file);
    if ranges::none_match(
        header_text(&headers, header::IF_NONE_MATCH),
        validators.etag.as_deref(),
    ) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        validators.apply(r.headers_mut());
        return Ok(r);
    }
    let size = file.meta.size;
    let wanted = match header_text(&headers, header::RANGE) {
        Some(range)
            if ranges::if_range_holds(
                header_text(&headers, header::IF_RANGE),
                validators.etag.as_deref(),
                &file.meta.last_modified,
            ) =>
        {
            ranges::parse(range, size)
        }
        _ => Ok(Ranges::Whole),
    };
    let wanted = match wanted {
        Ok(w) => w,
        Err(why) => {
            let mut r = ApiError::of(ErrorKind::RangeNotSatisfiable, why).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let content_type = ranges::media_type(file.meta.location.as_ref());
    let plan = ranges::Body::plan(&wanted, size, content_type);
    let mut r = if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from_stream(body(file, plan.clone()).await?))
    };
    *r.status_mut() = plan.status;
    let h = r.headers_mut();
    validators.apply(h);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(plan.length));
    for (name, value) in &plan.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    r.extensions_mut().insert(Verbatim);
    Ok(r)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The body of a planned answer: the ranges straight from storage, with the multipart
/// framing between them. The first range is requested before answering, so that a file
/// changed or gone is a proper error status; an error mid-body aborts the transfer.
async fn body(file: OpenFile, plan: ranges::Body) -> Result<FileBody, ApiError> {
    let mut parts = plan.parts.into_iter();
    let Some(first) = parts.next() else {
        return Ok(futures::stream::empty().boxed());
    };
    let opened = file.bytes(first.range.clone()).await?;
    let file = std::sync::Arc::new(file);
    let rest = futures::stream::iter(parts).flat_map(move |part| {
        let file = file.clone();
        let range = part.range.clone();
        let bytes = futures::stream::once(async move {
            match file.bytes(range).await {
                Ok(s) => s,
                Err(e) => {
                    futures::stream::once(async move { Err(std::io::Error::other(e.to_string())) })
                        .boxed()
                }
            }
        })
        .flatten()
        .boxed();
        framed(part, bytes)
    });
    Ok(framed(first, opened).chain(rest).boxed())
}

type FileBody = futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// A part's bytes between its framing text.
fn framed(part: ranges::Part, bytes: FileBody) -> FileBody {
    let text =
        |t: String| futures::stream::iter((!t.is_empty()).then(|| Ok(bytes::Bytes::from(t))));
    text(part.head).chain(bytes).chain(text(part.tail)).boxed()
}

/// `ETag` and `Last-Modified` of the file as listed.
struct Validators {
    etag: Option<String>,
    last_modified: String,
}

impl Validators {
    fn of(file: &OpenFile) -> Validators {
        Validators {
            etag: file.meta.e_tag.as_deref().map(ranges::quoted),
            last_modified: ranges::http_date(&file.meta.last_modified),
        }
    }

    fn apply(&self, h: &mut HeaderMap) {
        if let Some(Ok(v)) = self.etag.as_deref().map(HeaderValue::from_str) {
            h.insert(header::ETAG, v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.last_modified) {
            h.insert(header::LAST_MODIFIED, v);
        }
    }
}
