//! Where data lives: `urlpath` (a string, a list, a glob, a directory) + fsspec `storage_options`
//! -> one object store and a sorted list of objects. Local sources are confined to their
//! catalog's directory and operator-allowed prefixes. This is the only place drivers resolve
//! storage.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Once};

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, GetResult, ObjectMeta, ObjectStore,
    ObjectStoreExt, RetryConfig,
};
use serde_json::{Map, Value as J};
use url::Url;

use crate::args::strings;
use crate::confined::ConfinedLocal;
use crate::{DriverError, FileInfo, Result};

/// The ETag object_store's `LocalFileSystem` gives a file (inode, mtime in microseconds, size),
/// so reads can be pinned (`If-Match`) to the version a listing saw. A test compares it with
/// `head()`'s, so a change of scheme in object_store fails there, not in production.
fn local_etag(meta: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_micros();
    format!("\"{inode:x}-{mtime:x}-{:x}\"", meta.len())
}

/// Resolves urlpaths for every source of a service; holds the operator's allowed prefixes.
#[derive(Debug, Clone, Default)]
pub struct StorageResolver {
    allowed: Vec<PathBuf>,
    /// Remote hosts sources may reach (`host`, `*.suffix`); empty: any host but link-local and
    /// cloud-metadata addresses.
    hosts: Vec<String>,
    /// How remote stores retry transient failures (5xx, resets, timeouts, broken bodies).
    retry: StorageRetry,
}

/// How object stores retry transient failures of idempotent requests (GETs, HEADs, LISTs):
/// `retries` more attempts with exponential backoff, all within `timeout` of the first. The
/// defaults fail a dead endpoint in seconds rather than object_store's three minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StorageRetry {
    pub retries: usize,
    pub timeout: std::time::Duration,
    pub first_backoff: std::time::Duration,
    pub max_backoff: std::time::Duration,
}

impl Default for StorageRetry {
    fn default() -> Self {
        StorageRetry {
            retries: 3,
            timeout: std::time::Duration::from_secs(30),
            first_backoff: std::time::Duration::from_millis(100),
            max_backoff: std::time::Duration::from_secs(5),
        }
    }
}

impl StorageRetry {
    fn config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.first_backoff,
                max_backoff: self.max_backoff,
                base: 2.0,
            },
            max_retries: self.retries,
            retry_timeout: self.timeout,
        }
    }
}

/// A store as built here: what reads it and, for S3, GCS and Azure, what signs URLs to it.
type Built = (Arc<dyn ObjectStore>, Option<Arc<dyn Signer>>);

/// The objects behind one source, all in one store.
#[derive(Debug, Clone)]
pub struct Files {
    pub store: Arc<dyn ObjectStore>,
    /// `s3://bucket`, `https://host:port`, or empty for local files: prefixed to locations for display.
    base: String,
    pub objects: Vec<ObjectMeta>,
    /// Signs URLs with the store's credentials (S3, GCS, Azure); None for local files and HTTP.
    signer: Option<Arc<dyn Signer>>,
}

