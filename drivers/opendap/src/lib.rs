//! OPeNDAP driver: a DAP2 dataset (a THREDDS `dodsC` URL, Hyrax, pydap, ERDDAP griddap) served
//! as the tidy table `xarray.open_dataset(url, engine="pydap").to_dataframe().reset_index()`
//! shows — the grid crate's, shared with the Zarr and NetCDF drivers: CF decoding from the DAS,
//! `variables`, `sel`/`isel`. Metadata is one `.dds` and one `.das` GET; data is read a window
//! at a time with constraint expressions (`air.air[0:1:9][0:1:6][0:1:5]`), so only the selected
//! hyperslab crosses the network, one request per partition window and variable.
#![forbid(unsafe_code)]

mod client;
mod das;
mod dataset;
mod dds;
mod xdr;

use std::sync::Arc;

use async_trait::async_trait;
use inlet_driver::args::Args;
use inlet_driver::storage::StorageResolver;
use inlet_driver::{
    BatchStream, Discovery, Driver, DriverError, DriverNames, Limits, OpenContext, ReadRequest,
    Result, Source,
};
use inlet_grid::table::{self, GridArray, Mode, Options};
use inlet_grid::Selection;
use serde_json::{json, Map, Value as J};
use tokio::sync::OnceCell;

pub use client::Auth;
use client::Client;
use dataset::{DapArray, DapRegions};

/// The `opendap` driver (Intake's `intake_xarray.opendap.OpenDapSource`).
pub struct OpendapDriver;

/// Args of xarray's `open_dataset` that only tune dask or the client: no effect here.
const DASK_ONLY: [&str; 3] = ["chunks", "lock", "cache"];

fn options(a: &Args<'_>, warnings: &mut Vec<String>) -> Result<Options> {
    let x = inlet_grid::xarray::XarrayArgs::parse(a)?;
    let (cf, drop_variables) = (x.cf, x.drop_variables.clone());
    match a.str("engine")? {
        None | Some("pydap") | Some("netcdf4") => {}
        Some(other) => {
            return Err(DriverError::bad_arg(
                "engine",
                format!("expected `pydap` or `netcdf4`, got `{other}`"),
            ))
        }
    }
    for key in DASK_ONLY {
        if x.get(key).is_some() {
            warnings.push(format!(
                "`{key}` only tunes xarray/dask and is ignored: partitions are windows of \
                 about 8 MiB along the leading dimension"
            ));
        }
    }
    let known = [
        "decode_cf",
        "mask_and_scale",
        "decode_times",
        "drop_variables",
    ];
    for k in x.kwargs.keys() {
        if !known.contains(&k.as_str()) && !DASK_ONLY.contains(&k.as_str()) {
            warnings.push(format!(
                "`xarray_kwargs.{k}` is not used by the opendap driver and is ignored"
            ));
        }
    }
    Ok(Options {
        mode: Mode::Tidy,
        variables: a.strings("variables")?,
        drop_variables,
        selection: Selection::parse(a.get("isel"), a.get("sel"))?,
        cf,
    })
}

/// The dataset URL without a response suffix: `http://h/dodsC/x.nc.html` -> `http://h/dodsC/x.nc`.
fn dataset_url(urlpath: &str) -> Result<String> {
    let url = url::Url::parse(urlpath.trim())
        .map_err(|e| DriverError::bad_arg("urlpath", format!("`{urlpath}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DriverError::bad_arg(
            "urlpath",
            format!("`{urlpath}`: an OPeNDAP dataset is an http(s) URL"),
        ));
    }
    if url.query().is_some() {
        return Err(DriverError::Unsupported(format!(
            "`{urlpath}` carries a constraint expression; name variables with `variables` and \
             windows with `isel`/`sel` instead"
        )));
    }
    let mut s = url.as_str().trim_end_matches('/').to_string();
    for suffix in [".html", ".dds", ".das", ".dods", ".info", ".ascii"] {
        if let Some(stripped) = s.strip_suffix(suffix) {
            s = stripped.to_string();
            break;
        }
    }
    Ok(s)
}

#[async_trait]
impl Driver for OpendapDriver {
    fn name(&self) -> &'static str {
        "opendap"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "intake_xarray.opendap.OpenDapSource",
                "intake_xarray.OpenDapSource",
            ],
            intake2_datatypes: &[],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let urlpath = match a.required("urlpath")? {
            J::String(s) => s.clone(),
            other => {
                return Err(DriverError::bad_arg(
                    "urlpath",
                    format!("expected one OPeNDAP URL, got {other}"),
                ))
            }
        };
        let auth = Auth::parse(a.str("auth")?, |k| std::env::var(k).ok())?;
        OpendapDriver::source(&urlpath, auth, args, ctx.storage.clone(), &ctx.limits)
    }
}

