//! The table a source serves: its files' rasters as one N-d array (files concatenated along
//! `concat_dim` as intake-xarray does), the selected window, the columns, and the partitions
//! (ranges of y, per band) with their sizes.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use inlet_driver::{DriverError, Result};
use serde_json::{json, Map, Value as J};

use crate::raster::{Dtype, Raster};
use crate::select::Selection;

/// Which Intake source the table looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `rasterio`: rioxarray's (band, y, x) with georeferenced pixel-centre coordinates.
    Raster,
    /// `xarray_image`: scikit-image's (y, x, channel) with integer positions.
    Image,
}

/// A partition holds at least this many pixels (whole strips or tile rows), so files of thin
/// strips do not become thousands of tiny reads.
const PARTITION_PIXELS: u64 = 256 * 1024;

/// One slice of the leading dimension: a band of one file (rasterio), or a whole file with its
/// samples interleaved (xarray_image).
#[derive(Debug, Clone)]
pub struct Plane {
    pub file: usize,
    /// The samples read, in output order (one for rasterio).
    pub samples: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Part {
    pub plane: usize,
    pub rows: Range<u64>,
}

/// What an output column is made of.
#[derive(Debug, Clone, Copy)]
pub enum Col {
    /// A per-plane value (`band`, the concat dimension, a path-pattern field): `lead[k]`.
    Lead(usize),
    Y,
    X,
    Channel,
    Value,
}

pub struct Table {
    pub mode: Mode,
    pub rasters: Vec<Arc<Raster>>,
    pub planes: Vec<Plane>,
    /// Per-plane columns, one value per plane, in schema order.
    pub lead: Vec<ArrayRef>,
    pub ys: Range<u64>,
    pub xs: Range<u64>,
    /// Coordinates of the window's rows and columns.
    pub y_values: ArrayRef,
    pub x_values: ArrayRef,
    /// Values per pixel in the output (samples of an image; 1 for rasterio).
    pub inner: u64,
    pub dtype: Dtype,
    /// Values equal to this are null (None: no nodata, or `masked: false`).
    pub mask: Option<f64>,
    pub schema: SchemaRef,
    pub cols: Vec<Col>,
    pub parts: Vec<Part>,
    pub metadata: Map<String, J>,
}

/// Field values taken from file paths, typed as intake's `reverse_format` would (ints stay ints).
fn typed(values: &[String]) -> ArrayRef {
    if let Ok(ints) = values.iter().map(|v| v.parse::<i64>()).collect() {
        let ints: Vec<i64> = ints;
        return Arc::new(Int64Array::from(ints));
    }
    if let Ok(floats) = values.iter().map(|v| v.parse::<f64>()).collect() {
        let floats: Vec<f64> = floats;
        return Arc::new(Float64Array::from(floats));
    }
    Arc::new(StringArray::from(values.to_vec()))
}

#[derive(Clone)]
pub struct Build {
    pub mode: Mode,
    pub concat_dim: String,
    /// The urlpath names several files (a glob, a list, a pattern): intake-xarray concatenates
    /// them, even when one file matches.
    pub stacked: bool,
    pub masked: bool,
    pub selection: Selection,
    /// Path-pattern fields and each file's values.
    pub fields: Vec<String>,
    pub values: Vec<Vec<String>>,
}

fn check_same(rasters: &[Arc<Raster>], mode: Mode, along_band: bool) -> Result<()> {
    let first = &rasters[0];
    for r in &rasters[1..] {
        let differs = if r.width != first.width || r.height != first.height {
            Some(format!(
                "{}x{} pixels, not {}x{}",
                r.width, r.height, first.width, first.height
            ))
        } else if r.dtype != first.dtype {
            Some(format!(
                "{} samples, not {}",
                r.dtype.arrow, first.dtype.arrow
            ))
        } else if r.samples != first.samples && !(along_band && mode == Mode::Raster) {
            Some(format!("{} bands, not {}", r.samples, first.samples))
        } else if mode == Mode::Raster && r.geo.transform != first.geo.transform {
            Some(format!(
                "transform {:?}, not {:?}",
                r.geo.transform, first.geo.transform
            ))
        } else {
            None
        };
        if let Some(why) = differs {
            return Err(DriverError::Incompatible(format!(
                "`{}` has {why} (as `{}`): files are concatenated, so they must share their grid",
                r.display, first.display
            )));
        }
    }
    Ok(())
}

/// The leading dimensions of the files stacked as intake-xarray concatenates them.
struct Stack {
    planes: Vec<Plane>,
    /// Names of the leading dimension columns: (concat_dim?, band) for rasterio,
    /// (concat_dim?) for images.
    names: Vec<String>,
    /// Their values, one per plane.
    lead: Vec<ArrayRef>,
    /// Other pattern fields: coordinates along the concat dimension (columns after x).
    extra: Vec<(String, ArrayRef)>,
    /// Each plane's band number in its file (1-based).
    band_labels: Vec<i64>,
}

fn stack(rasters: &[Arc<Raster>], b: &Build, new_dim: bool, along_band: bool) -> Stack {
    let mut planes = vec![];
    let mut band_labels = vec![];
    let mut dim_labels = vec![];
    for (f, r) in rasters.iter().enumerate() {
        match b.mode {
            Mode::Raster => {
                for sample in 0..r.samples {
                    planes.push(Plane {
                        file: f,
                        samples: vec![sample],
                    });
                    band_labels.push(sample as i64 + 1);
                    dim_labels.push(f as i64);
                }
            }
            Mode::Image => {
                planes.push(Plane {
                    file: f,
                    samples: (0..r.samples).collect(),
                });
                dim_labels.push(f as i64);
            }
        }
    }
    let field_of = |name: &str| b.fields.iter().position(|f| f == name);
    // A field's value for each plane.
    let per_plane =
        |k: usize| -> Vec<String> { planes.iter().map(|p| b.values[p.file][k].clone()).collect() };
    let mut names: Vec<String> = vec![];
    let mut lead: Vec<ArrayRef> = vec![];
    if new_dim {
        names.push(b.concat_dim.clone());
        lead.push(match field_of(&b.concat_dim) {
            Some(k) => typed(&per_plane(k)),
            None => Arc::new(Int64Array::from(dim_labels.clone())),
        });
    }
    if b.mode == Mode::Raster {
        names.push("band".into());
        lead.push(match field_of("band").filter(|_| along_band) {
            Some(k) => typed(&per_plane(k)),
            None => Arc::new(Int64Array::from(band_labels.clone())),
        });
    }
    let extra: Vec<(String, ArrayRef)> = b
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !names.contains(f))
        .map(|(k, f)| (f.clone(), typed(&per_plane(k))))
        .collect();