impl Files {
    /// Objects already resolved elsewhere (tests, embedding applications).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        base: impl Into<String>,
        objects: Vec<ObjectMeta>,
    ) -> Self {
        Files {
            store,
            base: base.into(),
            objects,
            signer: None,
        }
    }

    /// A URL that GETs `meta` from the store itself for `expires_in`, signed with the source's
    /// credentials; None when the store cannot sign (local files, plain HTTP).
    pub async fn presigned_url(
        &self,
        meta: &ObjectMeta,
        expires_in: std::time::Duration,
    ) -> Result<Option<Url>> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        signer
            .signed_url(
                object_store::signer::Method::GET,
                &meta.location,
                expires_in,
            )
            .await
            .map(Some)
            .map_err(|e| DriverError::from_store(&self.display(meta), e))
    }

    /// How a user would write the object's location: `s3://bucket/key` or `/abs/path`.
    /// Reads `meta` (all of it, or `range`) as the version that was listed: an object replaced
    /// since (another ETag) is [`DriverError::Changed`], not a mix of two versions. Stores
    /// without ETags (plain HTTP servers) are read as they are.
    pub async fn get_pinned(
        &self,
        meta: &ObjectMeta,
        range: Option<GetRange>,
    ) -> Result<GetResult> {
        let options = GetOptions {
            if_match: meta.e_tag.clone(),
            range,
            ..GetOptions::default()
        };
        self.store
            .get_opts(&meta.location, options)
            .await
            .map_err(|e| DriverError::from_store(&self.display(meta), e))
    }

    /// Whether the objects are local files (not object storage or HTTP).
    pub fn is_local(&self) -> bool {
        self.base.is_empty()
    }

    pub fn display(&self, meta: &ObjectMeta) -> String {
        if self.base.is_empty() {
            format!("/{}", meta.location)
        } else {
            format!("{}/{}", self.base, meta.location)
        }
    }

    pub fn file_infos(&self) -> Vec<FileInfo> {
        self.objects
            .iter()
            .map(|m| FileInfo {
                location: self.display(m),
                size: m.size,
                etag: m.e_tag.clone(),
                last_modified: Some(m.last_modified.to_rfc3339()),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    S3,
    Gcs,
    Azure,
    Http,
}

/// One parsed urlpath.
enum Location {
    Local(PathBuf),
    Remote {
        scheme: Scheme,
        base: String,
        bucket: String,
        key: String,
        url: Url,
    },
}

const GLOB_CHARS: [char; 3] = ['*', '?', '['];

/// Installs the TLS crypto provider (ring) for HTTP clients, once; storage resolution calls it,
/// and so must anything else that builds a reqwest client in this process.
pub fn ensure_tls_provider() {
    static ONCE: Once = Once::new();
    // reqwest is built without a default crypto provider (to avoid aws-lc's C build): use ring.
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl StorageResolver {
    /// `allowed`: directories local sources may read besides their catalog's directory.
    pub fn new(allowed: impl IntoIterator<Item = PathBuf>) -> Self {
        StorageResolver {
            allowed: allowed
                .into_iter()
                .map(|p| p.canonicalize().unwrap_or(p))
                .collect(),
            hosts: vec![],
            retry: StorageRetry::default(),
        }
    }

    /// Sets how remote stores retry transient failures.
    pub fn with_retry(mut self, retry: StorageRetry) -> Self {
        self.retry = retry;
        self
    }

    /// Restricts remote reads to these hosts (`data.example.com`, `*.example.com`, an IP).
    pub fn with_allowed_hosts(mut self, hosts: impl IntoIterator<Item = String>) -> Self {
        self.hosts = hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        self
    }

    /// Whether a source may reach `host`: the operator's list when there is one; else anything
    /// but link-local and cloud-metadata addresses (where instance credentials live).
    pub fn check_host(&self, host: &str, what: &str) -> Result<()> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if !self.hosts.is_empty() {
            let listed = self.hosts.iter().any(|h| match h.strip_prefix("*.") {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => *h == host,
            });
            return if listed {
                Ok(())
            } else {
                Err(DriverError::Denied(format!(
                    "{what} `{host}` is not among the hosts this server may reach (allow_hosts); ask the operator to add it"
                )))
            };
        }
        let link_local = match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => ip.is_link_local() || ip.is_unspecified(),
            Ok(std::net::IpAddr::V6(ip)) => {
                (ip.segments()[0] & 0xffc0) == 0xfe80
                    || ip.is_unspecified()
                    || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
            }
            Err(_) => matches!(
                host.as_str(),
                "metadata"
                    | "metadata.google.internal"
                    | "instance-data"
                    | "instance-data.ec2.internal"
            ),
        };
        if link_local {
            return Err(DriverError::Denied(format!(
                "{what} `{host}` is a link-local or cloud-metadata address: refused unless the operator lists it in allow_hosts"
            )));
        }
        Ok(())
    }

    /// Expands `urlpath` into objects, sorted; each file is at least one partition downstream.
    pub async fn resolve(
        &self,
        urlpath: &J,
        storage_options: Option<&J>,
        catalog_dir: &Path,
    ) -> Result<Files> {
        let raw = strings("urlpath", urlpath)?;
        if raw.is_empty() || raw.iter().any(|s| s.trim().is_empty()) {
            return Err(DriverError::bad_arg(
                "urlpath",
                "is empty: point it at a file, a directory or a glob",
            ));
        }
        let opts = match storage_options {
            None | Some(J::Null) => Map::new(),
            Some(J::Object(m)) => m.clone(),
            Some(other) => {
                return Err(DriverError::bad_arg(
                    "storage_options",
                    format!("must be a mapping, got {other}"),
                ))
            }
        };
        let locations = raw
            .iter()
            .map(|s| parse_location(s, catalog_dir))
            .collect::<Result<Vec<_>>>()?;
        match &locations[0] {
            Location::Local(_) => {
                if let Some(k) = opts.keys().next() {
                    return Err(DriverError::bad_arg(
                        &format!("storage_options.{k}"),
                        "local files take no storage options; remove it",
                    ));
                }
                self.resolve_local(&locations, catalog_dir)
            }
            Location::Remote {
                scheme,
                base,
                bucket,
                ..
            } => {
                let (scheme, base, bucket) = (*scheme, base.clone(), bucket.clone());
                if locations
                    .iter()
                    .any(|l| !matches!(l, Location::Remote { base: b, .. } if *b == base))
                {
                    return Err(DriverError::bad_arg(
                        "urlpath",
                        "all paths of one source must be in the same bucket or server",
                    ));
                }
                if scheme == Scheme::Http {
                    self.check_host(&bucket, "host")?;
                }
                if let Some(endpoint) = endpoint_option(&opts) {
                    let host = Url::parse(&endpoint)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_string))
                        .unwrap_or_default();
                    self.check_host(&host, "endpoint")?;
                }
                ensure_tls_provider();
                let (store, signer) =
                    build_store(scheme, &bucket, &base, &opts, self.retry.config())?;
                let mut objects = vec![];
                for loc in &locations {
                    if let Location::Remote { key, url, .. } = loc {
                        objects.extend(expand_remote(&store, scheme, key, url).await?);
                    }
                }
                Ok(Files {
                    store,
                    base,
                    objects,
                    signer,
                })
            }
        }
    }

    fn resolve_local(&self, locations: &[Location], catalog_dir: &Path) -> Result<Files> {
        let catalog_root = catalog_dir
            .canonicalize()
            .unwrap_or_else(|_| catalog_dir.to_path_buf());
        let roots: Vec<&Path> = std::iter::once(catalog_root.as_path())
            .chain(self.allowed.iter().map(PathBuf::as_path))
            .collect();
        let rule = |p: &Path| {
            format!(
                "`{}` is outside the catalog directory `{}`: a local source may only read under its \
                 catalog's directory or a prefix the operator allowed (--allow-path)",
                p.display(),
                catalog_root.display()
            )
        };
        let mut files = vec![];
        for loc in locations {
            let Location::Local(path) = loc else {
                return Err(DriverError::bad_arg(
                    "urlpath",
                    "cannot mix local paths and URLs in one source",
                ));
            };
            // Lexical check first: `..` may not climb out, whether or not the target exists.
            if !roots.iter().any(|r| path.starts_with(r)) {
                return Err(DriverError::Denied(rule(path)));
            }
            files.extend(expand_local(path)?);
        }
        let mut objects = vec![];
        for f in files {
            // Then the real path: a symlink must not lead out either.
            let real = f
                .canonicalize()
                .map_err(|e| DriverError::Io(format!("`{}`: {e}", f.display())))?;
            if !roots.iter().any(|r| real.starts_with(r)) {
                return Err(DriverError::Denied(format!(
                    "`{}` is a symlink to `{}`, {}",
                    f.display(),
                    real.display(),
                    rule(&real).split_once(": ").map_or("", |(_, rest)| rest)
                )));
            }
            let meta = std::fs::metadata(&real)
                .map_err(|e| DriverError::Io(format!("`{}`: {e}", real.display())))?;
            let modified = meta.modified().ok().map(chrono_time).unwrap_or_default();
            objects.push(ObjectMeta {
                location: ObjectPath::from_absolute_path(&real)
                    .map_err(|e| DriverError::bad_arg("urlpath", e.to_string()))?,
                last_modified: modified,
                size: meta.len(),
                e_tag: Some(local_etag(&meta)),
                version: None,
            });
        }
        Ok(Files {
            store: Arc::new(ConfinedLocal::new(
                roots.iter().map(|r| r.to_path_buf()).collect(),
            )),
            base: String::new(),
            objects,
            signer: None,
        })
    }
}