impl OpendapDriver {
    /// A source over the dataset at `urlpath` (tests, embedding applications); `args` are the
    /// catalog args (`urlpath` and `auth` are taken from the parameters).
    pub fn source(
        urlpath: &str,
        auth: Auth,
        args: &Map<String, J>,
        storage: Arc<StorageResolver>,
        limits: &Limits,
    ) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        a.get("urlpath");
        a.get("auth");
        let mut warnings = vec![];
        let opts = options(&a, &mut warnings)?;
        let request_bytes = match a.usize("request_bytes")? {
            Some(0) => return Err(DriverError::bad_arg("request_bytes", "must be positive")),
            Some(n) => n as u64,
            None => dataset::REQUEST_BYTES,
        };
        warnings.extend(a.unused("opendap"));
        let base = dataset_url(urlpath)?;
        let host = url::Url::parse(&base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        storage.check_host(&host, "host")?;
        let client = Client::new(base, auth, storage)?;
        Ok(Arc::new(OpendapSource {
            regions: Arc::new(DapRegions { client }),
            opts,
            request_bytes,
            limits: limits.clone(),
            warnings,
            state: OnceCell::new(),
            dims: OnceCell::new(),
        }))
    }
}

type Table = table::Table<DapArray>;

struct State {
    table: Arc<Table>,
    discovery: Arc<Discovery>,
}

struct OpendapSource {
    regions: Arc<DapRegions>,
    opts: Options,
    /// Stored bytes per data request, about.
    request_bytes: u64,
    limits: Limits,
    warnings: Vec<String>,
    state: OnceCell<State>,
    /// Dimension columns over the selection, read on first use.
    dims: OnceCell<Arc<Vec<arrow_array::ArrayRef>>>,
}

impl OpendapSource {
    async fn state(&self) -> Result<&State> {
        self.state.get_or_try_init(|| self.load()).await
    }

    async fn load(&self) -> Result<State> {
        let client = &self.regions.client;
        let (dds, das) = futures::try_join!(client.get(".dds"), client.get(".das"))?;
        let text = |b: &[u8], what: &str| -> Result<String> {
            String::from_utf8(b.to_vec()).map_err(|_| {
                DriverError::corrupt(format!("{}{what}", client.base), "the response is not text")
            })
        };
        let vars = dds::parse(&text(&dds, ".dds")?)
            .map_err(|e| DriverError::corrupt(format!("{}.dds", client.base), e))?;
        let das = das::parse(&text(&das, ".das")?)
            .map_err(|e| DriverError::corrupt(format!("{}.das", client.base), e))?;
        let arrays = dataset::arrays(&vars, &das, self.opts.cf.mask_and_scale, self.request_bytes);
        let mut warnings = self.warnings.clone();
        let readable: Vec<Arc<DapArray>> = arrays
            .iter()
            .filter(|a| {
                let coord = a.dims().len() == 1 && a.dims()[0] == a.name();
                match a.raw() {
                    Ok(_) => true,
                    Err(e) if !coord && !a.dims().is_empty() => {
                        warnings.push(format!("variable `{}` is left out: {e}", a.name()));
                        false
                    }
                    Err(_) => true,
                }
            })
            .cloned()
            .collect();
        let global = das
            .iter()
            .filter(|(k, _)| k.ends_with("_GLOBAL") || k.eq_ignore_ascii_case("global"))
            .flat_map(|(_, m)| m.clone())
            .collect::<Map<String, J>>();
        let mut meta = Map::new();
        meta.insert("url".into(), J::from(client.base.clone()));
        meta.insert("protocol".into(), J::from("DAP2"));
        meta.insert("attributes".into(), J::Object(global));
        meta.insert(
            "arrays".into(),
            J::Object(
                arrays
                    .iter()
                    .map(|a| {
                        let v =
                            json!({"dims": a.dims(), "shape": a.shape(), "attributes": a.attrs()});
                        (a.name().to_string(), v)
                    })
                    .collect(),
            ),
        );
        let opts = &self.opts;
        // Argument errors name the dataset: which server's variables or dimensions they miss.
        let at_url = |e: DriverError| match e {
            DriverError::BadArg { arg, message } => DriverError::BadArg {
                arg,
                message: format!("{message} (dataset `{}`)", client.base),
            },
            other => other,
        };
        let chosen = table::choose(&readable, opts, &mut meta).map_err(at_url)?;
        let t = table::build(self.regions.as_ref(), chosen, &readable, opts, meta, vec![])
            .await
            .map_err(at_url)?;
        let discovery = t.discovery(vec![], warnings);
        Ok(State {
            table: Arc::new(t),
            discovery: Arc::new(discovery),
        })
    }
}

#[async_trait]
impl Source for OpendapSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.state().await?.discovery.clone())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let st = self.state().await?;
        inlet_grid::read::read_table(
            &self.regions,
            &st.table,
            &st.discovery,
            &self.dims,
            &self.limits,
            request,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_response_suffixes_and_refuse_constraints() {
        assert_eq!(
            dataset_url("http://h/thredds/dodsC/x.nc.html").expect("url"),
            "http://h/thredds/dodsC/x.nc"
        );
        assert_eq!(
            dataset_url("https://h/dodsC/x.nc").expect("url"),
            "https://h/dodsC/x.nc"
        );
        assert!(matches!(
            dataset_url("http://h/x.nc?air[0:1:2]"),
            Err(DriverError::Unsupported(_))
        ));
        assert!(matches!(
            dataset_url("s3://b/x.nc"),
            Err(DriverError::BadArg { .. })
        ));
    }
}
