//! The tidy table of a dataset: which variables, which dimensions (with coordinates and
//! selected ranges), the Arrow schema and the partitions — from metadata (plus coordinate
//! arrays when `sel` needs their labels).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array};
use arrow_schema::{DataType, Field, Schema};
use inlet_driver::{DriverError, Result};
use serde_json::{json, Map, Value as J};

use crate::cf::{self, CfOptions, Column, Raw};
use crate::read::Regions;
use crate::select::Selection;

/// One stored array, as a format describes it.
pub trait GridArray: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn dims(&self) -> &[String];
    fn shape(&self) -> &[u64];
    fn attrs(&self) -> &Map<String, J>;
    /// The element type, or why the array cannot be read.
    fn raw(&self) -> Result<Raw>;
    /// A fill value xarray masks with although no `_FillValue` attribute says so.
    fn implicit_fill(&self) -> Option<&J> {
        None
    }
    /// Length along the leading dimension of what is stored (and so best read) together.
    fn chunk0(&self) -> Result<u64>;
}

/// Tidy (xarray's Dataset) or one bare array (index columns and `value`, as `ndzarr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tidy,
    Nd,
}

/// What a source was opened with.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub variables: Option<Vec<String>>,
    pub drop_variables: Vec<String>,
    pub selection: Selection,
    pub cf: CfOptions,
}

pub struct Var<A> {
    /// Column name.
    pub name: String,
    pub node: Arc<A>,
    pub col: Column,
    /// Chunk length along the leading dimension.
    pub chunk0: u64,
}

pub struct Dim<A> {
    pub name: String,
    pub size: u64,
    pub range: Range<u64>,
    pub coord: Option<(Arc<A>, Column)>,
}

impl<A> Dim<A> {
    pub fn len(&self) -> u64 {
        self.range.end - self.range.start
    }

    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }
}

pub struct Table<A> {
    pub dims: Vec<Dim<A>>,
    pub vars: Vec<Var<A>>,
    pub schema: Arc<Schema>,
    /// Leading-dimension ranges, one per partition.
    pub partitions: Vec<Range<u64>>,
    pub metadata: Map<String, J>,
    pub warnings: Vec<String>,
}

impl<A> Table<A> {
    /// Rows per leading-dimension index (the selected trailing extents).
    pub fn inner(&self) -> u64 {
        self.dims[1..].iter().map(Dim::len).product()
    }

    /// The discovery of this table: one partition per leading-dimension range (`time[0:4]`),
    /// sizes estimated from the row width, `files` as the format lists them, and the format's
    /// `warnings` followed by the table's.
    pub fn discovery(
        &self,
        files: Vec<inlet_driver::FileInfo>,
        mut warnings: Vec<String>,
    ) -> inlet_driver::Discovery {
        let (inner, row_bytes) = (self.inner(), self.row_bytes());
        let d0 = &self.dims[0].name;
        let partitions: Vec<inlet_driver::Partition> = self
            .partitions
            .iter()
            .enumerate()
            .map(|(id, r)| inlet_driver::Partition {
                id,
                label: format!("{d0}[{}:{}]", r.start, r.end),
                file: 0,
                estimated_rows: Some((r.end - r.start) * inner),
                estimated_bytes: Some((r.end - r.start) * inner * row_bytes),
            })
            .collect();
        let rows: u64 = partitions.iter().filter_map(|p| p.estimated_rows).sum();
        warnings.extend(self.warnings.iter().cloned());
        inlet_driver::Discovery {
            schema: self.schema.clone(),
            partitions,
            total_rows: Some(rows),
            total_bytes: Some(rows * row_bytes),
            files,
            statistics: vec![],
            metadata: self.metadata.clone(),
            warnings,
        }
    }

    /// Arrow bytes of one row, for size estimates.
    pub fn row_bytes(&self) -> u64 {
        let width = |t: &DataType| t.primitive_width().unwrap_or(1) as u64;
        self.schema
            .fields()
            .iter()
            .map(|f| width(f.data_type()))
            .sum()
    }
}

pub fn field_metadata(attrs: &Map<String, J>) -> HashMap<String, String> {
    attrs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "_ARRAY_DIMENSIONS" | "_FillValue"))
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect()
}

/// Variables that can form one table share (dims, shape).
type SetKey = (Vec<String>, Vec<u64>);