fn chrono_time(t: std::time::SystemTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from(t)
}

fn parse_location(raw: &str, catalog_dir: &Path) -> Result<Location> {
    let s = raw.trim();
    for marker in [
        "::",
        "reference://",
        "filecache",
        "simplecache",
        "blockcache",
    ] {
        if s.contains(marker) {
            return Err(DriverError::Unsupported(format!(
                "fsspec URL `{s}` (chained or reference filesystems) cannot be read by Inlet; \
                 point urlpath at the data itself"
            )));
        }
    }
    let Some((scheme, _)) = s.split_once("://") else {
        return Ok(Location::Local(normalize(&catalog_dir.join(s))));
    };
    let url = Url::parse(s)
        .map_err(|e| DriverError::bad_arg("urlpath", format!("`{s}` is not a valid URL: {e}")))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            let p = url.to_file_path().map_err(|_| DriverError::bad_arg("urlpath", format!("`{s}` is not a local file URL")))?;
            return Ok(Location::Local(normalize(&p)));
        }
        "s3" | "s3a" => Scheme::S3,
        "gs" | "gcs" => Scheme::Gcs,
        "az" | "abfs" | "abfss" | "adl" => Scheme::Azure,
        "http" | "https" => Scheme::Http,
        other => return Err(DriverError::Unsupported(format!("URL scheme `{other}://` in `{s}`; supported: local paths, file, s3, gs/gcs, az/abfs, http(s)"))),
    };
    let host = url.host_str().unwrap_or_default().to_string();
    if host.is_empty() {
        return Err(DriverError::bad_arg(
            "urlpath",
            format!("`{s}` has no bucket or host (expected e.g. s3://bucket/key)"),
        ));
    }
    let (bucket, base) = match scheme {
        Scheme::Http => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            (host.clone(), format!("{}://{host}{port}", url.scheme()))
        }
        _ => (host.clone(), format!("{}://{host}", url.scheme())),
    };
    let key = percent_decode(url.path().trim_start_matches('/'));
    Ok(Location::Remote {
        scheme,
        base,
        bucket,
        key,
        url,
    })
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Removes `.` and resolves `..` without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

fn expand_local(path: &Path) -> Result<Vec<PathBuf>> {
    let text = path.to_string_lossy();
    if text.contains(GLOB_CHARS) {
        let paths = glob::glob(&text)
            .map_err(|e| DriverError::bad_arg("urlpath", format!("bad glob `{text}`: {e}")))?;
        let mut found: Vec<PathBuf> = paths.flatten().filter(|p| p.is_file()).collect();
        found.sort();
        if found.is_empty() {
            return Err(DriverError::NotFound(format!(
                "glob `{text}` matches no file"
            )));
        }
        return Ok(found);
    }
    if path.is_dir() {
        let mut found = vec![];
        let mut stack = vec![path.to_path_buf()];
        while let Some(d) = stack.pop() {
            let rd = std::fs::read_dir(&d)
                .map_err(|e| DriverError::Io(format!("`{}`: {e}", d.display())))?;
            for e in rd.flatten() {
                if hidden(&e.file_name().to_string_lossy()) {
                    continue;
                }
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    found.push(p);
                }
            }
        }
        found.sort();
        if found.is_empty() {
            return Err(DriverError::NotFound(format!(
                "directory `{}` has no data files",
                path.display()
            )));
        }
        return Ok(found);
    }
    if !path.exists() {
        return Err(DriverError::NotFound(format!(
            "`{}` does not exist: check the urlpath",
            path.display()
        )));
    }
    Ok(vec![path.to_path_buf()])
}

