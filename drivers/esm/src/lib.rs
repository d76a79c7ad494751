//! The `intake_esm.esm_datastore` driver: an ESM catalog (the esmcat JSON of intake-esm, or
//! the older esmcol JSON) served as its asset table — what `esm_datastore(...).df` holds, one
//! row per asset with the catalog's columns.
//!
//! The JSON is read through the storage layer (local, S3, GCS, Azure, HTTP). Its table is the
//! CSV `catalog_file` (plain, `.gz`, `.bz2`, ...; a relative name is resolved against the
//! JSON's location, as intake-esm does), read by the CSV driver's source with
//! `read_csv_kwargs`; or the `catalog_dict` records inlined in the JSON. The collection's
//! description, attributes, assets and aggregation control go into discovery metadata.
//! `columns_with_iterables` columns (Python list literals in the CSV) become lists of strings.
#![forbid(unsafe_code)]

mod iterables;
mod memory;

use std::sync::Arc;

use async_trait::async_trait;
use inlet_csv::CsvDriver;
use inlet_driver::args::Args;
use inlet_driver::storage::Files;
use inlet_driver::{
    BatchStream, Discovery, Driver, DriverError, DriverNames, OpenContext, ReadRequest, Result,
    Source,
};
use serde_json::{Map, Value as J};
use tokio::sync::OnceCell;

/// ESM JSON files larger than this are refused (an inline `catalog_dict` lives in memory).
const MAX_JSON: u64 = 256 << 20;

/// The `intake_esm.esm_datastore` driver.
pub struct EsmDriver;

#[async_trait]
impl Driver for EsmDriver {
    fn name(&self) -> &'static str {
        "intake_esm.esm_datastore"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "esm_datastore",
                "intake_esm.core.esm_datastore",
                "intake_esm.esm_datastore",
            ],
            intake2_datatypes: &[],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        // The collection, as intake-esm's versions have named it.
        let keys = [
            "obj",
            "esmcat",
            "esmcol_obj",
            "esmcol_path",
            "path",
            "urlpath",
        ];
        let mut found = keys.iter().filter_map(|k| a.get(k).map(|v| (*k, v)));
        let Some((key, obj)) = found.next() else {
            return Err(DriverError::bad_arg(
                "esmcol_obj",
                "is required: the URL or path of the ESM catalog JSON (also spelt `obj`, `esmcat`, `esmcol_path`)",
            ));
        };
        if let Some((other, _)) = found.next() {
            return Err(DriverError::bad_arg(
                other,
                format!("names the collection again (it is `{key}`): keep one"),
            ));
        }
        let collection = match obj {
            J::String(s) => Collection::Url(s.clone()),
            // intake-esm's `obj` dict form: {"esmcat": {...}, "df": ...}; or the JSON itself.
            J::Object(m) => match m.get("esmcat") {
                Some(J::Object(inner)) => Collection::Inline(inner.clone()),
                _ => Collection::Inline(m.clone()),
            },
            other => {
                return Err(DriverError::bad_arg(
                    key,
                    format!(
                        "expected the URL of an ESM catalog JSON, or its contents, got {other}"
                    ),
                ))
            }
        };
        let mut read_csv_kwargs = None;
        for k in ["read_csv_kwargs", "csv_kwargs", "read_kwargs"] {
            if let Some(v) = a.get(k) {
                read_csv_kwargs = Some(v.clone());
            }
        }
        let iterables = a.strings("columns_with_iterables")?.unwrap_or_default();
        // Display and loading options of intake-esm: no effect on the table.
        for k in [
            "progressbar",
            "sep",
            "log_level",
            "intake_kwargs",
            "registry",
            "threaded",
        ] {
            a.get(k);
        }
        Ok(Arc::new(EsmSource {
            collection,
            storage_options: a.get("storage_options").cloned(),
            read_csv_kwargs,
            iterables,
            ctx: ctx.clone(),
            warnings: a.unused("intake_esm.esm_datastore"),
            state: OnceCell::new(),
        }))
    }
}

