//! How derived sources (aliases, pipelines) reach the entries they are computed from: a
//! target name resolves in the catalog of the entry naming it, as Intake's `cat[target]`.
//!
//! Rules: a target is opened like any source (its args rendered with its defaults, or the
//! values the derived entry gives it); a chain of targets that comes back to an entry is a
//! cycle, and one deeper than [`MAX_DEPTH`] is refused, both as errors naming the chain.
//! Targets in another catalog file (`other.yml:entry`) are refused: tokens are scoped by
//! catalog, and a source opened once is shared by every caller of the snapshot, so the
//! reader's right to the other catalog could not be checked where the target is opened.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use inlet_driver::storage::StorageResolver;
use inlet_driver::{DriverError, Limits, Source, Targets};
use serde_json::{Map, Value as J};

use super::ServiceError;
use crate::catalog::{CatalogError, Library, Status};

/// How many derived sources may stand between an entry and the data it reads.
pub const MAX_DEPTH: usize = 8;

/// What opening an entry needs, owned, so that targets can be opened from inside a driver.
#[derive(Clone)]
pub struct Opener {
    pub library: Arc<Library>,
    pub storage: Arc<StorageResolver>,
    pub limits: Limits,
}

/// The targets of one entry: in its catalog, `chain` being the entries opened to reach it
/// (itself last).
pub struct CatalogTargets {
    pub opener: Opener,
    pub catalog: String,
    pub chain: Vec<String>,
}

#[async_trait]
impl Targets for CatalogTargets {
    async fn open(
        &self,
        arg: &str,
        name: &str,
        params: &Map<String, J>,
    ) -> Result<Arc<dyn Source>, DriverError> {
        if name.contains(':') || name.contains('/') {
            return Err(DriverError::Unsupported(format!(
                "target `{name}` is in another catalog file: Inlet resolves targets within the same catalog only (a token's scope could not be checked for another file); add the entry to this catalog"
            )));
        }
        let full = format!("{}.{name}", self.catalog);
        let path = |end: &str| {
            let mut names = self.chain.clone();
            names.push(end.to_string());
            names.join(" -> ")
        };
        if self.chain.contains(&full) {
            return Err(DriverError::bad_arg(
                arg,
                format!("target `{name}` makes a cycle: {}", path(&full)),
            ));
        }
        if self.chain.len() > MAX_DEPTH {
            return Err(DriverError::bad_arg(
                arg,
                format!("targets nest more than {MAX_DEPTH} deep: {}", path(&full)),
            ));
        }
        let params: BTreeMap<String, J> =
            params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut chain = self.chain.clone();
        chain.push(full.clone());
        let opened = Box::pin(super::open_entry(&self.opener, &full, &params, chain)).await;
        opened
            .map(|o| o.source)
            .map_err(|e| as_driver_error(arg, name, &self.catalog, e))
    }
}

/// A target's failure as the derived entry's: the target's own data errors pass through; a
/// target that does not exist or cannot be used is the derived entry's arg at fault.
fn as_driver_error(arg: &str, name: &str, catalog: &str, e: ServiceError) -> DriverError {
    match e {
        ServiceError::Driver(d) => d,
        ServiceError::Catalog(CatalogError::NotFound { .. }) => {
            DriverError::bad_arg(arg, format!("no entry `{name}` in catalog `{catalog}`"))
        }
        ServiceError::NotASource(_) => {
            DriverError::bad_arg(arg, format!("`{name}` is a catalog, not a source"))
        }
        ServiceError::Unavailable {
            status: status @ (Status::UnsupportedDriver(_) | Status::Unsupported(_)),
            ..
        } => DriverError::Unsupported(format!("target `{name}` cannot be read: {status}")),
        ServiceError::InvalidRequest { message, .. } => {
            DriverError::bad_arg(arg, format!("target `{name}`: {message}"))
        }
        other => DriverError::bad_arg(arg, format!("target `{name}`: {other}")),
    }
}
