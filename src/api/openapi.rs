//! The OpenAPI description, generated from the handlers by utoipa and committed as
//! `openapi/openapi.json` (`inlet openapi > openapi/openapi.json`; a test checks they agree).

use utoipa::OpenApi;

use super::{data, error, files, meta, revisions};

#[derive(OpenApi)]
#[openapi(
    info(title = "Inlet", description = "Intake-style YAML catalogs served as Arrow: list, search, describe, stream, plan."),
    paths(
        meta::list_catalogs,
        meta::get_catalog,
        meta::get_source,
        meta::get_schema,
        meta::search,
        meta::usage,
        revisions::list_revisions,
        revisions::source_history,
        meta::status,
        data::get_data,
        data::plan,
        data::redeem,
        files::list_files,
        files::data_parquet,
        files::get_file,
        meta::livez,
        meta::readyz,
        meta::metrics,
    ),
    components(schemas(
        error::Problem,
        meta::CatalogList,
        meta::CatalogSummary,
        meta::CatalogDetail,
        meta::EntryView,
        meta::SearchResults,
        meta::SearchHit,
        meta::Usage,
        crate::service::status::StatusReport,
        crate::service::status::ReloadState,
        crate::service::status::DiscoveryProgress,
        crate::service::status::Capacity,
        crate::service::status::ActiveStream,
        crate::service::status::RecentError,
        crate::service::status::Served,
        crate::service::PlanRequest,
        data::Plan,
        data::Endpoint,
        data::Binary,
        files::FileList,
        files::FileView,
        revisions::RevisionList,
        revisions::SourceHistory,
        crate::git::CommitInfo,
        crate::git::EntryChange,
    )),
    tags(
        (name = "catalogs", description = "Catalogs and search"),
        (name = "sources", description = "Source descriptions and schemas"),
        (name = "data", description = "Arrow data plane: streams, plans, tickets, direct file access"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// The spec as pretty JSON with a trailing newline, exactly as committed.
pub fn spec_json() -> String {
    let mut s = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_spec_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == super::spec_json(),
            "openapi/openapi.json differs from the code: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
        );
    }
}
