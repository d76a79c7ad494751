//! N-dimensional arrays served as xarray's tidy table, whatever stores them (Zarr, NetCDF,
//! OPeNDAP): `Dataset.to_dataframe().reset_index()` — one column per dimension (its coordinate's
//! values, else the index), one per data variable sharing those dims, rows in C order — with CF
//! decoding (times, fill values -> nulls, scale/offset), `sel`/`isel` as index ranges, and
//! partitions over ranges of the leading dimension.
//!
//! A format supplies its arrays ([`GridArray`]) and a way to read one C-order region of one
//! array ([`Regions`]); everything from choosing the variables to streaming record batches is
//! here, once.
#![forbid(unsafe_code)]

pub mod cf;
pub mod convert;
pub mod read;
pub mod select;
pub mod table;
pub mod xarray;

pub use cf::{CfOptions, Column, Raw};
pub use read::{partition, Col, Regions, Shared};
pub use select::Selection;
pub use table::{GridArray, Mode, Options, Table};