async fn expand_remote(
    store: &Arc<dyn ObjectStore>,
    scheme: Scheme,
    key: &str,
    url: &Url,
) -> Result<Vec<ObjectMeta>> {
    let shown = url.as_str();
    if let Some(first) = key.find(GLOB_CHARS) {
        if scheme == Scheme::Http {
            return Err(DriverError::Unsupported(format!(
                "glob `{shown}` over plain HTTP (servers do not list files): list the URLs instead"
            )));
        }
        let prefix = key[..first].rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let pattern = glob::Pattern::new(key)
            .map_err(|e| DriverError::bad_arg("urlpath", format!("bad glob `{shown}`: {e}")))?;
        let opts = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        let mut found: Vec<ObjectMeta> = list(store, prefix, shown)
            .await?
            .into_iter()
            .filter(|m| pattern.matches_with(m.location.as_ref(), opts))
            .collect();
        found.sort_by(|a, b| a.location.cmp(&b.location));
        if found.is_empty() {
            return Err(DriverError::NotFound(format!(
                "glob `{shown}` matches no object"
            )));
        }
        return Ok(found);
    }
    let path = ObjectPath::from(key.trim_end_matches('/'));
    if !key.ends_with('/') {
        match store.head(&path).await {
            Ok(meta) => return Ok(vec![meta]),
            Err(object_store::Error::NotFound { .. }) if scheme != Scheme::Http => {}
            Err(e) => return Err(DriverError::from_store(shown, e)),
        }
    }
    // A directory: every object under the prefix.
    let mut found: Vec<ObjectMeta> = list(store, key.trim_end_matches('/'), shown)
        .await?
        .into_iter()
        .filter(|m| m.location.filename().is_some_and(|n| !hidden(n)))
        .collect();
    found.sort_by(|a, b| a.location.cmp(&b.location));
    if found.is_empty() {
        return Err(DriverError::NotFound(format!(
            "`{shown}` does not exist: check the urlpath"
        )));
    }
    Ok(found)
}

async fn list(store: &Arc<dyn ObjectStore>, prefix: &str, shown: &str) -> Result<Vec<ObjectMeta>> {
    let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
    store
        .list(prefix.as_ref())
        .try_collect()
        .await
        .map_err(|e| DriverError::from_store(shown, e))
}

/// fsspec options as one flat view: `client_kwargs.endpoint_url` reads as `endpoint_url`.
/// `endpoint_url`, at the top level or under `client_kwargs`.
fn endpoint_option(opts: &Map<String, J>) -> Option<String> {
    let direct = opts.get("endpoint_url");
    let nested = opts
        .get("client_kwargs")
        .and_then(J::as_object)
        .and_then(|k| k.get("endpoint_url"));
    direct
        .or(nested)
        .and_then(J::as_str)
        .map(str::to_string)
        .or_else(|| {
            opts.get("connection_string")
                .and_then(J::as_str)
                .and_then(connection_endpoint)
        })
}

fn sas_pairs(token: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(token.trim_start_matches('?').as_bytes())
        .into_owned()
        .collect()
}

