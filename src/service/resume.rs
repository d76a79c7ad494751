//! Resumable reads. A read's batches are deterministic: the same request over the same version
//! of the data yields the same batches (partitions in order, `batch_size` rows per batch within
//! a partition, the last one of each partition shorter). So a client that received batches
//! `0..k` asks for `from_batch=k` and gets exactly the rest.
//!
//! The version a read sees is its [`data_version`]: the source's rendered args, the files
//! discovery listed (location, size, ETag) and the batch size. A resumed request names the
//! version it continues; a different one now is a 409 (`data-changed`), never other rows.

use futures::StreamExt;
use inlet_driver::{BatchStream, Discovery, DriverError, FileInfo, ReadRequest, Source};
use sha2::{Digest, Sha256};

use super::ServiceError;

/// Where a read starts, and which version of the data it must be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// Batches to leave out: the client already has batches `0..from_batch`.
    pub from_batch: u64,
    /// The version the first response reported (`x-inlet-data-version`); None: any.
    pub data_version: Option<String>,
}

/// Characters of a data version: 32 lowercase hex digits.
pub const VERSION_LEN: usize = 32;

/// The version of a source's data as a read with `batch_size` sees it.
pub fn data_version(key: &str, files: &[FileInfo], batch_size: usize) -> String {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update([0]);
    for f in files {
        h.update(f.location.as_bytes());
        h.update([0]);
        h.update(f.size.to_le_bytes());
        h.update(f.etag.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
        h.update(f.last_modified.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
    }
    h.update((batch_size as u64).to_le_bytes());
    h.finalize()
        .iter()
        .take(VERSION_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `text` looks like a data version (what a client may send back).
pub fn is_version(text: &str) -> bool {
    text.len() == VERSION_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Refuses a read whose data is not the version the client continues.
pub fn check_version(
    source: &str,
    expected: Option<&str>,
    current: &str,
) -> Result<(), ServiceError> {
    match expected {
        Some(v) if v != current => Err(ServiceError::DataChanged(format!(
            "the data of `{source}` changed since the read you are resuming (data version `{v}`, now `{current}`): its files were replaced or the catalog entry changed. Read it again from the start (without `from_batch`)"
        ))),
        _ => Ok(()),
    }
}

/// The partitions still to read after leaving out whole partitions whose batch counts the
/// driver knows (see `Source::batch_count`), and the batches still to drop from what remains.
pub fn skip_partitions(
    source: &dyn Source,
    discovery: &Discovery,
    request: &ReadRequest,
    from_batch: u64,
) -> Result<(Vec<usize>, u64), ServiceError> {
    let selected: Vec<usize> = discovery.select(request)?.iter().map(|p| p.id).collect();
    let mut remaining = from_batch;
    let mut skipped = 0;
    for &id in &selected {
        match source.batch_count(discovery, id, request.batch_size) {
            Some(n) if n <= remaining => {
                remaining -= n;
                skipped += 1;
            }
            _ => break,
        }
    }
    Ok((selected[skipped..].to_vec(), remaining))
}

/// Takes the first `n` batches of `stream` and drops them. An error among them is returned (a
/// resumed read fails as the full one would). False when the stream ended first: it must not
/// be polled again.
pub async fn drop_batches(stream: &mut BatchStream, n: u64) -> Result<bool, DriverError> {
    for _ in 0..n {
        match stream.next().await {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => return Ok(false),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(etag: &str) -> FileInfo {
        FileInfo {
            location: "a.parquet".into(),
            size: 10,
            etag: Some(etag.into()),
            last_modified: None,
        }
    }

    #[test]
    fn versions_follow_files_args_and_batch_size() {
        let v = data_version("k", &[file("1")], 100);
        assert!(is_version(&v), "{v}");
        assert_eq!(v, data_version("k", &[file("1")], 100));
        assert_ne!(v, data_version("k", &[file("2")], 100));
        assert_ne!(v, data_version("k2", &[file("1")], 100));
        assert_ne!(v, data_version("k", &[file("1")], 101));
        assert!(!is_version("xyz") && !is_version(&v.to_uppercase()));
        assert!(check_version("s", None, &v).is_ok());
        assert!(check_version("s", Some(&v), &v).is_ok());
        let e = check_version("s", Some("0"), &v).expect_err("changed");
        assert_eq!(e.kind(), super::super::ErrorKind::DataChanged);
    }
}
