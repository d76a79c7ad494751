//! Finding a Zarr store behind a urlpath and loading its metadata: consolidated (`.zmetadata`,
//! v3 `consolidated_metadata` in `zarr.json`) or, without it, one listing of the group's children.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use futures::{StreamExt, TryStreamExt};
use inlet_driver::{DriverError, OpenContext, Result};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde_json::{Map, Value as J};
use zarrs::array::{Array, ArrayCreateError, ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3};

/// Where a Zarr store (a group or a bare array) lives: its store and root prefix.
#[derive(Clone)]
pub struct ZarrLocation {
    pub store: Arc<dyn ObjectStore>,
    /// The store's root (the directory holding `zarr.json` / `.zgroup` / `.zarray`).
    pub root: ObjectPath,
    /// How a user would write the root (`/abs/grid.zarr`, `s3://bucket/grid.zarr`).
    pub display: String,
    /// The metadata object that identified the store, for cache fingerprints.
    pub metadata: Option<ObjectMeta>,
    /// When the store was opened: a chunk modified after it is a store rewritten under the
    /// reader, refused (`If-Unmodified-Since`) rather than mixed with the chunks read before.
    /// Each chunk is its own object, so no single ETag can pin the whole store.
    pub pinned_at: DateTime<Utc>,
}

/// The metadata files that identify a store, in the order they are tried.
const MARKERS: [&str; 4] = ["zarr.json", ".zmetadata", ".zgroup", ".zarray"];