    Stack {
        planes,
        names,
        lead,
        extra,
        band_labels,
    }
}

pub fn build(rasters: Vec<Arc<Raster>>, b: Build) -> Result<Table> {
    let first = rasters
        .first()
        .cloned()
        .ok_or_else(|| DriverError::NotFound("no file matches the urlpath".into()))?;
    let many = b.stacked || rasters.len() > 1 || !b.fields.is_empty();
    let along_band = many && b.mode == Mode::Raster && b.concat_dim == "band";
    check_same(&rasters, b.mode, along_band)?;
    let s = &b.selection;
    if let (Mode::Image, Some(arg)) = (b.mode, s.naming("band")) {
        return Err(DriverError::bad_arg(
            &format!("{arg}.band"),
            "an image has no band dimension: its samples are the `channel` column",
        ));
    }
    let new_dim = many && !along_band;
    let Stack {
        planes,
        names,
        lead,
        extra,
        band_labels,
    } = stack(&rasters, &b, new_dim, along_band);

    // Band selection: positions along the band dimension (within each file when files stack
    // on a new dimension), labels compared with the band coordinate.
    let keep: Vec<bool> = if b.mode == Mode::Raster {
        // The band coordinate: pattern values when they are numbers, else band numbers.
        let labels: Vec<f64> = lead
            .last()
            .and_then(|a| a.as_any().downcast_ref::<Int64Array>())
            .map(|a| a.values().iter().map(|v| *v as f64).collect())
            .unwrap_or_else(|| band_labels.iter().map(|b| *b as f64).collect());
        if new_dim {
            let n = first.samples;
            let range = s.range("band", &labels[..n.min(labels.len())])?;
            planes
                .iter()
                .map(|p| range.contains(&(p.samples[0] as u64)))
                .collect()
        } else {
            let range = s.range("band", &labels)?;
            (0..planes.len())
                .map(|i| range.contains(&(i as u64)))
                .collect()
        }
    } else {
        vec![true; planes.len()]
    };
    let picked: Vec<usize> = (0..planes.len()).filter(|i| keep[*i]).collect();
    let take = |a: &ArrayRef| -> Result<ArrayRef> {
        let idx =
            arrow_array::UInt64Array::from(picked.iter().map(|i| *i as u64).collect::<Vec<_>>());
        arrow_select::take::take(a.as_ref(), &idx, None)
            .map_err(|e| DriverError::Io(format!("selecting bands: {e}")))
    };
    let lead = lead.iter().map(take).collect::<Result<Vec<_>>>()?;
    let extra = extra
        .into_iter()
        .map(|(n, a)| take(&a).map(|a| (n, a)))
        .collect::<Result<Vec<_>>>()?;
    let planes: Vec<Plane> = picked.iter().map(|i| planes[*i].clone()).collect();

    let (y_all, x_all) = match b.mode {
        Mode::Raster => (first.geo.ys(first.height), first.geo.xs(first.width)),
        Mode::Image => (
            (0..first.height).map(|i| i as f64).collect(),
            (0..first.width).map(|i| i as f64).collect(),
        ),
    };
    let ys = s.range("y", &y_all)?;
    let xs = s.range("x", &x_all)?;
    let window = |all: &[f64], r: &Range<u64>| -> ArrayRef {
        let v = all[r.start as usize..r.end as usize].to_vec();
        match b.mode {
            Mode::Raster => Arc::new(Float64Array::from(v)),
            Mode::Image => Arc::new(Int64Array::from(
                v.into_iter().map(|x| x as i64).collect::<Vec<_>>(),
            )),
        }
    };
    let (y_values, x_values) = (window(&y_all, &ys), window(&x_all, &xs));
    let inner = if b.mode == Mode::Image {
        first.samples as u64
    } else {
        1
    };

    // Columns: leading dims, y, x, (channel), pattern fields, value.
    let mut fields = vec![];
    let mut cols = vec![];
    let mut all_lead = lead.clone();
    for (k, name) in names.iter().enumerate() {
        fields.push(Field::new(name, lead[k].data_type().clone(), false));
        cols.push(Col::Lead(k));
    }
    fields.push(Field::new("y", y_values.data_type().clone(), false));
    cols.push(Col::Y);
    fields.push(Field::new("x", x_values.data_type().clone(), false));
    cols.push(Col::X);
    if b.mode == Mode::Image && inner > 1 {
        fields.push(Field::new("channel", DataType::Int64, false));
        cols.push(Col::Channel);
    }
    for (name, values) in &extra {
        fields.push(Field::new(name, values.data_type().clone(), false));
        cols.push(Col::Lead(all_lead.len()));
        all_lead.push(values.clone());
    }
    let nodata = first.geo.nodata_value();
    let mask = nodata.filter(|_| b.masked);
    fields.push(Field::new(
        "value",
        first.dtype.arrow.clone(),
        mask.is_some(),
    ));
    cols.push(Col::Value);
    let schema = Arc::new(Schema::new(fields));

    let parts = partitions(planes.len(), &ys, &xs, first.chunk_h);
    let mut metadata = Map::new();
    metadata.insert("files".into(), json!(rasters.len()));
    metadata.insert("raster".into(), first.info.clone());
    if b.mode == Mode::Raster {
        metadata.insert("geo".into(), first.geo.metadata());
    }
    metadata.insert(
        "masked".into(),
        json!(match (nodata.is_some(), b.masked) {
            (false, _) => "no nodata value: nothing is null",
            (true, true) => "nodata values are null",
            (true, false) => "nodata values are kept (masked: false)",
        }),
    );
    if !s.is_empty() {
        metadata.insert(
            "window".into(),
            json!({"y": [ys.start, ys.end], "x": [xs.start, xs.end], "planes": planes.len()}),
        );
    }
    if many {
        metadata.insert("concat_dim".into(), json!(b.concat_dim));
    }
    Ok(Table {
        mode: b.mode,
        rasters,
        planes,
        lead: all_lead,
        ys,
        xs,
        y_values,
        x_values,
        inner,
        dtype: first.dtype.clone(),
        mask,
        schema,
        cols,
        parts,
        metadata,
    })
}

