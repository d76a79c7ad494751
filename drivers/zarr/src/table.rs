//! A Zarr store's arrays as the grid crate's tidy table: which arrays are variables (or the one
//! bare array of `ndzarr`), their element types, chunking and fill values, and the store's
//! metadata for discovery.

use inlet_driver::{DriverError, Result};
use inlet_grid::table::{self, GridArray, Mode, Options};
use inlet_grid::Raw;
use serde_json::{json, Map, Value as J};
use zarrs::array::DataType as ZType;

use crate::read::ZarrRegions;
use crate::store::{Node, Root};

pub type Table = table::Table<Node>;

/// The Zarr data types the driver reads.
fn raw_of(t: &ZType, what: &str) -> Result<Raw> {
    Ok(match t {
        ZType::Bool => Raw::Bool,
        ZType::Int8 => Raw::I8,
        ZType::Int16 => Raw::I16,
        ZType::Int32 => Raw::I32,
        ZType::Int64 => Raw::I64,
        ZType::UInt8 => Raw::U8,
        ZType::UInt16 => Raw::U16,
        ZType::UInt32 => Raw::U32,
        ZType::UInt64 => Raw::U64,
        ZType::Float32 => Raw::F32,
        ZType::Float64 => Raw::F64,
        other => {
            return Err(DriverError::Unsupported(format!(
            "`{what}` has Zarr data type {}; the driver reads bool, integers, float32 and float64",
            other.name()
        )))
        }
    })
}

pub fn regular_chunks(node: &Node) -> Result<Vec<u64>> {
    let grid = node.array.chunk_grid().create_metadata();
    if grid.name() != "regular" {
        return Err(DriverError::Unsupported(format!(
            "`{}` has a `{}` chunk grid; the driver reads regular grids",
            node.name,
            grid.name()
        )));
    }
    let zeros = vec![0; node.array.dimensionality()];
    let shape = node
        .array
        .chunk_shape(&zeros)
        .map_err(|e| DriverError::Unsupported(format!("chunk grid of `{}`: {e}", node.name)))?;
    Ok(shape.iter().map(|c| c.get()).collect())
}

impl GridArray for Node {
    fn name(&self) -> &str {
        &self.name
    }

    fn dims(&self) -> &[String] {
        &self.dims
    }

    fn shape(&self) -> &[u64] {
        self.array.shape()
    }

    fn attrs(&self) -> &Map<String, J> {
        &self.attrs
    }

    fn raw(&self) -> Result<Raw> {
        let what = if self.name.is_empty() {
            "value"
        } else {
            &self.name
        };
        raw_of(self.array.data_type(), what)
    }

    /// v2's array fill_value is `_FillValue` (xarray's `use_zarr_fill_value_as_mask`); for v3
    /// only the attribute counts.
    fn implicit_fill(&self) -> Option<&J> {
        (self.zarr_format == 2).then_some(&self.fill_json)
    }

    fn chunk0(&self) -> Result<u64> {
        Ok(regular_chunks(self)?.first().copied().unwrap_or(1))
    }
}

fn describe(node: &Node) -> J {
    json!({
        "dims": node.dims,
        "shape": node.array.shape(),
        "chunks": regular_chunks(node).ok(),
        "dtype": node.array.data_type().name(),
        "codecs": node.codecs,
        "attributes": node.attrs,
    })
}

pub async fn build(regions: &ZarrRegions, root: Root, opts: &Options) -> Result<Table> {
    let mut meta = Map::new();
    let (chosen, arrays) = match root {
        Root::Group {
            attrs,
            arrays,
            zarr_format,
            consolidated,
        } => {
            meta.insert("zarr_format".into(), zarr_format.into());
            meta.insert("consolidated".into(), consolidated.into());
            meta.insert("attributes".into(), J::Object(attrs));
            let vars = match opts.mode {
                Mode::Tidy => table::choose(&arrays, opts, &mut meta)?,
                Mode::Nd => {
                    let names: Vec<&str> = arrays.iter().map(|a| a.name.as_str()).collect();
                    return Err(DriverError::bad_arg(
                        "urlpath",
                        format!(
                            "is a Zarr group: name one of its arrays with `component` ({})",
                            names.join(", ")
                        ),
                    ));
                }
            };
            (vars, arrays)
        }
        Root::Array(node) => {
            meta.insert("zarr_format".into(), node.zarr_format.into());
            (vec![node.clone()], vec![node])
        }
    };
    meta.insert(
        "arrays".into(),
        J::Object(
            arrays
                .iter()
                .map(|a| (a.name.clone(), describe(a)))
                .collect(),
        ),
    );
    table::build(regions, chosen, &arrays, opts, meta, vec![]).await
}
