//! Direct file access: the whole files behind a source (Parquet, CSV, Avro), each handed out
//! as an expiring signed URL that this server serves with `Range` (`/api/v1/files/{ticket}`),
//! or, for object storage when the operator says so, as a URL pre-signed for the store.
//!
//! A file ticket names one object of one source (with the parameter values that chose it) and
//! the ETag it had when listed: redeeming it lists the source again and serves only an object
//! of that listing, pinned to that ETag. A path outside the source cannot be asked for: there
//! is no path in the request, only a signed ticket.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::storage::Files;
use object_store::{GetRange, ObjectMeta};
use serde::{Deserialize, Serialize};
use serde_json::Value as J;

use super::access::{authorize, Caller};
use super::tickets::now;
use super::usage::Meter;
use super::{Core, ServiceError};
use crate::config::DirectAccess;

/// What a file ticket grants: reads of one listed object of `source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileClaims {
    pub source: String,
    /// The parameter values the source was listed with (they choose its files).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, J>,
    /// The object's location in its store, as listed.
    pub file: String,
    /// Its ETag when listed: reads are pinned to it (`If-Match`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires: u64,
    /// The token that listed the file: the ticket stops working when that token does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// How a listed file is reached.
#[derive(Debug, Clone, PartialEq)]
pub enum FileAccess {
    /// Served by this server: `/api/v1/files/{ticket}`.
    Ticket(String),
    /// A URL pre-signed for the object store.
    Presigned(String),
    /// The operator turned direct access to object storage off.
    Off,
}

/// One file behind a source.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Relative to the directory holding all of the source's files.
    pub path: String,
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: chrono::DateTime<chrono::Utc>,
    /// Ids of the source's partitions this file holds.
    pub partitions: Vec<usize>,
    pub access: FileAccess,
}

#[derive(Debug, Clone)]
pub struct FileListing {
    pub source: String,
    pub files: Vec<SourceFile>,
    /// When the URLs stop working (Unix time, seconds).
    pub expires_at: u64,
}

/// A file a ticket grants, ready to be read in byte ranges.
pub struct OpenFile {
    pub source: String,
    pub meta: ObjectMeta,
    files: Files,
    meter: Arc<Meter>,
}

/// A byte stream of a file (or part of it), counted as usage and in the metrics as it goes.
pub type FileBytes = BoxStream<'static, std::io::Result<Bytes>>;

impl OpenFile {
    /// Streams `range` (half-open, in bytes) of the file, or all of it, as the listed version:
    /// a file replaced since it was listed fails with `DataChanged`. Nothing is buffered
    /// beyond what object_store hands over chunk by chunk.
    pub async fn bytes(
        &self,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<FileBytes, ServiceError> {
        let result = self
            .files
            .get_pinned(&self.meta, range.map(GetRange::Bounded))
            .await?;
        let meter = self.meter.clone();
        let source = self.source.clone();
        Ok(result
            .into_stream()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .inspect_ok(move |chunk| {
                let n = chunk.len() as u64;
                meter.add_bytes(n);
                metrics::counter!("inlet_file_bytes_served_total", "source" => source.clone())
                    .increment(n);
            })
            .boxed())
    }
}

/// The directory all `locations` share (`a/b/` of `a/b/x` and `a/b/c/y`), as a prefix.
fn common_dir(locations: &[&str]) -> String {
    let Some(first) = locations.first() else {
        return String::new();
    };
    let mut dir: Vec<&str> = first.split('/').collect();
    dir.pop();
    for loc in &locations[1..] {
        let parts: Vec<&str> = loc.split('/').collect();
        let same = dir
            .iter()
            .zip(&parts[..parts.len().saturating_sub(1)])
            .take_while(|(a, b)| a == b)
            .count();
        dir.truncate(same);
    }
    dir.iter().map(|d| format!("{d}/")).collect()
}

/// Intake's `direct_access: forbid` on the entry: its author wants the data read through the
/// server only.
fn forbidden_by_catalog(snap: &super::Snapshot, source: &str) -> Result<(), ServiceError> {
    let (node, idx) = snap.service.entry(source)?;
    let forbid = node
        .file
        .entries
        .get(idx)
        .is_some_and(|e| e.direct_access.as_deref() == Some("forbid"));
    if forbid {
        return Err(ServiceError::NoDirectFiles(format!(
            "the catalog forbids direct access to `{source}` (`direct_access: forbid`): read it with /api/v1/sources/{source}/data"
        )));
    }
    Ok(())
}

impl Core {
    /// The whole files behind `source` with the given parameter values, each with how to
    /// reach it. A source whose driver reads no whole files (Zarr) is `NoDirectFiles`.
    pub async fn files(
        &self,
        caller: &Caller,
        source: &str,
        params: &BTreeMap<String, J>,
    ) -> Result<FileListing, ServiceError> {
        authorize(caller, source)?;
        let snap = self.snapshot_for(caller);
        let opened = snap
            .open(source, params)
            .await
            .map_err(|e| caller.conceal(e))?;
        forbidden_by_catalog(&snap, source)?;
        let Some(files) = opened.source.whole_files() else {
            return Err(ServiceError::NoDirectFiles(format!(
                "`{source}` is not made of whole files a client could read on its own (its driver reads parts of a store, like Zarr chunks): read it with /api/v1/sources/{source}/data"
            )));
        };
        let discovery = opened
            .source
            .discover()
            .await
            .map_err(|e| opened.blame(e))?;
        let expires_at = now() + self.config.ticket_ttl_secs;
        let locations: Vec<&str> = files.objects.iter().map(|m| m.location.as_ref()).collect();
        let root = common_dir(&locations);
        let mut listed = Vec::with_capacity(files.objects.len());
        for (i, meta) in files.objects.iter().enumerate() {
            let shown = files.display(meta);
            // Discovery numbers files as listed; match by location in case it listed others.
            let index = discovery
                .files
                .iter()
                .position(|f| f.location == shown)
                .unwrap_or(i);
            let partitions = discovery
                .partitions
                .iter()
                .filter(|p| p.file == index)
                .map(|p| p.id)
                .collect();
            let access = self
                .file_access(caller, source, &opened.params, &files, meta, expires_at)
                .await?;
            listed.push(SourceFile {
                path: meta
                    .location
                    .as_ref()
                    .strip_prefix(root.as_str())
                    .unwrap_or(meta.location.as_ref())
                    .to_string(),
                size: meta.size,
                etag: meta.e_tag.clone(),
                last_modified: meta.last_modified,
                partitions,
                access,
            });
        }
        Ok(FileListing {
            source: source.to_string(),
            files: listed,
            expires_at,
        })
    }