/// The variables a tidy table shows: the `variables` arg, else the largest set sharing dims.
pub fn choose<A: GridArray>(
    arrays: &[Arc<A>],
    opts: &Options,
    meta: &mut Map<String, J>,
) -> Result<Vec<Arc<A>>> {
    let is_coord = |n: &A| n.dims().len() == 1 && n.dims()[0] == n.name();
    let dropped = |n: &A| opts.drop_variables.iter().any(|d| d == n.name());
    let candidates: Vec<&Arc<A>> = arrays
        .iter()
        .filter(|n| !is_coord(n) && !n.dims().is_empty() && !dropped(n))
        .collect();
    let mut sets: BTreeMap<SetKey, Vec<Arc<A>>> = BTreeMap::new();
    for n in &candidates {
        let key = (n.dims().to_vec(), n.shape().to_vec());
        sets.entry(key).or_default().push((*n).clone());
    }
    let chosen: Vec<Arc<A>> = match &opts.variables {
        Some(names) => {
            let all: Vec<&str> = candidates.iter().map(|n| n.name()).collect();
            let picked = names
                .iter()
                .map(|name| {
                    candidates.iter().find(|n| n.name() == name).map(|n| (*n).clone()).ok_or_else(|| {
                        let why = if arrays.iter().any(|a| a.name() == name) {
                            "is a dimension coordinate (already a column of any table over its dimension) or dropped"
                        } else {
                            "does not exist"
                        };
                        DriverError::bad_arg("variables", format!("`{name}` {why}; variables: {}", all.join(", ")))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if let Some(first) = picked.first() {
                if let Some(other) = picked
                    .iter()
                    .find(|n| n.dims() != first.dims() || n.shape() != first.shape())
                {
                    return Err(DriverError::bad_arg(
                        "variables",
                        format!(
                            "`{}` has dims {:?} but `{}` has {:?}: one table needs variables with the same dimensions",
                            first.name(), first.dims(), other.name(), other.dims()
                        ),
                    ));
                }
            }
            picked
        }
        None => sets
            .values()
            .max_by_key(|set| (set.len(), set[0].shape().iter().product::<u64>()))
            .cloned()
            .unwrap_or_default(),
    };
    if chosen.is_empty() {
        return Err(DriverError::bad_arg(
            "variables",
            "the dataset has no data variables to show",
        ));
    }
    let others: Vec<J> = sets
        .iter()
        .filter(|((dims, _), _)| dims.as_slice() != chosen[0].dims())
        .map(|((dims, shape), set)| {
            json!({"dims": dims, "shape": shape, "variables": set.iter().map(|n| n.name()).collect::<Vec<_>>()})
        })
        .collect();
    meta.insert("other_variables".into(), J::Array(others));
    Ok(chosen)
}

/// Decoded values of a 1-D coordinate, whole.
pub async fn coordinate<R: Regions>(
    regions: &R,
    node: &Arc<R::Array>,
    col: &Column,
) -> Result<ArrayRef> {
    let n = node.shape()[0];
    let buf = regions
        .read_region(node, col.raw.size(), std::slice::from_ref(&(0..n)))
        .await?;
    Ok(crate::convert::to_arrow(col, &buf, 0, n as usize))
}

/// Every dimension's values over its selected range (coordinates or indices).
pub async fn dim_values<R: Regions>(regions: &R, t: &Table<R::Array>) -> Result<Vec<ArrayRef>> {
    let mut out = vec![];
    for d in &t.dims {
        out.push(match &d.coord {
            // Only the selected range: a window of a long record dimension reads its part.
            Some((node, col)) => {
                let range = std::slice::from_ref(&d.range);
                let buf = regions.read_region(node, col.raw.size(), range).await?;
                crate::convert::to_arrow(col, &buf, 0, d.len() as usize)
            }
            None => Arc::new(Int64Array::from_iter_values(
                d.range.clone().map(|i| i as i64),
            )) as ArrayRef,
        });
    }
    Ok(out)
}

/// The CF-decoded column of `node` (named `name`), as xarray would decode it.
fn cf_column<A: GridArray>(name: &str, node: &A, raw: Raw, cf: CfOptions) -> Result<Column> {
    cf::column(name, raw, node.attrs(), node.implicit_fill(), cf)
}

/// The table over `chosen` (variables sharing dims) of a dataset holding `arrays`; `meta` and
/// `warnings` hold what the format found already.
pub async fn build<R: Regions>(
    regions: &R,
    chosen: Vec<Arc<R::Array>>,
    arrays: &[Arc<R::Array>],
    opts: &Options,
    mut meta: Map<String, J>,
    mut warnings: Vec<String>,
) -> Result<Table<R::Array>> {
    let Some(first) = chosen.first().cloned() else {
        return Err(DriverError::bad_arg(
            "variables",
            "the dataset has no data variables to show",
        ));
    };
    if first.dims().is_empty() {
        return Err(DriverError::Unsupported(
            "a 0-dimensional array is a scalar, not a table".into(),
        ));
    }
    let mut vars = vec![];
    for node in &chosen {
        let raw = node.raw()?;
        let (name, col) = match opts.mode {
            Mode::Tidy if !node.name().is_empty() => (
                node.name().to_string(),
                cf_column(node.name(), node.as_ref(), raw, opts.cf)?,
            ),
            Mode::Tidy => (
                "value".to_string(),
                cf_column("value", node.as_ref(), raw, opts.cf)?,
            ),
            Mode::Nd => ("value".to_string(), Column::raw(raw)),
        };
        let chunk0 = node.chunk0()?;
        vars.push(Var {
            name,
            node: node.clone(),
            col,
            chunk0,
        });
    }
    let mut dims = vec![];
    for (i, name) in first.dims().iter().enumerate() {
        let coord = match opts.mode {
            Mode::Nd => None,
            Mode::Tidy => arrays
                .iter()
                .find(|a| a.name() == name && a.dims().len() == 1 && a.dims()[0] == *name),
        };
        let coord = match coord {
            None => None,
            Some(node) => match node.raw() {
                Ok(raw) => Some((node.clone(), cf_column(name, node.as_ref(), raw, opts.cf)?)),
                Err(e) => {
                    warnings.push(format!(
                        "coordinate `{name}` is not read ({e}): the column holds its index"
                    ));
                    None
                }
            },
        };
        let size = first.shape()[i];
        dims.push(Dim {
            name: name.clone(),
            size,
            range: 0..size,
            coord,
        });
    }
    let dim_names: Vec<String> = dims.iter().map(|d| d.name.clone()).collect();
    opts.selection.check_dims(&dim_names)?;
    let mut selected = Map::new();
    for d in &mut dims {
        let coord = match (&d.coord, opts.selection.needs_coords()) {
            (Some((node, col)), true) => Some(coordinate(regions, node, col).await?),
            _ => None,
        };
        d.range = opts.selection.range(&d.name, d.size, coord.as_ref())?;
        if d.range != (0..d.size) {
            selected.insert(d.name.clone(), json!([d.range.start, d.range.end]));
        }
    }
    let mut fields: Vec<Field> = dims
        .iter()
        .map(|d| match &d.coord {
            Some((node, col)) => Field::new(&d.name, col.arrow_type(), true)
                .with_metadata(field_metadata(node.attrs())),
            None => Field::new(&d.name, DataType::Int64, false),
        })
        .collect();
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    fields.extend(vars.iter().map(|v| {
        Field::new(&v.name, v.col.arrow_type(), true).with_metadata(field_metadata(v.node.attrs()))
    }));
    if let Some(dup) = vars.iter().find(|v| dim_names.contains(&v.name)) {
        return Err(DriverError::Incompatible(format!(
            "variable `{}` has the name of a dimension",
            dup.name
        )));
    }
    // Partitions: chunk rows of the variable with the longest leading chunks, so every chunk of
    // every variable is decoded by one partition (unless chunkings disagree at a boundary).
    let step = vars.iter().map(|v| v.chunk0).max().unwrap_or(1).max(1);
    let r0 = dims[0].range.clone();
    let empty = dims.iter().any(|d| d.is_empty());
    let mut partitions = vec![];
    let mut a = r0.start;
    while a < r0.end && !empty {
        let b = ((a / step + 1) * step).min(r0.end);
        partitions.push(a..b);
        a = b;
    }
    meta.insert(
        "dims".into(),
        J::Object(
            dims.iter()
                .map(|d| (d.name.clone(), d.size.into()))
                .collect(),
        ),
    );
    meta.insert(
        "variables".into(),
        json!(vars.iter().map(|v| v.node.name()).collect::<Vec<_>>()),
    );
    if !selected.is_empty() {
        meta.insert("selection".into(), J::Object(selected));
    }
    Ok(Table {
        dims,
        vars,
        schema: Arc::new(Schema::new(fields)),
        partitions,
        metadata: meta,
        warnings,
    })
}
