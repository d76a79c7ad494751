//! NetCDF driver: NetCDF 3 (classic, 64-bit offset, CDF-5) and NetCDF 4 (HDF5) files, one or a
//! glob/list of them joined along `concat_dim` as `xarray.open_mfdataset` would, served as the
//! tidy table `xarray.open_dataset(...).to_dataframe().reset_index()` shows (the grid crate's,
//! shared with the Zarr driver): CF decoding, `variables`, `sel`/`isel` pushed down, partitions
//! over ranges of the leading dimension. Files are read by byte ranges through the driver
//! API's stores (local, s3, gs, az, http), never downloaded whole.
#![forbid(unsafe_code)]

mod dataset;
mod ranges;

use std::sync::Arc;

use async_trait::async_trait;
use inlet_driver::args::{strings, Args};
use inlet_driver::storage::Files;
use inlet_driver::{
    BatchStream, Discovery, Driver, DriverError, DriverNames, Limits, OpenContext, ReadRequest,
    Result, Source,
};
use inlet_grid::table::{self, GridArray, Mode, Options};
use inlet_grid::Selection;
use serde_json::{json, Map, Value as J};
use tokio::sync::OnceCell;

use dataset::{NcArray, NcRegions};

/// The `netcdf` driver (Intake's `intake_xarray.netcdf.NetCDFSource`).
pub struct NetcdfDriver;

/// Args of xarray's `open_dataset` that only tune dask or pick a backend: no effect here.
const DASK_ONLY: [&str; 5] = ["chunks", "engine", "parallel", "lock", "cache"];

/// What a source was opened with.
struct NcOptions {
    grid: Options,
    concat_dim: Option<String>,
    /// `combine: by_coords` (open_mfdataset's default): files in coordinate order.
    by_coords: bool,
}

fn options(a: &Args<'_>, warnings: &mut Vec<String>) -> Result<NcOptions> {
    let x = inlet_grid::xarray::XarrayArgs::parse(a)?;
    let (cf, drop_variables) = (x.cf, x.drop_variables.clone());
    let concat_dim = match x.get("concat_dim") {
        None => None,
        Some(J::String(s)) => Some(s),
        Some(J::Array(v)) if v.len() == 1 && v[0].is_string() => v[0].as_str().map(str::to_string),
        Some(other) => {
            return Err(DriverError::bad_arg(
                "concat_dim",
                format!("expected one dimension name, got {other}"),
            ))
        }
    };
    let by_coords = match x.get("combine").as_ref().and_then(J::as_str) {
        None | Some("by_coords") => true,
        Some("nested") => false,
        Some(other) => {
            return Err(DriverError::bad_arg(
                "combine",
                format!("expected `by_coords` or `nested`, got `{other}`"),
            ))
        }
    };
    if let Some(g) = x.get("group").filter(|g| g.as_str() != Some("/")) {
        return Err(DriverError::Unsupported(format!(
            "`group: {g}`: the driver reads a file's root group"
        )));
    }
    for key in DASK_ONLY {
        if x.get(key).is_some() {
            warnings.push(format!(
                "`{key}` only tunes xarray/dask and is ignored: partitions follow the files' \
                 chunks along the leading dimension"
            ));
        }
    }
    let known = [
        "decode_cf",
        "mask_and_scale",
        "decode_times",
        "drop_variables",
        "concat_dim",
        "combine",
        "group",
    ];
    for k in x.kwargs.keys() {
        if !known.contains(&k.as_str()) && !DASK_ONLY.contains(&k.as_str()) {
            warnings.push(format!(
                "`xarray_kwargs.{k}` is not used by the netcdf driver and is ignored"
            ));
        }
    }
    Ok(NcOptions {
        grid: Options {
            mode: Mode::Tidy,
            variables: a.strings("variables")?,
            drop_variables,
            selection: Selection::parse(a.get("isel"), a.get("sel"))?,
            cf,
        },
        concat_dim,
        by_coords,
    })
}

#[async_trait]
impl Driver for NetcdfDriver {
    fn name(&self) -> &'static str {
        "netcdf"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "intake_xarray.netcdf.NetCDFSource",
                "intake_xarray.NetCDFSource",
            ],
            intake2_datatypes: &["NetCDF3", "HDF5"],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let urlpath = a.required("urlpath")?;
        // Intake's pattern fields (`data_{year}.nc`) would become columns: not supported.
        let patterned = strings("urlpath", urlpath)?
            .iter()
            .any(|u| u.contains('{') && u.contains('}'));
        if patterned && a.bool("path_as_pattern")? != Some(false) {
            return Err(DriverError::Unsupported(
                "urlpath patterns (`{field}`) are not supported; list the files or use a glob"
                    .into(),
            ));
        }
        let mut warnings = vec![];
        let opts = options(&a, &mut warnings)?;
        let storage_options = a.get("storage_options");
        for key in DASK_ONLY {
            a.get(key);
        }
        warnings.extend(a.unused("netcdf"));
        let files = ctx
            .storage
            .resolve(urlpath, storage_options, &ctx.catalog_dir)
            .await?;
        if files.objects.is_empty() {
            return Err(DriverError::NotFound(format!(
                "`{urlpath}` matches no file"
            )));
        }
        Ok(NetcdfDriver::source_with(
            Arc::new(files),
            opts,
            &ctx.limits,
            warnings,
        ))
    }
}