/// Resolves `urlpath` (a directory) through the shared storage rules (confinement, storage
/// options) by asking for its metadata files one by one: listing a store of 100k chunks is
/// never needed to open it.
pub async fn locate(
    ctx: &OpenContext,
    urlpath: &J,
    storage_options: Option<&J>,
    consolidated: Option<bool>,
) -> Result<ZarrLocation> {
    let url = match urlpath {
        J::String(s) => s.trim().trim_end_matches('/').to_string(),
        J::Array(items) if items.len() == 1 && items[0].is_string() => items[0]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string(),
        other => {
            return Err(DriverError::bad_arg(
                "urlpath",
                format!("a Zarr store is one directory (a string), got {other}"),
            ))
        }
    };
    if url.is_empty() {
        return Err(DriverError::bad_arg(
            "urlpath",
            "is empty: point it at a Zarr store",
        ));
    }
    for marker in MARKERS {
        if marker == ".zmetadata" && consolidated == Some(false) {
            continue;
        }
        let candidate = J::String(format!("{url}/{marker}"));
        match ctx
            .storage
            .resolve(&candidate, storage_options, &ctx.catalog_dir)
            .await
        {
            Ok(files) => {
                let Some(meta) = files.objects.first() else {
                    continue;
                };
                let shown = files.display(meta);
                let parts: Vec<_> = meta.location.parts().collect();
                let root =
                    ObjectPath::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned());
                return Ok(ZarrLocation {
                    store: files.store.clone(),
                    root,
                    display: shown
                        .strip_suffix(&format!("/{marker}"))
                        .unwrap_or(&shown)
                        .to_string(),
                    metadata: Some(meta.clone()),
                    // The storage's clock may run ahead of ours: never pin before the
                    // metadata that was just read.
                    pinned_at: Utc::now().max(meta.last_modified),
                });
            }
            Err(DriverError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(DriverError::NotFound(format!(
        "`{url}` is not a Zarr store: it has none of zarr.json, .zmetadata, .zgroup, .zarray"
    )))
}

/// One array of the store.
pub struct Node {
    /// Path from the root (`air`), empty for a bare array.
    pub name: String,
    pub array: Arc<Array<()>>,
    pub dims: Vec<String>,
    pub attrs: Map<String, J>,
    /// The metadata's own `fill_value` as written (v2 fill values are xarray's mask).
    pub fill_json: J,
    pub zarr_format: u8,
    /// Codec names, outermost last (for discovery metadata).
    pub codecs: Vec<String>,
}

/// What the root is.
pub enum Root {
    Group {
        attrs: Map<String, J>,
        arrays: Vec<Arc<Node>>,
        zarr_format: u8,
        consolidated: bool,
    },
    Array(Arc<Node>),
}

pub(crate) fn key_path(root: &ObjectPath, key: &str) -> ObjectPath {
    let mut p = root.clone();
    for part in key.split('/').filter(|s| !s.is_empty()) {
        p = p.join(part);
    }
    p
}

/// GETs `key` under the root as JSON; None when it does not exist.
pub(crate) async fn get_json(loc: &ZarrLocation, key: &str) -> Result<Option<J>> {
    let shown = format!("{}/{key}", loc.display);
    let bytes = match loc.store.get(&key_path(&loc.root, key)).await {
        Ok(r) => r
            .bytes()
            .await
            .map_err(|e| DriverError::from_store(&shown, e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(DriverError::from_store(&shown, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DriverError::corrupt(shown, format!("not valid JSON: {e}")))
}

fn as_object(v: Option<&J>) -> Map<String, J> {
    v.and_then(J::as_object).cloned().unwrap_or_default()
}

fn create_error(loc: &ZarrLocation, key: &str, e: ArrayCreateError) -> DriverError {
    use ArrayCreateError as E;
    match e {
        E::UnsupportedZarrV2Array(_)
        | E::DataTypeCreateError(_)
        | E::CodecsCreateError(_)
        | E::ChunkGridCreateError(_)
        | E::ChunkKeyEncodingCreateError(_)
        | E::StorageTransformersCreateError(_) => {
            DriverError::Unsupported(format!("Zarr array `{}/{key}`: {e}", loc.display))
        }
        other => DriverError::corrupt(format!("{}/{key}", loc.display), other),
    }
}

/// Builds a node from v2 `.zarray` (+ `.zattrs`) or v3 `zarr.json` metadata.
fn node(loc: &ZarrLocation, name: &str, v2: Option<(J, J)>, v3: Option<J>) -> Result<Node> {
    let prefix = if name.is_empty() {
        String::new()
    } else {
        format!("{name}/")
    };
    let (metadata, key, fill_json, format, codecs) = match (v2, v3) {
        (Some((zarray, zattrs)), _) => {
            let key = format!("{prefix}.zarray");
            let filters = zarray
                .get("filters")
                .and_then(J::as_array)
                .cloned()
                .unwrap_or_default();
            let codecs = filters
                .iter()
                .chain(zarray.get("compressor"))
                .filter_map(|c| c.get("id").and_then(J::as_str).map(str::to_string))
                .collect();
            let fill = zarray.get("fill_value").cloned().unwrap_or(J::Null);
            let mut m: ArrayMetadataV2 = serde_json::from_value(zarray).map_err(|e| {
                DriverError::corrupt(
                    format!("{}/{key}", loc.display),
                    format!("bad .zarray: {e}"),
                )
            })?;
            m.attributes = as_object(Some(&zattrs));
            (ArrayMetadata::V2(m), key, fill, 2, codecs)
        }
        (None, Some(json)) => {
            let key = format!("{prefix}zarr.json");
            let fill = json.get("fill_value").cloned().unwrap_or(J::Null);
            let codecs = json
                .get("codecs")
                .and_then(J::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("name").and_then(J::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let m: ArrayMetadataV3 = serde_json::from_value(json).map_err(|e| {
                DriverError::corrupt(
                    format!("{}/{key}", loc.display),
                    format!("bad zarr.json: {e}"),
                )
            })?;
            (ArrayMetadata::V3(m), key, fill, 3, codecs)
        }
        (None, None) => return Err(DriverError::NotFound(format!("no metadata for `{name}`"))),
    };
    let array = Array::new_with_metadata(Arc::new(()), &format!("/{name}"), metadata)
        .map_err(|e| create_error(loc, &key, e))?;
    let attrs = array.attributes().clone();
    let n = array.dimensionality();
    let named: Option<Vec<String>> = match array.dimension_names() {
        Some(names) => names.iter().cloned().collect(),
        None => attrs.get("_ARRAY_DIMENSIONS").and_then(|v| {
            let names: Option<Vec<String>> = v
                .as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect();
            names.filter(|n2| n2.len() == n)
        }),
    };
    let dims = named.unwrap_or_else(|| (0..n).map(|i| format!("dim_{i}")).collect());
    Ok(Node {
        name: name.to_string(),
        array: Arc::new(array),
        dims,
        attrs,
        fill_json,
        zarr_format: format,
        codecs,
    })
}

fn is_array(v: &J) -> bool {
    v.get("node_type").and_then(J::as_str) == Some("array")
}

/// Loads the root's metadata: every array directly in the group (xarray's variables), or the
/// bare array. `consolidated`: Some(true) requires consolidated metadata, Some(false) ignores it.
pub async fn load(
    loc: &ZarrLocation,
    consolidated: Option<bool>,
    concurrency: usize,
) -> Result<Root> {
    let use_consolidated = consolidated != Some(false);
    if let Some(root) = get_json(loc, "zarr.json").await? {
        if is_array(&root) {
            return Ok(Root::Array(Arc::new(node(loc, "", None, Some(root))?)));
        }
        let attrs = as_object(root.get("attributes"));
        let inline = root
            .get("consolidated_metadata")
            .and_then(|c| c.get("metadata"));
        if let (true, Some(J::Object(children))) = (use_consolidated, inline) {
            let arrays = children
                .iter()
                .filter(|(k, v)| !k.contains('/') && is_array(v))
                .map(|(k, v)| node(loc, k, None, Some(v.clone())).map(Arc::new))
                .collect::<Result<Vec<_>>>()?;
            return Ok(group(attrs, arrays, 3, true));
        }
        require_not_consolidated(loc, consolidated)?;
        let arrays = list_children(loc, 3, concurrency).await?;
        return Ok(group(attrs, arrays, 3, false));
    }
    if use_consolidated {
        if let Some(z) = get_json(loc, ".zmetadata").await? {
            let meta = as_object(z.get("metadata"));
            if let Some(zarray) = meta.get(".zarray") {
                let zattrs = meta.get(".zattrs").cloned().unwrap_or(J::Null);
                return Ok(Root::Array(Arc::new(node(
                    loc,
                    "",
                    Some((zarray.clone(), zattrs)),
                    None,
                )?)));
            }
            let arrays = meta
                .iter()
                .filter_map(|(k, v)| Some((k.strip_suffix("/.zarray")?, v)))
                .filter(|(name, _)| !name.contains('/'))
                .map(|(name, zarray)| {
                    let zattrs = meta
                        .get(&format!("{name}/.zattrs"))
                        .cloned()
                        .unwrap_or(J::Null);
                    node(loc, name, Some((zarray.clone(), zattrs)), None).map(Arc::new)
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(group(as_object(meta.get(".zattrs")), arrays, 2, true));
        }
    }
    require_not_consolidated(loc, consolidated)?;
    if let Some(zarray) = get_json(loc, ".zarray").await? {
        let zattrs = get_json(loc, ".zattrs").await?.unwrap_or(J::Null);
        return Ok(Root::Array(Arc::new(node(
            loc,
            "",
            Some((zarray, zattrs)),
            None,
        )?)));
    }
    if get_json(loc, ".zgroup").await?.is_none() {
        return Err(DriverError::NotFound(format!(
            "`{}` is not a Zarr store: it has none of zarr.json, .zgroup, .zarray",
            loc.display
        )));
    }
    let attrs = as_object(get_json(loc, ".zattrs").await?.as_ref());
    let arrays = list_children(loc, 2, concurrency).await?;
    Ok(group(attrs, arrays, 2, false))
}

fn require_not_consolidated(loc: &ZarrLocation, consolidated: Option<bool>) -> Result<()> {
    if consolidated == Some(true) {
        return Err(DriverError::NotFound(format!(
            "`{}` has no consolidated metadata (.zmetadata or consolidated_metadata in zarr.json) \
             but the catalog says `consolidated: true`; set it to false or consolidate the store",
            loc.display
        )));
    }
    Ok(())
}

fn group(
    attrs: Map<String, J>,
    mut arrays: Vec<Arc<Node>>,
    format: u8,
    consolidated: bool,
) -> Root {
    arrays.sort_by(|a, b| a.name.cmp(&b.name));
    Root::Group {
        attrs,
        arrays,
        zarr_format: format,
        consolidated,
    }
}

/// One listing of the group's directory, then each child's metadata (concurrently, bounded).
async fn list_children(
    loc: &ZarrLocation,
    format: u8,
    concurrency: usize,
) -> Result<Vec<Arc<Node>>> {
    let listing = loc
        .store
        .list_with_delimiter(Some(&loc.root))
        .await
        .map_err(|e| match e {
            object_store::Error::NotImplemented { .. } => DriverError::Unsupported(format!(
                "`{}` has no consolidated metadata and its storage cannot list directories: \
                 consolidate the store (zarr.consolidate_metadata)",
                loc.display
            )),
            other => DriverError::from_store(&loc.display, other),
        })?;
    let names: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect();
    let found: Vec<Option<Node>> = futures::stream::iter(names)
        .map(|name| async move { child(loc, &name, format).await })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().map(Arc::new).collect())
}

async fn child(loc: &ZarrLocation, name: &str, format: u8) -> Result<Option<Node>> {
    if format == 3 {
        return match get_json(loc, &format!("{name}/zarr.json")).await? {
            Some(j) if is_array(&j) => node(loc, name, None, Some(j)).map(Some),
            _ => Ok(None),
        };
    }
    if let Some(zarray) = get_json(loc, &format!("{name}/.zarray")).await? {
        let zattrs = get_json(loc, &format!("{name}/.zattrs"))
            .await?
            .unwrap_or(J::Null);
        return node(loc, name, Some((zarray, zattrs)), None).map(Some);
    }
    if get_json(loc, &format!("{name}/.zgroup")).await?.is_some() {
        return Ok(None);
    }
    // Attributes without array metadata: an array whose `.zarray` was lost, not a stray folder.
    if get_json(loc, &format!("{name}/.zattrs")).await?.is_some() {
        return Err(DriverError::corrupt(
            format!("{}/{name}/.zarray", loc.display),
            format!("array `{name}` has .zattrs but its .zarray is missing: the store is damaged"),
        ));
    }
    Ok(None)
}
