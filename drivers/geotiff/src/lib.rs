//! GeoTIFF / COG driver: Intake's `rasterio` (intake-xarray's RasterIOSource) served as
//! `rioxarray.open_rasterio(f).to_dataframe(name="value").reset_index()` shows it — columns
//! `band`, `y`, `x` (pixel centres from the affine transform), `value` — and `xarray_image`
//! (ImageSource) on TIFF files as `y`, `x`, `channel`, `value`. Several files (a glob, a list,
//! a path pattern) are concatenated along `concat_dim` as intake-xarray does.
//!
//! Only the header and the chunks (strips or tiles) a partition overlaps are fetched, by byte
//! range: a window (`isel`/`sel` on band/y/x) of a COG reads its few tiles and nothing else.
#![forbid(unsafe_code)]

mod codec;
mod geo;
mod pattern;
mod raster;
mod read;
mod select;
mod sparse;
mod table;

use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::args::Args;
use inlet_driver::storage::Files;
use inlet_driver::{
    limit_stream, ordered_parallel_within, BatchStream, Discovery, Driver, DriverError,
    DriverNames, FileInfo, Limits, OpenContext, Partition, ReadRequest, Result, Source,
};
use serde_json::{Map, Value as J};
use tokio::sync::OnceCell;

use pattern::PathPattern;
use select::Selection;
use table::{Build, Col, Mode, Table};

/// The `rasterio` driver (intake-xarray's `RasterIOSource`).
pub struct RasterioDriver;

/// The `xarray_image` driver (intake-xarray's `ImageSource`), for TIFF images.
pub struct ImageDriver;

/// intake-xarray's default `concat_dim`.
const DEFAULT_CONCAT_DIM: &str = "concat_dim";

#[async_trait]
impl Driver for RasterioDriver {
    fn name(&self) -> &'static str {
        "rasterio"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "intake_xarray.raster.RasterIOSource",
                "intake_xarray.RasterIOSource",
                "geotiff",
            ],
            intake2_datatypes: &["TIFF", "GeoTIFF"],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        open(Mode::Raster, args, ctx).await
    }
}

#[async_trait]
impl Driver for ImageDriver {
    fn name(&self) -> &'static str {
        "xarray_image"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "intake_xarray.image.ImageSource",
                "intake_xarray.ImageSource",
            ],
            intake2_datatypes: &[],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        open(Mode::Image, args, ctx).await
    }
}

/// `path_as_pattern` + `urlpath` -> (the glob to resolve instead of urlpath, the pattern whose
/// fields become coordinates). As in the CSV driver and Intake: on by default.
fn pattern_args(urlpath: &J, setting: Option<&J>) -> Result<(Option<J>, Option<String>)> {
    let (enabled, explicit) = match setting {
        None => (true, None),
        Some(J::Bool(b)) => (*b, None),
        Some(J::String(s)) => (true, Some(s.clone())),
        Some(other) => {
            return Err(DriverError::bad_arg(
                "path_as_pattern",
                format!("expected true, false or a pattern string, got {other}"),
            ))
        }
    };
    if !enabled {
        return Ok((None, None));
    }
    let J::String(url) = urlpath else {
        return Ok((None, explicit));
    };
    let glob = match pattern::to_glob(url) {
        Ok(glob) => glob,
        Err(_) if setting.is_none() => None,
        Err(e) => {
            return Err(DriverError::bad_arg(
                "urlpath",
                format!("{e}; set path_as_pattern: false to read the path literally"),
            ))
        }
    };
    let pattern = explicit.or_else(|| glob.is_some().then(|| url.clone()));
    Ok((glob.map(J::String), pattern))
}

