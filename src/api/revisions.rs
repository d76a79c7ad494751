//! Catalog history: the commits that changed the catalogs, and those that changed one source.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::query::Query;
use super::state::AppState;
use crate::git::{CommitInfo, EntryChange};
use crate::service::Caller;

/// Commits shown when `limit` is not given.
const DEFAULT_LIMIT: usize = 50;

#[derive(Serialize, ToSchema)]
pub struct RevisionList {
    /// Newest first.
    pub revisions: Vec<CommitInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct SourceHistory {
    pub source: String,
    /// Newest first.
    pub changes: Vec<EntryChange>,
}

fn limit(q: &mut Query) -> Result<usize, ApiError> {
    let n = q.usize("limit")?.unwrap_or(DEFAULT_LIMIT);
    let max = crate::service::revisions::MAX_COMMITS;
    if n == 0 || n > max {
        return Err(ApiError::invalid(
            "limit",
            format!("`limit` must be between 1 and {max}"),
        ));
    }
    Ok(n)
}

/// The commit a request's `ref` pinned, as a starting point for history (None: HEAD).
fn start(caller: &Caller) -> Option<String> {
    caller
        .at
        .as_ref()
        .and_then(|at| at.0.revision.strip_prefix("git:").map(str::to_string))
}

/// Recent commits that changed catalog files (YAML under the served catalog paths), newest
/// first: id, revision string, time, author, message and the files changed. `ref` starts the
/// history at that revision.
#[utoipa::path(get, path = "/api/v1/revisions", tag = "catalogs",
    params(("limit" = Option<usize>, Query, minimum = 1, maximum = 500, description = "At most this many commits (default 50)"),
           ("ref" = Option<String>, Query, description = "Start at this commit, branch or tag (default HEAD)")),
    responses((status = 200, body = RevisionList),
              (status = 404, description = "No such ref", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, description = "Bad `limit`, or the catalogs are not in a git repository", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn list_revisions(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let n = limit(&mut q)?;
    q.finish(&["limit", "ref"])?;
    let revisions = st.revisions(&caller, start(&caller).as_deref(), n).await?;
    Ok(axum::Json(RevisionList { revisions }).into_response())
}

/// The commits that added, changed or removed one source's entry (its description, driver,
/// args, metadata or parameters), newest first. The entry is followed in the file that holds
/// it now (or at `ref`).
#[utoipa::path(get, path = "/api/v1/sources/{source}/history", tag = "sources",
    params(("source" = String, Path, description = "Dotted source name"),
           ("limit" = Option<usize>, Query, minimum = 1, maximum = 500, description = "At most this many commits (default 50)"),
           ("ref" = Option<String>, Query, description = "Start at this commit, branch or tag (default HEAD)")),
    responses((status = 200, body = SourceHistory),
              (status = 404, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, description = "Bad `limit`, or the catalogs are not in a git repository", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn source_history(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let n = limit(&mut q)?;
    q.finish(&["limit", "ref"])?;
    let changes = st
        .history(&caller, &name, start(&caller).as_deref(), n)
        .await?;
    Ok(axum::Json(SourceHistory {
        source: name,
        changes,
    })
    .into_response())
}
