//! The `open_dataset` options that xarray-backed Intake drivers (netcdf, opendap) accept, given
//! as args or inside `xarray_kwargs` (the arg wins), read once for every such driver.

use inlet_driver::args::{strings, Args};
use inlet_driver::{DriverError, Result};
use serde_json::{Map, Value as J};

use crate::CfOptions;

/// `xarray_kwargs` with the options every grid driver honours already decoded.
pub struct XarrayArgs<'a, 'b> {
    args: &'a Args<'b>,
    /// `xarray_kwargs` as written (for driver-specific keys and warnings about unused ones).
    pub kwargs: Map<String, J>,
    /// `decode_cf`, `mask_and_scale`, `decode_times`.
    pub cf: CfOptions,
    pub drop_variables: Vec<String>,
}

impl<'a, 'b> XarrayArgs<'a, 'b> {
    pub fn parse(args: &'a Args<'b>) -> Result<Self> {
        let kwargs = match args.get("xarray_kwargs") {
            None => Map::new(),
            Some(J::Object(m)) => m.clone(),
            Some(other) => {
                return Err(DriverError::bad_arg(
                    "xarray_kwargs",
                    format!("expected a mapping, got {other}"),
                ))
            }
        };
        let mut x = XarrayArgs {
            args,
            kwargs,
            cf: CfOptions {
                mask_and_scale: true,
                decode_times: true,
            },
            drop_variables: vec![],
        };
        let decode = x.flag("decode_cf", true)?;
        x.cf = CfOptions {
            mask_and_scale: decode && x.flag("mask_and_scale", true)?,
            decode_times: decode && x.flag("decode_times", true)?,
        };
        if let Some(v) = x.get("drop_variables") {
            x.drop_variables = strings("drop_variables", &v)?;
        }
        Ok(x)
    }

    /// An option given as an arg or inside `xarray_kwargs` (the arg wins).
    pub fn get(&self, key: &'b str) -> Option<J> {
        self.args
            .get(key)
            .or_else(|| self.kwargs.get(key).filter(|v| !v.is_null()))
            .cloned()
    }

    /// A boolean option, `default` when absent.
    pub fn flag(&self, key: &'b str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(J::Bool(b)) => Ok(b),
            Some(other) => Err(DriverError::bad_arg(
                key,
                format!("expected true or false, got {other}"),
            )),
        }
    }
}