enum Collection {
    Url(String),
    Inline(Map<String, J>),
}

struct EsmSource {
    collection: Collection,
    storage_options: Option<J>,
    read_csv_kwargs: Option<J>,
    iterables: Vec<String>,
    ctx: OpenContext,
    warnings: Vec<String>,
    state: OnceCell<(Arc<dyn Source>, Arc<Discovery>)>,
}

/// The JSON's fields that describe the collection, for discovery metadata.
const DESCRIBING: &[&str] = &[
    "esmcat_version",
    "esmcol_version",
    "id",
    "title",
    "description",
    "last_updated",
    "attributes",
    "assets",
    "aggregation_control",
];

impl EsmSource {
    async fn state(&self) -> Result<&(Arc<dyn Source>, Arc<Discovery>)> {
        self.state.get_or_try_init(|| self.load()).await
    }

    /// The collection JSON and where it is (None: inline in the catalog).
    async fn json(&self) -> Result<(Map<String, J>, Option<String>)> {
        let url = match &self.collection {
            Collection::Inline(m) => return Ok((m.clone(), None)),
            Collection::Url(u) => u,
        };
        let files = self.resolve(url).await?;
        let text = whole(&files, url).await?;
        match serde_json::from_slice::<J>(&text) {
            Ok(J::Object(m)) => Ok((m, Some(url.clone()))),
            Ok(_) => Err(DriverError::corrupt(
                url.as_str(),
                "is not an ESM catalog: the JSON is not an object",
            )),
            Err(e) => Err(DriverError::corrupt(
                url.as_str(),
                format!("is not valid JSON ({e}): point esmcol_obj at the collection's .json"),
            )),
        }
    }

    async fn resolve(&self, url: &str) -> Result<Files> {
        self.ctx
            .storage
            .resolve(
                &J::String(url.to_string()),
                self.storage_options.as_ref(),
                &self.ctx.catalog_dir,
            )
            .await
    }

    async fn load(&self) -> Result<(Arc<dyn Source>, Arc<Discovery>)> {
        let (json, url) = self.json().await?;
        let shown = url
            .clone()
            .unwrap_or_else(|| "the inline collection".into());
        if !json.contains_key("esmcat_version") && !json.contains_key("esmcol_version") {
            return Err(DriverError::corrupt(
                shown.as_str(),
                "is not an ESM catalog: it has neither `esmcat_version` nor `esmcol_version`",
            ));
        }
        let mut warnings = self.warnings.clone();
        let inner: Arc<dyn Source> = match (json.get("catalog_file"), json.get("catalog_dict")) {
            (Some(J::String(file)), None) => {
                let target = relative_to(url.as_deref(), file);
                if is_parquet(&target) {
                    return Err(DriverError::Unsupported(format!(
                        "`{shown}` keeps its table in Parquet (`{target}`), which this driver does not read yet: \
                         serve it with the `parquet` driver (urlpath: {target})"
                    )));
                }
                let files = self.resolve(&target).await?;
                CsvDriver::source(
                    files,
                    self.read_csv_kwargs.as_ref(),
                    None,
                    &self.ctx.limits,
                    vec![],
                )?
            }
            (None, Some(J::Array(records))) => {
                if self.read_csv_kwargs.is_some() {
                    warnings.push(
                        "`read_csv_kwargs` has no effect: the table is inline (`catalog_dict`)"
                            .into(),
                    );
                }
                Arc::new(memory::MemorySource::from_records(records, &shown)?)
            }
            (Some(_), Some(_)) => {
                return Err(DriverError::corrupt(
                    shown.as_str(),
                    "sets both `catalog_file` and `catalog_dict`: intake-esm refuses that; keep one",
                ))
            }
            _ => {
                return Err(DriverError::corrupt(
                    shown.as_str(),
                    "has no table: expected `catalog_file` (a CSV path or URL) or `catalog_dict` (a list of records)",
                ))
            }
        };
        let inner: Arc<dyn Source> = if self.iterables.is_empty() {
            inner
        } else {
            Arc::new(iterables::IterableSource::new(inner, self.iterables.clone()).await?)
        };
        let mut d = Discovery::clone(&*inner.discover().await?);
        let mut esm = Map::new();
        for k in DESCRIBING {
            if let Some(v) = json.get(*k) {
                esm.insert((*k).to_string(), v.clone());
            }
        }
        if let Some(J::String(f)) = json.get("catalog_file") {
            esm.insert(
                "catalog_file".into(),
                J::String(relative_to(url.as_deref(), f)),
            );
        }
        for k in ["description", "title"] {
            if let Some(v) = json.get(k) {
                d.metadata.insert(k.into(), v.clone());
            }
        }
        d.metadata.insert("esm_collection".into(), J::Object(esm));
        d.warnings.extend(warnings);
        Ok((inner, Arc::new(d)))
    }
}

