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

/// One page of `node`'s own entries in name order: the first `size` that come after `after`
/// (a dotted name, where the previous page ended) and that `visible` lets through, and whether
/// more follow. The catalog keeps its entries' name order (built on the first page asked for),
/// so a page of a 100,000-entry catalog costs its own entries, not the catalog's.
pub fn entries_page(
    node: &CatalogNode,
    after: Option<&str>,
    size: usize,
    visible: impl Fn(&str) -> bool,
) -> (Vec<EntrySummary>, bool) {
    let entries = &node.file.entries;
    let order = node.file.name_order();
    // Every name is `catalog.entry`: compared as such without building it.
    let dotted_cmp = |entry: &str, other: &str| {
        node.name
            .bytes()
            .chain(std::iter::once(b'.'))
            .chain(entry.bytes())
            .cmp(other.bytes())
    };
    let start = after.map_or(0, |last| {
        order.partition_point(|&i| dotted_cmp(&entries[i].name, last).is_le())
    });
    let mut page = Vec::with_capacity(size.min(order.len()));
    for &i in &order[start..] {
        let row = view::summary(node, &entries[i]);
        if !visible(&row.name) {
            continue;
        }
        if page.len() == size {
            return (page, true);
        }
        page.push(row);
    }
    (page, false)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::EnvPolicy;

    /// Pages walked with `entries_page` are the full listing, sorted by name and filtered, cut
    /// into pages: what sorting every entry on every request gave.
    #[test]
    fn pages_follow_name_order_and_skip_what_the_caller_may_not_see() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut yaml = String::from("sources:\n");
        // File order is not name order; some names are prefixes of others.
        for i in [5, 12, 1, 30, 3, 17, 2, 25, 11, 7, 40, 4, 21, 9, 13] {
            yaml.push_str(&format!(
                "  e{i}:\n    driver: csv\n    args: {{urlpath: f{i}.csv}}\n"
            ));
        }
        std::fs::write(dir.path().join("cat.yaml"), yaml).expect("write");
        let (lib, diags) = Library::open(
            &[dir.path().to_path_buf()],
            EnvPolicy::default(),
            Arc::new(crate::service::builtin_drivers()),
        );
        assert!(diags.is_empty(), "{diags:?}");
        let node = catalog(&lib, "cat").expect("catalog");
        let visible = |name: &str| !name.contains('7');
        let mut want: Vec<String> = entries(&lib, &node, false)
            .into_iter()
            .map(|e| e.name)
            .filter(|n| visible(n))
            .collect();
        want.sort();
        for size in [1, 2, 4, 13, 100] {
            let (mut got, mut after) = (vec![], None::<String>);
            loop {
                let (page, more) = entries_page(&node, after.as_deref(), size, visible);
                assert!(page.len() <= size);
                got.extend(page.iter().map(|e| e.name.clone()));
                if !more {
                    break;
                }
                after = page.last().map(|e| e.name.clone());
            }
            assert_eq!(got, want, "page size {size}");
        }
        // A cursor that names no entry starts after where that name sorts.
        let (page, _) = entries_page(&node, Some("cat.e1x"), 2, visible);
        let names: Vec<&str> = page.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["cat.e2", "cat.e21"]);
        let (page, more) = entries_page(&node, Some("cat.zzz"), 2, visible);
        assert!(page.is_empty() && !more);
        let (page, _) = entries_page(&node, Some("a"), 1, visible);
        assert_eq!(page[0].name, "cat.e1");
    }
}
