//! What one catalog file says, after parsing and validation, before any templating.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value as J;

use super::diag::{Diagnostic, Severity};
use super::params::ParamSpec;
use super::yaml::Pos;
use crate::registry::Resolved;

/// One parsed YAML catalog file.
#[derive(Debug, Clone)]
pub struct CatalogFile {
    pub path: PathBuf,
    /// `CATALOG_DIR` for the entries of this file.
    pub dir: Arc<Path>,
    /// The `name:` key, when the file sets one.
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: J,
    /// Catalog-wide parameters (`metadata.parameters`).
    pub parameters: Vec<ParamSpec>,
    pub entries: Vec<Entry>,
    /// 1 for Intake v1 YAML, 2 for Intake 2 (`version: 2`).
    pub version: u32,
    pub diagnostics: Vec<Diagnostic>,
    /// Entry positions by name (the last of a repeated name), built on the first lookup: a
    /// catalog of 100,000 entries is looked up by name on every request.
    pub by_name: std::sync::OnceLock<std::collections::HashMap<String, usize>>,
    /// Entry positions in name order (file order among equal names), built on the first
    /// listing: pages of a large catalog are found by binary search.
    pub name_order: std::sync::OnceLock<Vec<usize>>,
}

impl CatalogFile {
    /// The entry that `dotted` names or lies under (`entry` or `entry.more`), the longest
    /// such name when several match (entry names may contain dots).
    pub fn entry_under(&self, dotted: &str) -> Option<usize> {
        let by_name = self.by_name.get_or_init(|| {
            self.entries
                .iter()
                .enumerate()
                .map(|(i, e)| (e.name.clone(), i))
                .collect()
        });
        let cuts = dotted
            .match_indices('.')
            .map(|(i, _)| i)
            .chain([dotted.len()]);
        let mut found = None;
        for cut in cuts {
            if let Some(&i) = by_name.get(&dotted[..cut]) {
                found = Some(i);
            }
        }
        found
    }

    /// Entry positions in name order, see [`CatalogFile::name_order`].
    pub fn name_order(&self) -> &[usize] {
        self.name_order.get_or_init(|| {
            let mut order: Vec<usize> = (0..self.entries.len()).collect();
            order.sort_by(|&a, &b| self.entries[a].name.cmp(&self.entries[b].name));
            order
        })
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// Why an entry cannot be read, or `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    UnsupportedDriver(String),
    Unsupported(String),
    Error(String),
}

impl Status {
    pub fn is_ok(&self) -> bool {
        *self == Status::Ok
    }
}

/// Whether an entry can be read, by kind (for a badge).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusKind {
    #[default]
    Ok,
    /// Its driver (or a feature it needs) is not built into this server.
    Unsupported,
    /// It failed to load (its catalog has an error for it).
    Error,
}

impl StatusKind {
    pub fn of(status: &Status) -> StatusKind {
        match status {
            Status::Ok => StatusKind::Ok,
            Status::UnsupportedDriver(_) | Status::Unsupported(_) => StatusKind::Unsupported,
            Status::Error(_) => StatusKind::Error,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StatusKind::Ok => "ok",
            StatusKind::Unsupported => "unsupported",
            StatusKind::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Ok => f.write_str("ok"),
            Status::UnsupportedDriver(d) => write!(f, "unsupported driver: {d}"),
            Status::Unsupported(why) => write!(f, "unsupported: {why}"),
            Status::Error(why) => write!(f, "error: {why}"),
        }
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One entry under `sources:`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub pos: Pos,
    /// `CATALOG_DIR` for this entry (entries merged by `yaml_files_cat` keep their own).
    pub dir: Arc<Path>,
    pub description: Option<String>,
    /// The driver as written: a string, a list or a mapping.
    pub driver_written: J,
    /// The name that was chosen among the written candidates (the first that resolves).
    pub driver: String,
    pub resolved: Option<Resolved>,
    /// Args before templating.
    pub args: J,
    pub metadata: J,
    /// The entry's own declarations.
    pub parameters: Vec<ParamSpec>,
    /// Names the args' templates read, with where each is first used (a Vec: entries are many,
    /// names per entry few).
    pub template_vars: Vec<(String, Pos)>,
    pub direct_access: Option<String>,
    pub status: Status,
    /// Groups of the hierarchical dialect: a catalog defined inline.
    pub inline: Option<Arc<CatalogFile>>,
}

impl Entry {
    pub fn is_catalog(&self) -> bool {
        self.inline.is_some()
            || matches!(
                self.resolved,
                Some(Resolved::YamlFileCatalog | Resolved::YamlFilesCatalog)
            )
    }

    /// A fingerprint of what the entry says (description, driver, args, metadata, parameters,
    /// direct access), for telling which commits changed it.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let said = serde_json::json!([
            self.description,
            self.driver_written,
            self.args,
            self.metadata,
            self.parameters,
            self.direct_access,
        ]);
        let hash = Sha256::digest(said.to_string().as_bytes());
        hash[..12].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first line of the description, for listings.
    pub fn summary(&self) -> &str {
        self.description
            .as_deref()
            .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
            .unwrap_or("")
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn status_kinds_come_from_the_status_not_its_text() {
        assert_eq!(StatusKind::of(&Status::Ok), StatusKind::Ok);
        assert_eq!(
            StatusKind::of(&Status::UnsupportedDriver("rasterio".into())),
            StatusKind::Unsupported
        );
        assert_eq!(
            StatusKind::of(&Status::Error("unsupported driver: in a message".into())),
            StatusKind::Error
        );
    }
}