fn is_parquet(target: &str) -> bool {
    let lower = target.to_ascii_lowercase();
    lower.ends_with(".parquet") || lower.ends_with(".pq")
}

/// `file` as intake-esm finds it: a URL or absolute path as it is, else next to the JSON.
fn relative_to(json: Option<&str>, file: &str) -> String {
    if file.contains("://") || file.starts_with('/') {
        return file.to_string();
    }
    let Some(json) = json else {
        return file.to_string();
    };
    if json.contains("://") {
        if let Ok(joined) = url::Url::parse(json).and_then(|u| u.join(file)) {
            return joined.to_string();
        }
    }
    match json.rfind('/') {
        Some(i) => format!("{}/{}", &json[..i], file.trim_start_matches("./")),
        None => file.to_string(),
    }
}

/// The whole (small) object behind `files`.
async fn whole(files: &Files, shown: &str) -> Result<bytes::Bytes> {
    let Some(meta) = files.objects.first() else {
        return Err(DriverError::NotFound(format!("`{shown}` matches no file")));
    };
    if files.objects.len() > 1 {
        return Err(DriverError::bad_arg(
            "esmcol_obj",
            format!(
                "`{shown}` matches {} files: name one ESM catalog JSON",
                files.objects.len()
            ),
        ));
    }
    if meta.size > MAX_JSON {
        return Err(DriverError::Unsupported(format!(
            "`{shown}` is {} MiB: ESM catalog JSON above {} MiB is refused (keep the table in a `catalog_file` CSV)",
            meta.size >> 20,
            MAX_JSON >> 20
        )));
    }
    files
        .get_pinned(meta, None)
        .await?
        .bytes()
        .await
        .map_err(|e| DriverError::from_store(shown, e))
}

#[async_trait]
impl Source for EsmSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.state().await?.1.clone())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        self.state().await?.0.read(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_files_resolve_next_to_the_json() {
        let r = |j: Option<&str>, f: &str| relative_to(j, f);
        assert_eq!(
            r(
                Some("https://h/cmip6/pangeo-cmip6.json"),
                "pangeo-cmip6.csv"
            ),
            "https://h/cmip6/pangeo-cmip6.csv"
        );
        assert_eq!(
            r(Some("s3://b/x/c.json"), "https://other/t.csv.gz"),
            "https://other/t.csv.gz"
        );
        assert_eq!(r(Some("s3://b/x/c.json"), "t.csv"), "s3://b/x/t.csv");
        assert_eq!(r(Some("/data/esm/c.json"), "./t.csv"), "/data/esm/t.csv");
        assert_eq!(r(Some("esm/c.json"), "t.csv"), "esm/t.csv");
        assert_eq!(r(Some("c.json"), "t.csv"), "t.csv");
        assert_eq!(r(None, "t.csv"), "t.csv");
    }
}