/// Whole chunk rows, grouped up to PARTITION_PIXELS, clipped to the window; per plane.
fn partitions(planes: usize, ys: &Range<u64>, xs: &Range<u64>, chunk_h: u64) -> Vec<Part> {
    let width = (xs.end - xs.start).max(1);
    let group = (PARTITION_PIXELS / (chunk_h * width)).max(1) * chunk_h;
    let mut parts = vec![];
    if xs.end > xs.start {
        for plane in 0..planes {
            let mut y = ys.start;
            while y < ys.end {
                let end = ((y / group + 1) * group).min(ys.end);
                parts.push(Part {
                    plane,
                    rows: y..end,
                });
                y = end;
            }
        }
    }
    parts
}

impl Table {
    pub fn part_rows(&self, p: &Part) -> u64 {
        (p.rows.end - p.rows.start) * (self.xs.end - self.xs.start) * self.inner
    }

    /// The chunks a partition decodes: (plane of chunks, chunk row, chunk column).
    pub fn part_chunks(&self, p: &Part) -> Vec<(usize, u64, u64)> {
        let plane = &self.planes[p.plane];
        let r = &self.rasters[plane.file];
        let chunk_planes: Vec<usize> = if r.planar {
            plane.samples.clone()
        } else {
            vec![0]
        };
        let (r0, r1) = (p.rows.start / r.chunk_h, (p.rows.end - 1) / r.chunk_h);
        let (c0, c1) = (self.xs.start / r.chunk_w, (self.xs.end - 1) / r.chunk_w);
        let mut out = vec![];
        for cp in chunk_planes {
            for row in r0..=r1 {
                for col in c0..=c1 {
                    out.push((cp, row, col));
                }
            }
        }
        out
    }

    /// Bytes a partition fetches (compressed chunks) and holds decoded.
    pub fn part_cost(&self, p: &Part) -> (u64, u64) {
        let r = &self.rasters[self.planes[p.plane].file];
        let chunks = self.part_chunks(p);
        let fetched: u64 = chunks
            .iter()
            .map(|(cp, row, col)| {
                r.counts
                    .get(r.chunk_index(*cp, *row, *col))
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        let decoded = chunks.len() as u64
            * r.chunk_w
            * r.chunk_h
            * r.samples_per_chunk() as u64
            * self.dtype.size as u64;
        (
            fetched,
            decoded + self.part_rows(p) * self.dtype.size as u64,
        )
    }
}