/// The `Key=Value;...` pairs of an Azure storage connection string (adlfs' `connection_string`).
fn connection_pairs(s: &str) -> Vec<(String, String)> {
    s.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// The blob endpoint a connection string names (`BlobEndpoint`, or the account and the
/// endpoint suffix), for the host rules.
fn connection_endpoint(s: &str) -> Option<String> {
    let pairs = connection_pairs(s);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    get("blobendpoint").or_else(|| {
        let account = get("accountname")?;
        let suffix = get("endpointsuffix").unwrap_or_else(|| "core.windows.net".into());
        let protocol = get("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
        Some(format!("{protocol}://{account}.blob.{suffix}"))
    })
}

/// Applies an Azure storage connection string, as Azure's SDKs and adlfs read it: the account,
/// its key or a shared access signature, and the blob endpoint (Azurite's included).
fn with_connection_string(mut b: MicrosoftAzureBuilder, s: &str) -> Result<MicrosoftAzureBuilder> {
    let pairs = connection_pairs(s);
    if pairs.is_empty() {
        return Err(DriverError::bad_arg(
            "storage_options.connection_string",
            "expected `AccountName=...;AccountKey=...;BlobEndpoint=...` pairs",
        ));
    }
    for (k, v) in &pairs {
        b = match k.as_str() {
            "accountname" => b.with_account(v),
            "accountkey" => b.with_access_key(v),
            "sharedaccesssignature" => b.with_sas_authorization(sas_pairs(v)),
            "usedevelopmentstorage" if v.eq_ignore_ascii_case("true") => b.with_use_emulator(true),
            _ => b,
        };
    }
    if let Some(endpoint) = connection_endpoint(s) {
        b = b
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    Ok(b)
}

fn flatten_options(opts: &Map<String, J>, accepted: &[&str]) -> Result<Vec<(String, J)>> {
    let mut out = vec![];
    for (k, v) in opts {
        if k == "client_kwargs" {
            let inner = v.as_object().ok_or_else(|| {
                DriverError::bad_arg("storage_options.client_kwargs", "must be a mapping")
            })?;
            for (ik, iv) in inner {
                let name = match ik.as_str() {
                    "endpoint_url" => "endpoint_url",
                    "region_name" => "region",
                    _ => "",
                };
                if !accepted.contains(&name) {
                    return Err(unknown_option(&format!("client_kwargs.{ik}"), accepted));
                }
                out.push((name.to_string(), iv.clone()));
            }
        } else if accepted.contains(&k.as_str()) {
            out.push((k.clone(), v.clone()));
        } else {
            return Err(unknown_option(k, accepted));
        }
    }
    Ok(out)
}

fn unknown_option(key: &str, accepted: &[&str]) -> DriverError {
    DriverError::bad_arg(
        &format!("storage_options.{key}"),
        format!(
            "unknown storage option; this storage accepts: {}",
            accepted.join(", ")
        ),
    )
}

fn truthy(key: &str, v: &J) -> Result<bool> {
    match v {
        J::Bool(b) => Ok(*b),
        J::String(s) if matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes") => Ok(true),
        J::String(s) if matches!(s.to_ascii_lowercase().as_str(), "false" | "0" | "no") => {
            Ok(false)
        }
        other => Err(DriverError::bad_arg(
            &format!("storage_options.{key}"),
            format!("expected true or false, got {other}"),
        )),
    }
}

fn text(key: &str, v: &J) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| {
        DriverError::bad_arg(
            &format!("storage_options.{key}"),
            format!("expected a string, got {v}"),
        )
    })
}

fn config_error(e: object_store::Error) -> DriverError {
    DriverError::bad_arg("storage_options", e.to_string())
}

/// The storage options gcsfs takes, as Intake catalogs spell them.
const GCS_OPTIONS: [&str; 5] = ["anon", "token", "project", "requester_pays", "endpoint_url"];

/// A GCS endpoint as gcsfs takes it (`endpoint_url`, or `STORAGE_EMULATOR_HOST`, where a bare
/// `host:port` means plain HTTP and `default` means Google), as object_store's base URL:
/// `http(s)://host[:port][/prefix]`.
fn gcs_endpoint(what: &str, raw: &str) -> Result<String> {
    let raw = raw.trim();
    let full = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let bad = |why: &str| {
        DriverError::bad_arg(
            what,
            format!("{why}: expected an http(s) URL such as `http://127.0.0.1:4443`"),
        )
    };
    let url = Url::parse(&full).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad("is not an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("has a query or fragment"));
    }
    Ok(full.trim_end_matches('/').to_string())
}

/// The GCS client for `bucket` with gcsfs' `storage_options` (`GCS_OPTIONS`). `emulator` is the
/// server's `STORAGE_EMULATOR_HOST`, which gcsfs and Google's own clients read too.
///
/// Endpoints: a catalog's `endpoint_url` wins over the server's emulator, which wins over
/// Google. Credentials: `token: anon` (or `anon: true`) signs nothing; `token: cloud` /
/// `google_default` / absent take the server's default credentials; a path or a mapping is a
/// service account. Google's credentials are bearer tokens sent as they are, so a catalog that
/// names its own endpoint reads it unsigned: the server's credentials never go to a host a
/// catalog chose (its host is checked against allow_hosts by the caller). With the operator's
/// emulator and no `token`, requests are unsigned too, as Google's clients do for emulators.
fn gcs_builder(
    bucket: &str,
    opts: &Map<String, J>,
    retry: RetryConfig,
    emulator: Option<String>,
) -> Result<GoogleCloudStorageBuilder> {
    let emulator = emulator.filter(|h| !matches!(h.trim(), "" | "default"));
    let mut b = GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry);
    let mut anon: Option<bool> = None;
    // Which credentials the options named, for the endpoint rule: None when `token` is absent.
    let mut token: Option<&'static str> = None;
    let mut endpoint = None;
    for (k, v) in flatten_options(opts, &GCS_OPTIONS)? {
        match k.as_str() {
            "anon" => anon = Some(truthy(&k, &v)?),
            "token" => match &v {
                J::String(s) if s == "anon" => token = Some("anon"),
                J::String(s) if matches!(s.as_str(), "cloud" | "google_default") => {
                    token = Some("the server's default credentials")
                }
                J::String(path) if !path.trim().is_empty() => {
                    b = b.with_service_account_path(path.trim());
                    token = Some("a service-account file");
                }
                J::Object(_) => {
                    b = b.with_service_account_key(v.to_string());
                    token = Some("a service-account key");
                }
                J::Null => {}
                _ => {
                    return Err(DriverError::bad_arg(
                        "storage_options.token",
                        "expected `anon`, `cloud`, `google_default`, a service-account file \
                         path or a service-account mapping",
                    ))
                }
            },
            "endpoint_url" => {
                endpoint = Some(gcs_endpoint(
                    "storage_options.endpoint_url",
                    &text(&k, &v)?,
                )?)
            }
            // `project` bills and creates buckets in gcsfs; reads need neither. object_store
            // sends no user project, so `requester_pays` buckets answer with Google's error.
            _ => {}
        }
    }
    let signed = match (anon, token) {
        (Some(true), _) | (_, Some("anon")) => false,
        (Some(false), _) | (_, Some(_)) => true,
        // Nothing said: an emulator or a catalog's endpoint is read unsigned.
        (None, None) => endpoint.is_none() && emulator.is_none(),
    };
    if let Some(endpoint) = endpoint {
        if signed {
            return Err(DriverError::bad_arg(
                "storage_options.endpoint_url",
                format!(
                    "a GCS endpoint named by the catalog is read unsigned, but the options ask \
                     for {}: Google credentials are bearer tokens, which this server sends to \
                     no endpoint a catalog chose; use `token: anon` (as for an emulator) or drop \
                     `endpoint_url`",
                    token.unwrap_or("the server's default credentials")
                ),
            ));
        }
        b = b.with_base_url(&endpoint);
    } else if let Some(host) = emulator {
        b = b.with_base_url(&gcs_endpoint("STORAGE_EMULATOR_HOST", &host)?);
    }
    Ok(b.with_skip_signature(!signed))
}

/// Build errors of a GCS client. A service account given inline is named, never echoed: its
/// parser's messages may quote values.
fn gcs_config_error(opts: &Map<String, J>) -> impl Fn(object_store::Error) -> DriverError + '_ {
    move |e| {
        if opts.get("token").is_some_and(J::is_object) {
            DriverError::bad_arg(
                "storage_options.token",
                "is not a usable service-account key (a mapping with `type`, `client_email` \
                 and `private_key`, as in the JSON file Google issues)",
            )
        } else {
            config_error(e)
        }
    }
}

