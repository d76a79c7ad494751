//! A DAP2 dataset as the grid crate's arrays: the DDS's arrays with the DAS's attributes, and
//! regions read as `.dods` requests with one hyperslab constraint each.

use std::ops::Range;
use std::sync::Arc;

use arrow_buffer::{Buffer, MutableBuffer};
use async_trait::async_trait;
use inlet_driver::{DriverError, Result};
use inlet_grid::{GridArray, Raw, Regions};
use serde_json::{Map, Value as J};

use crate::client::Client;
use crate::das::Das;
use crate::dds::{DapType, DdsVar};
use crate::xdr;

/// About this many stored bytes per request by default: a partition's window along the leading
/// dimension (the `request_bytes` arg).
pub const REQUEST_BYTES: u64 = 8 << 20;

pub struct DapArray {
    name: String,
    /// How a constraint names it (`air.air`).
    pub path: String,
    dims: Vec<String>,
    shape: Vec<u64>,
    attrs: Map<String, J>,
    pub ty: DapType,
    raw: std::result::Result<Raw, String>,
    chunk0: u64,
}

impl GridArray for DapArray {
    fn name(&self) -> &str {
        &self.name
    }

    fn dims(&self) -> &[String] {
        &self.dims
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn attrs(&self) -> &Map<String, J> {
        &self.attrs
    }

    fn raw(&self) -> Result<Raw> {
        self.raw.clone().map_err(DriverError::Unsupported)
    }

    fn chunk0(&self) -> Result<u64> {
        Ok(self.chunk0)
    }
}

/// The column type of a DAP type, with xarray's `_Unsigned` convention (THREDDS marks NetCDF's
/// signed bytes `_Unsigned: "false"`; NetCDF 3 unsigned data is `_Unsigned: "true"`): fill
/// values are moved to the column type too.
fn raw_of(
    ty: DapType,
    name: &str,
    attrs: &mut Map<String, J>,
    mask_and_scale: bool,
) -> std::result::Result<Raw, String> {
    let flag = attrs
        .get("_Unsigned")
        .and_then(J::as_str)
        .map(str::to_ascii_lowercase);
    let flip = |attrs: &mut Map<String, J>, bits: u32, to_signed: bool| {
        attrs.remove("_Unsigned");
        for key in ["_FillValue", "missing_value"] {
            if let Some(v) = attrs.get(key).and_then(J::as_i64) {
                let half = 1i64 << (bits - 1);
                let moved = if to_signed && v >= half {
                    v - (1i64 << bits)
                } else if !to_signed && v < 0 {
                    v + (1i64 << bits)
                } else {
                    v
                };
                attrs.insert(key.into(), J::from(moved));
            }
        }
    };
    let unsigned_flag = mask_and_scale.then_some(flag.as_deref()).flatten();
    Ok(match (ty, unsigned_flag) {
        (DapType::Byte, Some("false")) => {
            flip(attrs, 8, true);
            Raw::I8
        }
        (DapType::Byte, _) => Raw::U8,
        (DapType::Int16, Some("true")) => {
            flip(attrs, 16, false);
            Raw::U16
        }
        (DapType::Int16, _) => Raw::I16,
        (DapType::UInt16, _) => Raw::U16,
        (DapType::Int32, Some("true")) => {
            flip(attrs, 32, false);
            Raw::U32
        }
        (DapType::Int32, _) => Raw::I32,
        (DapType::UInt32, _) => Raw::U32,
        (DapType::Float32, _) => Raw::F32,
        (DapType::Float64, _) => Raw::F64,
        (DapType::String | DapType::Url, _) => {
            return Err(format!(
                "`{name}` holds DAP {ty:?}s; the driver reads numbers"
            ))
        }
    })
}

/// The dataset's arrays: every array and Grid array, and Grid maps no top-level array repeats
/// (THREDDS and pydap list them at the top level too).
pub fn arrays(
    vars: &[DdsVar],
    das: &Das,
    mask_and_scale: bool,
    request_bytes: u64,
) -> Vec<Arc<DapArray>> {
    let mut out: Vec<Arc<DapArray>> = vec![];
    let top: Vec<&str> = vars
        .iter()
        .filter(|v| !v.map)
        .map(|v| v.name.as_str())
        .collect();
    for v in vars {
        if v.map && (top.contains(&v.name.as_str()) || out.iter().any(|a| a.name == v.name)) {
            continue;
        }
        let mut attrs = das.get(&v.name).cloned().unwrap_or_default();
        if v.path != v.name {
            // Attributes of a Grid's array, where a server nests them (`air { air { .. } }`).
            if let Some(inner) = das.get(&v.path) {
                attrs.extend(inner.clone());
            }
        }
        let raw = raw_of(v.ty, &v.name, &mut attrs, mask_and_scale);
        let shape: Vec<u64> = v.dims.iter().map(|d| d.1).collect();
        let inner: u64 = shape.iter().skip(1).product::<u64>().max(1);
        let esize = v.ty.xdr_size().unwrap_or(1) as u64;
        out.push(Arc::new(DapArray {
            name: v.name.clone(),
            path: v.path.clone(),
            dims: v.dims.iter().map(|d| d.0.clone()).collect(),
            shape,
            attrs,
            ty: v.ty,
            raw,
            chunk0: (request_bytes / (inner * esize)).max(1),
        }));
    }
    out
}

/// The constraint expression of one hyperslab: `air.air[0:1:3][2:1:4]` (stops inclusive), with
/// brackets percent-encoded (servers behind Tomcat refuse them raw).
pub fn constraint(path: &str, region: &[Range<u64>]) -> String {
    let mut ce = path.to_string();
    for r in region {
        ce.push_str(&format!("%5B{}:1:{}%5D", r.start, r.end.saturating_sub(1)));
    }
    ce
}

pub struct DapRegions {
    pub client: Client,
}

#[async_trait]
impl Regions for DapRegions {
    type Array = DapArray;

    fn display(&self) -> &str {
        &self.client.base
    }

    async fn read_region(
        &self,
        array: &Arc<DapArray>,
        _esize: usize,
        region: &[Range<u64>],
    ) -> Result<Buffer> {
        let raw = array.raw()?;
        let count: u64 = region.iter().map(|r| r.end - r.start).product();
        if count == 0 || region.is_empty() {
            return Ok(MutableBuffer::new(0).into());
        }
        let suffix = format!(".dods?{}", constraint(&array.path, region));
        let body = self.client.get(&suffix).await?;
        xdr::decode(&body, array.ty, raw, count)
            .map_err(|e| DriverError::corrupt(format!("{}{suffix}", self.client.base), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn constraints_are_inclusive_hyperslabs() {
        assert_eq!(
            constraint("air.air", &[0..4, 2..3]),
            "air.air%5B0:1:3%5D%5B2:1:2%5D"
        );
    }

    #[test]
    fn unsigned_markers_move_types_and_fills() {
        let mut attrs = Map::new();
        attrs.insert("_Unsigned".into(), json!("false"));
        attrs.insert("_FillValue".into(), json!(255));
        assert_eq!(raw_of(DapType::Byte, "b", &mut attrs, true), Ok(Raw::I8));
        assert_eq!(attrs["_FillValue"], json!(-1));
        let mut attrs = Map::new();
        attrs.insert("_Unsigned".into(), json!("true"));
        attrs.insert("_FillValue".into(), json!(-1));
        assert_eq!(raw_of(DapType::Int16, "s", &mut attrs, true), Ok(Raw::U16));
        assert_eq!(attrs["_FillValue"], json!(65535));
        assert!(raw_of(DapType::String, "t", &mut Map::new(), true).is_err());
    }
}
