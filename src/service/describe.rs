//! Describing catalogs and sources, once for every front end (HTTP, CLI, Flight, the web page).

use std::collections::BTreeMap;
use std::sync::Arc;

use inlet_driver::Discovery;
use serde_json::Value as J;

use super::snapshot::Snapshot;
use super::ServiceError;
use crate::catalog::redact::redact;
use crate::catalog::view::{self, EntrySummary};
use crate::catalog::{CatalogNode, Found, Library};

/// An Arrow schema as JSON: name, type, nullable, metadata per field.
pub fn schema_json(schema: &arrow_schema::Schema) -> J {
    J::Array(
        schema
            .fields()
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name(),
                    "type": f.data_type().to_string(),
                    "nullable": f.is_nullable(),
                    "metadata": f.metadata(),
                })
            })
            .collect(),
    )
}

/// What discovery found, as `describe` shows it.
pub fn discovery_json(d: &Discovery) -> J {
    serde_json::json!({
        "schema": schema_json(&d.schema),
        "total_rows": d.total_rows,
        "total_bytes": d.total_bytes,
        "partitions": d.partitions,
        "files": d.files,
        "statistics": d.statistics,
        "metadata": d.metadata,
        "warnings": d.warnings,
    })
}

/// The catalog of a dotted name (a source's name is an error that says so).
pub fn catalog(lib: &Library, name: &str) -> Result<Arc<CatalogNode>, ServiceError> {
    match lib.find(name)? {
        Found::Catalog(node) => Ok(node),
        Found::Source(..) => Err(ServiceError::NotACatalog(name.to_string())),
    }
}

/// The entries of `node`, and with `recursive` those of its nested catalogs after each of
/// them (opened on the way; one that cannot be opened shows its error as its status).
pub fn entries(lib: &Library, node: &Arc<CatalogNode>, recursive: bool) -> Vec<EntrySummary> {
    let mut rows = vec![];
    // An explicit stack, not recursion: nesting depth is the catalogs' to choose.
    let mut stack: Vec<(Arc<CatalogNode>, usize)> = vec![(node.clone(), 0)];
    while let Some((node, idx)) = stack.pop() {
        let Some(entry) = node.file.entries.get(idx) else {
            continue;
        };
        stack.push((node.clone(), idx + 1));
        let mut row = view::summary(&node, entry);
        if recursive && entry.is_catalog() {
            match lib.child(&node, idx) {
                Ok(child) => stack.push((child, 0)),
                Err(e) => {
                    row.status = format!("error: {e}");
                    row.status_kind = crate::catalog::model::StatusKind::Error;
                }
            }
        }
        rows.push(row);
    }
    rows
}

/// A source's description with what discovery found (`discovery`), or why it could not
/// (`discovery_error`), and the revision. Bad parameter values are an error; data that
/// cannot be reached is not (the description still says what the catalog says).
pub async fn source(
    snap: &Snapshot,
    name: &str,
    params: &BTreeMap<String, J>,
) -> Result<J, ServiceError> {
    let (node, idx) = snap.service.entry(name)?;
    let entry = &node.file.entries[idx];
    let d = view::describe(&snap.service.library, &node, entry, params)?;
    let mut value = serde_json::to_value(d).unwrap_or_default();
    let extra = if entry.status.is_ok() {
        match snap.open(name, params).await {
            Ok(opened) => match opened.source.discover().await {
                Ok(discovery) => ("discovery", discovery_json(&discovery)),
                Err(e) => ("discovery_error", J::String(e.to_string())),
            },
            // Values the caller passed are the caller's to fix; without any, a source that
            // cannot be rendered (a required parameter, an env() not allowed) is still described.
            Err(e @ ServiceError::Catalog(_)) if !params.is_empty() => return Err(e),
            Err(e) => ("discovery_error", J::String(e.to_string())),
        }
    } else {
        ("discovery_error", J::String(entry.status.to_string()))
    };
    if let Some(map) = value.as_object_mut() {
        map.insert(extra.0.into(), extra.1);
        map.insert("revision".into(), J::String(snap.revision.clone()));
    }
    // Everything shown passes here: args, parameter defaults, discovery errors quoting URLs.
    Ok(redact(&value))
}