impl NetcdfDriver {
    /// A source over files already resolved (tests, embedding applications); `args` are the
    /// driver's args other than `urlpath`/`storage_options`.
    pub fn source(files: Files, args: &Map<String, J>, limits: &Limits) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let mut warnings = vec![];
        let opts = options(&a, &mut warnings)?;
        warnings.extend(a.unused("netcdf"));
        Ok(Self::source_with(Arc::new(files), opts, limits, warnings))
    }

    fn source_with(
        files: Arc<Files>,
        opts: NcOptions,
        limits: &Limits,
        warnings: Vec<String>,
    ) -> Arc<dyn Source> {
        Arc::new(NetcdfSource {
            files,
            opts,
            limits: limits.clone(),
            warnings,
            state: OnceCell::new(),
            dims: OnceCell::new(),
        })
    }
}

type Table = table::Table<NcArray>;

struct State {
    regions: Arc<NcRegions>,
    table: Arc<Table>,
    discovery: Arc<Discovery>,
}

struct NetcdfSource {
    files: Arc<Files>,
    opts: NcOptions,
    limits: Limits,
    warnings: Vec<String>,
    state: OnceCell<State>,
    /// Dimension columns over the selection, read on first use.
    dims: OnceCell<Arc<Vec<arrow_array::ArrayRef>>>,
}

impl NetcdfSource {
    async fn state(&self) -> Result<&State> {
        self.state.get_or_try_init(|| self.load()).await
    }

    async fn load(&self) -> Result<State> {
        let conc = self.limits.discovery_concurrency.max(1);
        let opened = dataset::open_all(self.files.clone(), conc).await?;
        let concat_dim = self.opts.concat_dim.clone();
        let mask_and_scale = self.opts.grid.cf.mask_and_scale;
        let by_coords = self.opts.by_coords;
        let dataset::Layout {
            files: opened,
            arrays,
            attributes,
            concat,
            lengths,
        } = tokio::task::spawn_blocking(move || {
            dataset::arrays(&opened, concat_dim.as_deref(), mask_and_scale, by_coords)
        })
        .await
        .map_err(|e| DriverError::Io(format!("reading NetCDF metadata stopped: {e}")))??;
        let display = match opened.as_slice() {
            [one] => one.display.clone(),
            many => format!("{} (and {} more files)", many[0].display, many.len() - 1),
        };
        let formats: Vec<String> = opened.iter().map(|f| format!("{:?}", f.format)).collect();
        let regions = Arc::new(NcRegions::new(display, opened, lengths));
        let mut warnings = self.warnings.clone();
        // Variables of types the table cannot hold are left out (coordinates stay: the table
        // shows their index instead), as a warning.
        let readable: Vec<Arc<NcArray>> = arrays
            .iter()
            .filter(|a| {
                let coord = a.dims().len() == 1 && a.dims()[0] == a.name();
                match a.raw() {
                    Ok(_) => true,
                    Err(e) if !coord => {
                        warnings.push(format!("variable `{}` is left out: {e}", a.name()));
                        false
                    }
                    Err(_) => true,
                }
            })
            .cloned()
            .collect();
        let mut meta = Map::new();
        meta.insert("format".into(), json!(formats.first()));
        meta.insert("attributes".into(), J::Object(attributes));
        if let (Some(c), true) = (&concat, self.files.objects.len() > 1) {
            meta.insert("concat_dim".into(), J::from(c.clone()));
        }
        meta.insert(
            "arrays".into(),
            J::Object(
                arrays
                    .iter()
                    .map(|a| {
                        let v = json!({
                            "dims": a.dims(),
                            "shape": a.shape(),
                            "attributes": a.attrs(),
                        });
                        (a.name().to_string(), v)
                    })
                    .collect(),
            ),
        );
        let opts = &self.opts.grid;
        let chosen = table::choose(&readable, opts, &mut meta)?;
        let t = table::build(regions.as_ref(), chosen, &readable, opts, meta, vec![]).await?;
        let discovery = t.discovery(self.files.file_infos(), warnings);
        Ok(State {
            regions,
            table: Arc::new(t),
            discovery: Arc::new(discovery),
        })
    }
}

#[async_trait]
impl Source for NetcdfSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.state().await?.discovery.clone())
    }

    fn files(&self) -> Option<Vec<inlet_driver::FileInfo>> {
        Some(self.files.file_infos())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let st = self.state().await?;
        inlet_grid::read::read_table(
            &st.regions,
            &st.table,
            &st.discovery,
            &self.dims,
            &self.limits,
            request,
        )
        .await
    }
}
