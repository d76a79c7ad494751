//! Zarr driver: v2 and v3 stores (consolidated or not) over object_store, served as tidy tables
//! the way `xarray.open_zarr(...).to_dataframe().reset_index()` shows them — one column per
//! dimension (coordinate values, else the index), one per data variable sharing those dims —
//! with CF decoding (times, fill values -> nulls, scale/offset). Partitions are chunk rows of the
//! leading dimension; a read decodes only the chunks its partition, projection and `sel`/`isel`
//! need. `ndzarr` serves one bare array as index columns plus a `value` column.
#![forbid(unsafe_code)]

mod read;
mod store;
mod table;

pub use store::{locate, ZarrLocation};

use std::sync::Arc;

use async_trait::async_trait;
use inlet_driver::args::Args;
use inlet_driver::{
    BatchStream, Discovery, Driver, DriverNames, Limits, OpenContext, ReadRequest, Result, Source,
};
use serde_json::{Map, Value as J};
use tokio::sync::OnceCell;

use inlet_grid::table::{Mode, Options};
use inlet_grid::{CfOptions, Selection};
use read::ZarrRegions;
use table::Table;

/// The `zarr` driver (also Intake's `intake_xarray.xzarr.ZarrSource`).
pub struct ZarrDriver;

/// The `ndzarr` driver (Intake's bare-array source): index columns and a `value` column.
pub struct NdZarrDriver;

/// Chunks fetched at once by one partition's read.
const CHUNK_CONCURRENCY: usize = 8;

/// What a source was opened with: the table's options and how to find the store's metadata.
#[derive(Debug, Clone)]
struct ZarrOptions {
    grid: Options,
    consolidated: Option<bool>,
}

fn options(a: &Args<'_>, mode: Mode) -> Result<ZarrOptions> {
    let bool_or = |key, default| a.bool(key).map(|b| b.unwrap_or(default));
    let decode = mode == Mode::Tidy && bool_or("decode_cf", true)?;
    let grid = Options {
        mode,
        variables: if mode == Mode::Tidy {
            a.strings("variables")?
        } else {
            None
        },
        drop_variables: if mode == Mode::Tidy {
            a.strings("drop_variables")?.unwrap_or_default()
        } else {
            vec![]
        },
        selection: Selection::parse(
            a.get("isel"),
            if mode == Mode::Tidy {
                a.get("sel")
            } else {
                None
            },
        )?,
        cf: CfOptions {
            mask_and_scale: decode && bool_or("mask_and_scale", true)?,
            decode_times: decode && bool_or("decode_times", true)?,
        },
    };
    Ok(ZarrOptions {
        grid,
        consolidated: a.bool("consolidated")?,
    })
}

async fn open(
    name: &'static str,
    mode: Mode,
    args: &Map<String, J>,
    ctx: &OpenContext,
) -> Result<Arc<dyn Source>> {
    let a = Args::new(args);
    let urlpath = a.required("urlpath")?;
    // `group` (xarray) and `component` (ndzarr) name a node inside the store.
    let inner = match mode {
        Mode::Tidy => a.str("group")?,
        Mode::Nd => a.str("component")?,
    };
    let urlpath = match (inner.map(|g| g.trim_matches('/')), urlpath) {
        (Some(g), J::String(u)) if !g.is_empty() => {
            J::String(format!("{}/{g}", u.trim_end_matches('/')))
        }
        (_, u) => u.clone(),
    };
    let storage_options = a.get("storage_options");
    let opts = options(&a, mode)?;
    // Dask chunking has no meaning here: partitions follow the store's own chunks.
    let mut warnings: Vec<String> = a
        .unused(name)
        .into_iter()
        .map(|w| match w.contains("`chunks`") {
            true => {
                format!("{w}: partitions follow the store's chunks along the leading dimension")
            }
            false => w,
        })
        .collect();
    let loc = locate(ctx, &urlpath, storage_options, opts.consolidated).await?;
    if opts.consolidated == Some(true) && mode == Mode::Nd {
        warnings.push("`consolidated` has no effect on a bare array".into());
    }
    Ok(ZarrDriver::source_with(loc, opts, &ctx.limits, warnings))
}