    /// The one file of a one-file Parquet source (for `/data.parquet`).
    pub async fn single_parquet(
        &self,
        caller: &Caller,
        source: &str,
        params: &BTreeMap<String, J>,
    ) -> Result<SourceFile, ServiceError> {
        authorize(caller, source)?;
        let snap = self.snapshot_for(caller);
        let (node, idx) = snap.service.entry(source).map_err(|e| caller.conceal(e))?;
        let parquet = node.file.entries.get(idx).is_some_and(|e| {
            matches!(
                e.resolved,
                Some(crate::registry::Resolved::Source("parquet"))
            )
        });
        if !parquet {
            return Err(ServiceError::NoDirectFiles(format!(
                "`{source}` is not a Parquet source, so it has no Parquet file to redirect to: stream it as Parquet with /api/v1/sources/{source}/data?format=parquet"
            )));
        }
        let mut listing = self.files(caller, source, params).await?;
        match listing.files.len() {
            1 => Ok(listing.files.remove(0)),
            n => Err(ServiceError::NoDirectFiles(format!(
                "`{source}` has {n} Parquet files, not one: list them (each with its URL) with /api/v1/sources/{source}/files, or stream all as one Parquet with /api/v1/sources/{source}/data?format=parquet"
            ))),
        }
    }

    async fn file_access(
        &self,
        caller: &Caller,
        source: &str,
        params: &BTreeMap<String, J>,
        files: &Files,
        meta: &ObjectMeta,
        expires_at: u64,
    ) -> Result<FileAccess, ServiceError> {
        let mode = if files.is_local() {
            DirectAccess::Proxy
        } else {
            self.config.direct_access
        };
        match mode {
            DirectAccess::Off => Ok(FileAccess::Off),
            DirectAccess::Presign => {
                let ttl = std::time::Duration::from_secs(self.config.ticket_ttl_secs);
                match files.presigned_url(meta, ttl).await? {
                    Some(url) => Ok(FileAccess::Presigned(url.to_string())),
                    // Plain HTTP servers sign nothing: their URLs are proxied.
                    None => Ok(FileAccess::Ticket(
                        self.file_ticket(caller, source, params, meta, expires_at),
                    )),
                }
            }
            DirectAccess::Proxy => Ok(FileAccess::Ticket(
                self.file_ticket(caller, source, params, meta, expires_at),
            )),
        }
    }

    fn file_ticket(
        &self,
        caller: &Caller,
        source: &str,
        params: &BTreeMap<String, J>,
        meta: &ObjectMeta,
        expires: u64,
    ) -> String {
        self.tickets.sign_any(&FileClaims {
            source: source.to_string(),
            params: params.clone(),
            file: meta.location.to_string(),
            etag: meta.e_tag.clone(),
            expires,
            token: caller.token_id().map(str::to_string),
        })
    }

    /// The file a ticket grants: genuine, unexpired, its token still valid, and still one of
    /// the source's files. The ticket is the credential: it was issued to an authorized caller.
    pub async fn open_file(&self, ticket: &str) -> Result<OpenFile, ServiceError> {
        let claims: FileClaims = self.tickets.open(ticket)?;
        if claims.expires < now() {
            return Err(super::tickets::TicketError::Expired(claims.expires).into());
        }
        self.check_ticket_token(claims.token.as_deref()).await?;
        let snap = self.snapshot();
        let opened = snap.open(&claims.source, &claims.params).await?;
        // The catalog may have forbidden it since the URL was made.
        forbidden_by_catalog(&snap, &claims.source)?;
        let changed = |why: &str| {
            ServiceError::Driver(inlet_driver::DriverError::Changed(format!(
                "`{}` of `{}` {why} since the URL was made: list the files again",
                claims.file, claims.source
            )))
        };
        let files = opened
            .source
            .whole_files()
            .ok_or_else(|| changed("is no longer served whole"))?;
        let mut meta = files
            .objects
            .iter()
            .find(|m| m.location.as_ref() == claims.file)
            .cloned()
            .ok_or_else(|| changed("is no longer one of the source's files"))?;
        if claims.etag.is_some() && meta.e_tag != claims.etag {
            return Err(changed("was replaced"));
        }
        // Pin reads to the version the ticket names, even if the listing is older.
        meta.e_tag = claims.etag;
        Ok(OpenFile {
            meter: self.usage.meter(&claims.source, claims.token.as_deref()),
            source: claims.source,
            meta,
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_directory_all_files_share() {
        assert_eq!(common_dir(&["a/b/x.parquet"]), "a/b/");
        assert_eq!(common_dir(&["a/b/x", "a/b/c/y", "a/b/z"]), "a/b/");
        assert_eq!(common_dir(&["a/x", "b/y"]), "");
        assert_eq!(common_dir(&["x"]), "");
        assert_eq!(common_dir(&[]), "");
    }
}