/// `masked` (top level or in `xarray_kwargs`, as rioxarray takes it); true unless set false.
fn masked(a: &Args<'_>, warnings: &mut Vec<String>) -> Result<bool> {
    let mut masked = a.bool("masked")?;
    if let Some(kwargs) = a.get("xarray_kwargs") {
        let J::Object(kw) = kwargs else {
            return Err(DriverError::bad_arg(
                "xarray_kwargs",
                format!("expected a mapping, got {kwargs}"),
            ));
        };
        for (k, v) in kw {
            match (k.as_str(), v) {
                ("masked", J::Bool(b)) => masked = masked.or(Some(*b)),
                _ => warnings.push(format!(
                    "xarray_kwargs `{k}` is not used by this driver and is ignored"
                )),
            }
        }
    }
    Ok(masked.unwrap_or(true))
}

async fn open(mode: Mode, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
    let a = Args::new(args);
    let name = match mode {
        Mode::Raster => "rasterio",
        Mode::Image => "xarray_image",
    };
    let urlpath = a.required("urlpath")?;
    let storage_options = a.get("storage_options");
    let (glob, pattern) = pattern_args(urlpath, a.get("path_as_pattern"))?;
    let concat_dim = a
        .str("concat_dim")?
        .map(str::to_string)
        .or_else(|| {
            // Intake also takes a list (xarray's nested concat); one name is what this serves.
            a.get("concat_dim")
                .and_then(J::as_array)
                .and_then(|l| l.first())
                .and_then(J::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| DEFAULT_CONCAT_DIM.to_string());
    let mut warnings = vec![];
    let masked = masked(&a, &mut warnings)?;
    let selection = Selection::parse(a.get("isel"), a.get("sel"))?;
    for (arg, why) in [
        ("chunks", "partitions follow the file's strips or tiles"),
        ("open_local", "files are read by byte range where they are"),
        ("coerce_shape", "images are served at their own size"),
    ] {
        if a.get(arg).is_some() {
            warnings.push(format!("arg `{arg}` has no effect: {why}"));
        }
    }
    warnings.extend(a.unused(name).into_iter().filter(|w| {
        !["`chunks`", "`open_local`", "`coerce_shape`"]
            .iter()
            .any(|k| w.contains(k))
    }));
    let files = ctx
        .storage
        .resolve(
            glob.as_ref().unwrap_or(urlpath),
            storage_options,
            &ctx.catalog_dir,
        )
        .await?;
    let pattern = match pattern {
        None => None,
        Some(p) => {
            PathPattern::parse(&p).map_err(|e| DriverError::bad_arg("path_as_pattern", e))?
        }
    };
    let stacked = match urlpath {
        J::String(u) => glob.is_some() || u.contains(['*', '?', '[']),
        _ => true,
    };
    let build = Build {
        mode,
        concat_dim,
        stacked,
        masked,
        selection,
        fields: pattern
            .as_ref()
            .map(|p| p.fields().to_vec())
            .unwrap_or_default(),
        values: vec![],
    };
    GeotiffSource::over(files, pattern, build, &ctx.limits, warnings)
}

impl RasterioDriver {
    /// A source over files already resolved (tests, embedding applications); `args` are the
    /// driver's args other than `urlpath`/`storage_options`/`path_as_pattern`.
    pub fn source(files: Files, args: &Map<String, J>, limits: &Limits) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let mut warnings = vec![];
        let build = Build {
            mode: Mode::Raster,
            concat_dim: a
                .str("concat_dim")?
                .unwrap_or(DEFAULT_CONCAT_DIM)
                .to_string(),
            stacked: files.objects.len() > 1,
            masked: masked(&a, &mut warnings)?,
            selection: Selection::parse(a.get("isel"), a.get("sel"))?,
            fields: vec![],
            values: vec![],
        };
        warnings.extend(a.unused("rasterio"));
        GeotiffSource::over(files, None, build, limits, warnings)
    }
}

struct GeotiffSource {
    files: Files,
    build: Build,
    limits: Limits,
    warnings: Vec<String>,
    state: OnceCell<(Arc<Table>, Arc<Discovery>)>,
}

impl GeotiffSource {
    /// A source over resolved files; pattern values are taken from their paths now.
    fn over(
        files: Files,
        pattern: Option<PathPattern>,
        mut build: Build,
        limits: &Limits,
        warnings: Vec<String>,
    ) -> Result<Arc<dyn Source>> {
        if let Some(p) = &pattern {
            build.values = files
                .objects
                .iter()
                .map(|m| {
                    p.values(m.location.as_ref()).ok_or_else(|| {
                        DriverError::bad_arg(
                            "path_as_pattern",
                            format!(
                                "`{}` does not match the pattern `{}`",
                                files.display(m),
                                p.text()
                            ),
                        )
                    })
                })
                .collect::<Result<_>>()?;
        }
        Ok(Arc::new(GeotiffSource {
            files,
            build,
            limits: limits.clone(),
            warnings,
            state: OnceCell::new(),
        }))
    }

    async fn state(&self) -> Result<&(Arc<Table>, Arc<Discovery>)> {
        self.state.get_or_try_init(|| self.load()).await
    }

    async fn load(&self) -> Result<(Arc<Table>, Arc<Discovery>)> {
        // Owned futures: a stream of closures borrowing `self` is not `Send` for every lifetime.
        let opens: Vec<_> = self
            .files
            .objects
            .iter()
            .map(|m| {
                let (files, meta) = (self.files.clone(), m.clone());
                async move { raster::open(&files, &meta).await.map(Arc::new) }
            })
            .collect();
        let rasters: Vec<Arc<raster::Raster>> = futures::stream::iter(opens)
            .buffered(self.limits.discovery_concurrency.max(1))
            .try_collect()
            .await?;
        let t = table::build(rasters, self.build.clone())?;
        let partitions: Vec<Partition> = t
            .parts
            .iter()
            .enumerate()
            .map(|(id, p)| {
                let plane = &t.planes[p.plane];
                let band = match t.mode {
                    Mode::Raster => format!(" band {}", plane.samples[0] + 1),
                    Mode::Image => String::new(),
                };
                let name = t.rasters[plane.file]
                    .display
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                Partition {
                    id,
                    label: format!("{name}{band} y[{}:{}]", p.rows.start, p.rows.end),
                    file: plane.file,
                    estimated_rows: Some(t.part_rows(p)),
                    estimated_bytes: Some(t.part_rows(p) * t.dtype.size as u64),
                }
            })
            .collect();
        let rows: u64 = partitions.iter().filter_map(|p| p.estimated_rows).sum();
        let discovery = Discovery {
            schema: t.schema.clone(),
            total_rows: Some(rows),
            total_bytes: Some(partitions.iter().filter_map(|p| p.estimated_bytes).sum()),
            partitions,
            files: self.files.file_infos(),
            statistics: vec![],
            metadata: t.metadata.clone(),
            warnings: self.warnings.clone(),
        };
        Ok((Arc::new(t), Arc::new(discovery)))
    }
}

#[async_trait]
impl Source for GeotiffSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.state().await?.1.clone())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let (t, d) = self.state().await?;
        let schema = d.projected_schema(&request)?;
        let cols: Vec<Col> = schema
            .fields()
            .iter()
            .filter_map(|f| {
                let i = t.schema.index_of(f.name()).ok()?;
                t.cols.get(i).copied()
            })
            .collect();
        let parts = d.select(&request)?;
        let shared = Arc::new(read::Shared {
            files: self.files.clone(),
            table: t.clone(),
            schema,
            cols,
            batch_size: request.batch_size.max(1) as u64,
        });
        // A partition holds its fetched and decoded chunks until its last batch is taken.
        let openers: Vec<_> = parts
            .into_iter()
            .map(|p| {
                let part = t.parts[p.id].clone();
                let (fetched, decoded) = t.part_cost(&part);
                (fetched + decoded, read::partition(shared.clone(), part))
            })
            .collect();
        let concurrency = if request.limit.is_some() {
            1
        } else {
            self.limits.read_concurrency
        };
        let stream = ordered_parallel_within(
            openers,
            concurrency,
            self.limits.read_ahead.max(1),
            self.limits.budget.clone(),
        );
        Ok(limit_stream(stream, request.limit))
    }

    fn files(&self) -> Option<Vec<FileInfo>> {
        Some(self.files.file_infos())
    }
}