#[async_trait]
impl Driver for ZarrDriver {
    fn name(&self) -> &'static str {
        "zarr"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &["intake_xarray.xzarr.ZarrSource", "intake_xarray.ZarrSource"],
            intake2_datatypes: &["Zarr"],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        open("zarr", Mode::Tidy, args, ctx).await
    }
}

#[async_trait]
impl Driver for NdZarrDriver {
    fn name(&self) -> &'static str {
        "ndzarr"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &["intake.source.zarr.ZarrArraySource"],
            intake2_datatypes: &[],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        open("ndzarr", Mode::Nd, args, ctx).await
    }
}

impl ZarrDriver {
    /// A tidy-table source over a store already located (tests, embedding applications);
    /// `args` are the driver's args other than `urlpath`/`storage_options`.
    pub fn source(
        loc: ZarrLocation,
        args: &Map<String, J>,
        limits: &Limits,
    ) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let opts = options(&a, Mode::Tidy)?;
        Ok(Self::source_with(loc, opts, limits, a.unused("zarr")))
    }

    fn source_with(
        loc: ZarrLocation,
        opts: ZarrOptions,
        limits: &Limits,
        warnings: Vec<String>,
    ) -> Arc<dyn Source> {
        Arc::new(ZarrSource {
            regions: Arc::new(ZarrRegions {
                loc,
                concurrency: CHUNK_CONCURRENCY,
            }),
            opts,
            limits: limits.clone(),
            warnings,
            state: OnceCell::new(),
            dims: OnceCell::new(),
        })
    }
}

impl NdZarrDriver {
    /// A bare-array source over a store already located.
    pub fn source(
        loc: ZarrLocation,
        args: &Map<String, J>,
        limits: &Limits,
    ) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let opts = options(&a, Mode::Nd)?;
        Ok(ZarrDriver::source_with(
            loc,
            opts,
            limits,
            a.unused("ndzarr"),
        ))
    }
}

struct ZarrSource {
    regions: Arc<ZarrRegions>,
    opts: ZarrOptions,
    limits: Limits,
    warnings: Vec<String>,
    state: OnceCell<(Arc<Table>, Arc<Discovery>)>,
    /// Dimension columns over the selection, read on first use.
    dims: OnceCell<Arc<Vec<arrow_array::ArrayRef>>>,
}

impl ZarrSource {
    async fn state(&self) -> Result<&(Arc<Table>, Arc<Discovery>)> {
        self.state.get_or_try_init(|| self.load()).await
    }

    async fn load(&self) -> Result<(Arc<Table>, Arc<Discovery>)> {
        let conc = self.limits.discovery_concurrency.max(1);
        let loc = &self.regions.loc;
        let root = store::load(loc, self.opts.consolidated, conc).await?;
        let t = table::build(&self.regions, root, &self.opts.grid).await?;
        let warnings = self.warnings.clone();
        let discovery = t.discovery(
            loc.metadata
                .iter()
                .map(|m| inlet_driver::FileInfo {
                    location: format!(
                        "{}/{}",
                        loc.display,
                        m.location.filename().unwrap_or_default()
                    ),
                    size: m.size,
                    etag: m.e_tag.clone(),
                    last_modified: Some(m.last_modified.to_rfc3339()),
                })
                .collect(),
            warnings,
        );
        Ok((Arc::new(t), Arc::new(discovery)))
    }
}

#[async_trait]
impl Source for ZarrSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.state().await?.1.clone())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let (t, d) = self.state().await?;
        inlet_grid::read::read_table(&self.regions, t, d, &self.dims, &self.limits, request).await
    }
}
