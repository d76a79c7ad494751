//! What is shown of catalogs and sources, shared by the CLI and the HTTP API. Secrets are
//! redacted here, once, so no output can forget it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as J;

use super::model::{Entry, StatusKind};
use super::params::ParamSpec;
use super::redact::redact;
use super::tree::{CatalogError, CatalogNode, Library};
use crate::registry::Resolved;

#[derive(Debug, Clone, Serialize)]
pub struct EntrySummary {
    /// Full dotted name.
    pub name: String,
    /// `source` or `catalog`.
    pub kind: &'static str,
    pub driver: String,
    pub description: String,
    pub status: String,
    /// `status` by kind (for badges); not serialized: `status` says it.
    #[serde(skip)]
    pub status_kind: StatusKind,
}

pub fn summary(node: &CatalogNode, entry: &Entry) -> EntrySummary {
    EntrySummary {
        name: format!("{}.{}", node.name, entry.name),
        kind: if entry.is_catalog() {
            "catalog"
        } else {
            "source"
        },
        driver: entry.driver.clone(),
        description: entry.summary().to_string(),
        status: entry.status.to_string(),
        status_kind: StatusKind::of(&entry.status),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DriverView {
    /// As written in the catalog: a string, a list or a mapping.
    pub written: J,
    /// What Inlet runs, or null when the driver is not built in.
    pub resolved: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceDescription {
    pub name: String,
    pub catalog: String,
    pub kind: &'static str,
    pub driver: DriverView,
    pub description: Option<String>,
    pub metadata: J,
    pub parameters: Vec<ParamSpec>,
    /// Args rendered with the parameters (secrets redacted); null when rendering failed.
    pub args: Option<J>,
    /// Why the args could not be rendered (e.g. a required parameter has no value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_error: Option<String>,
    pub status: String,
    /// file:line:col of the entry.
    pub location: String,
}

fn resolved_name(r: Resolved) -> String {
    match r {
        Resolved::Source(d) => d.to_string(),
        Resolved::YamlFileCatalog => "yaml_file_cat".to_string(),
        Resolved::YamlFilesCatalog => "yaml_files_cat".to_string(),
    }
}

pub fn describe(
    lib: &Library,
    node: &CatalogNode,
    entry: &Entry,
    supplied: &BTreeMap<String, J>,
) -> Result<SourceDescription, CatalogError> {
    let (args, args_error) = if entry.status.is_ok() {
        match lib.render(node, entry, supplied) {
            Ok((args, _)) => (Some(redact(&args)), None),
            // Bad caller values are the caller's error; a missing value only limits the view.
            Err(CatalogError::Params(errs)) if !supplied.is_empty() => {
                return Err(CatalogError::Params(errs))
            }
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (Some(redact(&entry.args)), None)
    };
    Ok(SourceDescription {
        name: format!("{}.{}", node.name, entry.name),
        catalog: node.name.clone(),
        kind: if entry.is_catalog() {
            "catalog"
        } else {
            "source"
        },
        driver: DriverView {
            written: entry.driver_written.clone(),
            resolved: entry.resolved.map(resolved_name),
        },
        description: entry.description.clone(),
        metadata: redact(&entry.metadata),
        parameters: node.entry_params(entry),
        args,
        args_error,
        status: entry.status.to_string(),
        location: format!(
            "{}:{}:{}",
            node.file.path.display(),
            entry.pos.line,
            entry.pos.col
        ),
    })
}