fn build_store(
    scheme: Scheme,
    bucket: &str,
    base: &str,
    opts: &Map<String, J>,
    retry: RetryConfig,
) -> Result<Built> {
    // The same client reads and signs.
    fn signing<S: ObjectStore + Signer>(store: S) -> Built {
        let store = Arc::new(store);
        (store.clone(), Some(store))
    }
    match scheme {
        Scheme::S3 => {
            let accepted = [
                "anon",
                "requester_pays",
                "key",
                "secret",
                "token",
                "endpoint_url",
                "region",
                "client_kwargs",
            ];
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry);
            let mut region = None;
            for (k, v) in flatten_options(opts, &accepted)? {
                b = match k.as_str() {
                    "anon" => b.with_skip_signature(truthy(&k, &v)?),
                    "requester_pays" => b.with_request_payer(truthy(&k, &v)?),
                    "key" => b.with_access_key_id(text(&k, &v)?),
                    "secret" => b.with_secret_access_key(text(&k, &v)?),
                    "token" => b.with_token(text(&k, &v)?),
                    "endpoint_url" => {
                        let e = text(&k, &v)?;
                        b.with_allow_http(e.starts_with("http://")).with_endpoint(e)
                    }
                    "region" => {
                        region = Some(text(&k, &v)?);
                        b
                    }
                    _ => b,
                };
            }
            let region = region
                .or_else(|| std::env::var("AWS_REGION").ok())
                .unwrap_or_else(|| "us-east-1".into());
            Ok(signing(
                b.with_region(region).build().map_err(config_error)?,
            ))
        }
        Scheme::Gcs => Ok(signing(
            gcs_builder(
                bucket,
                opts,
                retry,
                std::env::var("STORAGE_EMULATOR_HOST").ok(),
            )?
            .build()
            .map_err(gcs_config_error(opts))?,
        )),
        Scheme::Azure => {
            let accepted = [
                "anon",
                "account_name",
                "account_key",
                "sas_token",
                "connection_string",
            ];
            let (container, account) = match bucket.split_once('@') {
                Some((c, host)) => (c.to_string(), host.split('.').next().map(str::to_string)),
                None => (bucket.to_string(), None),
            };
            let mut b = MicrosoftAzureBuilder::from_env()
                .with_container_name(container)
                .with_retry(retry);
            if let Some(a) = account {
                b = b.with_account(a);
            }
            for (k, v) in flatten_options(opts, &accepted)? {
                b = match k.as_str() {
                    "anon" => b.with_skip_signature(truthy(&k, &v)?),
                    "account_name" => b.with_account(text(&k, &v)?),
                    "account_key" => b.with_access_key(text(&k, &v)?),
                    "sas_token" => b.with_sas_authorization(sas_pairs(&text(&k, &v)?)),
                    "connection_string" => with_connection_string(b, &text(&k, &v)?)?,
                    _ => b,
                };
            }
            Ok(signing(b.build().map_err(config_error)?))
        }
        Scheme::Http => {
            flatten_options(opts, &[])?;
            let b = HttpBuilder::new()
                .with_url(base)
                .with_retry(retry)
                .with_client_options(ClientOptions::new().with_allow_http(true));
            Ok((Arc::new(b.build().map_err(config_error)?), None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        let cat = dir.path().join("cat");
        std::fs::create_dir_all(cat.join("data/sub")).expect("mkdir");
        for f in [
            "data/b.csv",
            "data/a.csv",
            "data/sub/c.csv",
            "data/_SUCCESS",
            "outside.csv",
        ] {
            let p = if f == "outside.csv" {
                dir.path().join(f)
            } else {
                cat.join(f)
            };
            std::fs::write(p, "x\n1\n").expect("write");
        }
        dir
    }

    fn names(files: &Files) -> Vec<String> {
        files
            .objects
            .iter()
            .map(|m| m.location.filename().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn local_globs_lists_and_directories_expand_sorted() {
        let dir = tree();
        let cat = dir.path().join("cat");
        let r = StorageResolver::default();
        let rt = rt();
        let glob = rt
            .block_on(r.resolve(&json!("data/*.csv"), None, &cat))
            .expect("glob");
        assert_eq!(names(&glob), ["a.csv", "b.csv"]);
        let d = rt
            .block_on(r.resolve(&json!("data"), None, &cat))
            .expect("dir");
        assert_eq!(
            names(&d),
            ["a.csv", "b.csv", "c.csv"],
            "hidden _SUCCESS skipped, recursive, sorted"
        );
        let list = rt
            .block_on(r.resolve(&json!(["data/b.csv", "data/a.csv"]), None, &cat))
            .expect("list");
        assert_eq!(names(&list), ["b.csv", "a.csv"], "a list keeps its order");
        let url = format!("file://{}/data/a.csv", cat.display());
        assert_eq!(
            names(
                &rt.block_on(r.resolve(&json!(url), None, &cat))
                    .expect("file url")
            ),
            ["a.csv"]
        );
    }

    /// Reads are pinned to the listed ETag: the listing's must be the one object_store's
    /// local store answers with, or every read would be refused as changed.
    #[test]
    fn local_listings_carry_the_etag_the_store_reads_with() {
        let dir = tree();
        let cat = dir.path().join("cat");
        let rt = rt();
        let files = rt
            .block_on(StorageResolver::default().resolve(&json!("data/a.csv"), None, &cat))
            .expect("resolve");
        let listed = &files.objects[0];
        let head = rt
            .block_on(files.store.head(&listed.location))
            .expect("head");
        assert_eq!(listed.e_tag, head.e_tag);
        rt.block_on(files.get_pinned(listed, None))
            .expect("a pinned read");
        std::fs::write(cat.join("data/a.csv"), "x\n1\n2\n").expect("rewrite");
        let e = rt
            .block_on(files.get_pinned(listed, None))
            .expect_err("a changed file");
        assert!(matches!(e, DriverError::Changed(_)), "{e}");
    }

    #[test]
    fn escapes_are_refused_naming_the_rule() {
        let dir = tree();
        let cat = dir.path().join("cat");
        let rt = rt();
        let r = StorageResolver::default();
        let err = rt
            .block_on(r.resolve(&json!("../outside.csv"), None, &cat))
            .expect_err("dotdot");
        assert!(
            matches!(&err, DriverError::Denied(m) if m.contains("outside the catalog directory")),
            "{err}"
        );
        let abs = dir.path().join("outside.csv");
        let err = rt
            .block_on(r.resolve(&json!(abs.to_string_lossy()), None, &cat))
            .expect_err("absolute");
        assert!(matches!(err, DriverError::Denied(_)));
        std::os::unix::fs::symlink(&abs, cat.join("data/link.csv")).expect("symlink");
        let err = rt
            .block_on(r.resolve(&json!("data/link.csv"), None, &cat))
            .expect_err("symlink");
        assert!(
            matches!(&err, DriverError::Denied(m) if m.contains("is a symlink to")),
            "{err}"
        );
        let allowed = StorageResolver::new([dir.path().to_path_buf()]);
        assert!(
            rt.block_on(allowed.resolve(&json!("../outside.csv"), None, &cat))
                .is_ok(),
            "an allowed prefix opens it"
        );
    }

    #[test]
    fn a_file_swapped_for_an_escaping_symlink_after_listing_is_refused() {
        let dir = tree();
        let cat = dir.path().join("cat");
        let rt = rt();
        let files = rt
            .block_on(StorageResolver::default().resolve(&json!("data"), None, &cat))
            .expect("dir");
        let a = files
            .objects
            .iter()
            .find(|m| m.location.as_ref().ends_with("a.csv"))
            .expect("a.csv")
            .clone();
        std::fs::remove_file(cat.join("data/a.csv")).expect("rm");
        std::os::unix::fs::symlink(dir.path().join("outside.csv"), cat.join("data/a.csv"))
            .expect("symlink");
        let err = rt
            .block_on(files.store.get(&a.location))
            .expect_err("escape refused at read time");
        let e = DriverError::from_store("a.csv", err);
        assert!(
            matches!(&e, DriverError::Denied(m) if m.contains("outside the catalog directory")),
            "{e}"
        );
        let b = files
            .objects
            .iter()
            .find(|m| m.location.as_ref().ends_with("b.csv"))
            .expect("b.csv");
        assert!(
            rt.block_on(files.store.get(&b.location)).is_ok(),
            "files inside still read"
        );
    }

    #[test]
    fn bad_urlpaths_and_options_are_typed_errors() {
        let dir = tree();
        let cat = dir.path().join("cat");
        let rt = rt();
        let r = StorageResolver::default();
        let missing = rt
            .block_on(r.resolve(&json!("data/nope.csv"), None, &cat))
            .expect_err("missing");
        assert!(matches!(missing, DriverError::NotFound(_)));
        for chained in [
            "filecache::s3://b/k",
            "reference://",
            "simplecache::https://h/x",
        ] {
            let e = rt
                .block_on(r.resolve(&json!(chained), None, &cat))
                .expect_err("chained");
            assert!(matches!(e, DriverError::Unsupported(_)), "{chained}: {e}");
        }
        let opts = json!({"anon": true, "client_kwargs": {"verify": false}});
        let e = rt
            .block_on(r.resolve(&json!("s3://b/k.csv"), Some(&opts), &cat))
            .expect_err("unknown option");
        assert!(
            matches!(&e, DriverError::BadArg { arg, .. } if arg == "storage_options.client_kwargs.verify"),
            "{e}"
        );
        let e = rt
            .block_on(r.resolve(&json!("s3://b/k.csv"), Some(&json!({"profile": "x"})), &cat))
            .expect_err("unknown");
        assert!(
            e.to_string().contains("storage_options.profile")
                && e.to_string().contains("accepts: anon"),
            "{e}"
        );
        let e = rt
            .block_on(r.resolve(&json!("ftp://h/x"), None, &cat))
            .expect_err("scheme");
        assert!(matches!(e, DriverError::Unsupported(_)));
        let e = rt
            .block_on(r.resolve(&json!(["s3://a/x", "s3://b/y"]), None, &cat))
            .expect_err("two buckets");
        assert!(matches!(e, DriverError::BadArg { .. }));
    }

    fn gcs(opts: serde_json::Value, emulator: Option<&str>) -> Result<GoogleCloudStorageBuilder> {
        let opts = opts.as_object().cloned().unwrap_or_default();
        gcs_builder(
            "b",
            &opts,
            RetryConfig::default(),
            emulator.map(str::to_string),
        )
    }

    fn gcs_config(b: &GoogleCloudStorageBuilder) -> (Option<String>, Option<String>) {
        use object_store::gcp::GoogleConfigKey;
        (
            b.get_config_value(&GoogleConfigKey::BaseUrl),
            b.get_config_value(&GoogleConfigKey::SkipSignature),
        )
    }

    #[test]
    fn gcs_endpoints_follow_gcsfs_and_never_get_the_servers_credentials() {
        let unsigned = |url: &str| (Some(url.to_string()), Some("true".to_string()));
        // A catalog's endpoint, as gcsfs spells it: unsigned, with or without `token: anon`.
        for opts in [
            json!({"endpoint_url": "http://127.0.0.1:4443/", "token": "anon"}),
            json!({"endpoint_url": "http://127.0.0.1:4443"}),
            json!({"client_kwargs": {"endpoint_url": "http://127.0.0.1:4443"}, "anon": true}),
        ] {
            let b = gcs(opts.clone(), None).expect("builds");
            assert_eq!(gcs_config(&b), unsigned("http://127.0.0.1:4443"), "{opts}");
        }
        // The catalog's endpoint wins over the server's emulator.
        let b = gcs(
            json!({"endpoint_url": "https://gcs.example.com"}),
            Some("h:1"),
        )
        .expect("b");
        assert_eq!(gcs_config(&b), unsigned("https://gcs.example.com"));
        // Credentials that would be sent to the catalog's endpoint are refused, naming the rule.
        for opts in [
            json!({"endpoint_url": "http://127.0.0.1:4443", "token": "cloud"}),
            json!({"endpoint_url": "http://127.0.0.1:4443", "token": "google_default"}),
            json!({"endpoint_url": "http://127.0.0.1:4443", "token": "/etc/gcp.json"}),
            json!({"endpoint_url": "http://127.0.0.1:4443", "token": {"private_key": "k"}}),
            json!({"endpoint_url": "http://127.0.0.1:4443", "anon": false}),
        ] {
            let e = gcs(opts.clone(), None).expect_err("refused");
            assert!(
                matches!(&e, DriverError::BadArg { arg, message }
                    if arg == "storage_options.endpoint_url" && message.contains("token: anon")),
                "{opts}: {e}"
            );
        }
        // The server's emulator (STORAGE_EMULATOR_HOST, `host:port` meaning http): unsigned
        // unless the catalog names credentials, which are the operator's to send there.
        let b = gcs(json!({"project": "p"}), Some("127.0.0.1:9023")).expect("emulator");
        assert_eq!(gcs_config(&b), unsigned("http://127.0.0.1:9023"));
        let b = gcs(json!({"token": "cloud"}), Some("http://127.0.0.1:9023")).expect("signed");
        assert_eq!(
            gcs_config(&b),
            (Some("http://127.0.0.1:9023".into()), Some("false".into()))
        );
        // Without either: Google, signed with the server's credentials unless anonymous.
        for emulator in [None, Some(""), Some("default")] {
            let b = gcs(json!({}), emulator).expect("default");
            assert_eq!(gcs_config(&b), (None, Some("false".into())), "{emulator:?}");
        }
        let b = gcs(json!({"token": "anon"}), None).expect("anon");
        assert_eq!(gcs_config(&b), (None, Some("true".into())));
    }

    #[test]
    fn bad_gcs_options_are_named_and_never_echo_a_key() {
        for (opts, arg) in [
            (
                json!({"endpoint_url": "ftp://h/x"}),
                "storage_options.endpoint_url",
            ),
            (
                json!({"endpoint_url": "http://h:1/?a=b"}),
                "storage_options.endpoint_url",
            ),
            (
                json!({"endpoint_url": "not a url"}),
                "storage_options.endpoint_url",
            ),
            (json!({"token": 5}), "storage_options.token"),
            (json!({"region": "x"}), "storage_options.region"),
            (
                json!({"client_kwargs": {"region_name": "x"}}),
                "storage_options.client_kwargs.region_name",
            ),
        ] {
            let e = gcs(opts.clone(), None).expect_err("refused");
            assert!(
                matches!(&e, DriverError::BadArg { arg: a, .. } if a == arg),
                "{opts}: {e}"
            );
        }
        let e = gcs(json!({}), Some("ftp://x")).expect_err("emulator");
        assert!(e.to_string().contains("STORAGE_EMULATOR_HOST"), "{e}");
        // A service account given inline that does not parse: named, its values never shown.
        let opts = json!({"token": {"type": "service_account", "client_email": "sa@p.iam",
            "private_key": "-----BEGIN PRIVATE KEY-----\ngcs-key-secret\n-----END PRIVATE KEY-----\n",
            "disable_oauth": "gcs-key-secret"}});
        let b = gcs(opts.clone(), None).expect("options");
        let map = opts.as_object().cloned().unwrap_or_default();
        let e = b
            .build()
            .map_err(gcs_config_error(&map))
            .expect_err("bad key");
        assert!(
            e.to_string().contains("storage_options.token") && !e.to_string().contains("secret"),
            "{e}"
        );
    }

    #[test]
    fn a_gcs_endpoint_obeys_the_host_rules() {
        let dir = tree();
        let cat = dir.path().join("cat");
        let rt = rt();
        let opts = json!({"endpoint_url": "http://169.254.169.254:80", "token": "anon"});
        let e = rt
            .block_on(StorageResolver::default().resolve(&json!("gs://b/k.csv"), Some(&opts), &cat))
            .expect_err("metadata host");
        assert!(matches!(e, DriverError::Denied(_)), "{e}");
        let opts = json!({"endpoint_url": "http://127.0.0.1:9", "token": "anon"});
        let e = rt
            .block_on(
                StorageResolver::default()
                    .with_allowed_hosts(["data.example.com".to_string()])
                    .resolve(&json!("gcs://b/k.csv"), Some(&opts), &cat),
            )
            .expect_err("not allowed");
        assert!(e.to_string().contains("allow_hosts"), "{e}");
    }
}
