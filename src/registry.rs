//! Driver names as catalogs write them (short names and Intake class paths) -> what Inlet runs.
//!
//! This is the one alias table. A name that is not here is listed with the status
//! `unsupported driver: NAME`, never a load error.

use serde::Serialize;

/// What a catalog entry turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolved {
    /// A data source read by the built-in driver of this name.
    Source(&'static str),
    /// A nested catalog in one YAML file (`path`).
    YamlFileCatalog,
    /// A nested catalog merging several YAML files (`path`: glob or list).
    YamlFilesCatalog,
}

const ALIASES: &[(&str, Resolved)] = &[
    ("parquet", Resolved::Source("parquet")),
    (
        "intake_parquet.source.ParquetSource",
        Resolved::Source("parquet"),
    ),
    ("intake_parquet.ParquetSource", Resolved::Source("parquet")),
    ("csv", Resolved::Source("csv")),
    ("intake.source.csv.CSVSource", Resolved::Source("csv")),
    ("avro_table", Resolved::Source("avro")),
    (
        "intake_avro.source.AvroTableSource",
        Resolved::Source("avro"),
    ),
    ("intake_avro.AvroTableSource", Resolved::Source("avro")),
    // Intake's sequence source yields records; Inlet serves the same data as a table.
    ("avro_sequence", Resolved::Source("avro")),
    (
        "intake_avro.source.AvroSequenceSource",
        Resolved::Source("avro"),
    ),
    ("intake_avro.AvroSequenceSource", Resolved::Source("avro")),
    ("zarr", Resolved::Source("zarr")),
    ("intake_xarray.xzarr.ZarrSource", Resolved::Source("zarr")),
    ("intake_xarray.ZarrSource", Resolved::Source("zarr")),
    ("ndzarr", Resolved::Source("ndzarr")),
    (
        "intake.source.zarr.ZarrArraySource",
        Resolved::Source("ndzarr"),
    ),
    ("yaml_file_cat", Resolved::YamlFileCatalog),
    (
        "intake.catalog.local.YAMLFileCatalog",
        Resolved::YamlFileCatalog,
    ),
    ("yaml_files_cat", Resolved::YamlFilesCatalog),
    (
        "intake.catalog.local.YAMLFilesCatalog",
        Resolved::YamlFilesCatalog,
    ),
];

/// Resolves a driver name through the alias table.
pub fn resolve(name: &str) -> Option<Resolved> {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, r)| *r)
}

/// Every accepted alias, for documentation and error hints.
pub fn aliases() -> impl Iterator<Item = (&'static str, Resolved)> {
    ALIASES.iter().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intake_class_paths_and_short_names_agree() {
        assert_eq!(
            resolve("parquet"),
            resolve("intake_parquet.source.ParquetSource")
        );
        assert_eq!(resolve("csv"), resolve("intake.source.csv.CSVSource"));
        assert_eq!(resolve("zarr"), resolve("intake_xarray.xzarr.ZarrSource"));
        assert_eq!(resolve("yaml_file_cat"), Some(Resolved::YamlFileCatalog));
        assert_eq!(
            resolve("intake.catalog.local.YAMLFileCatalog"),
            Some(Resolved::YamlFileCatalog)
        );
        assert_eq!(resolve("yaml_files_cat"), Some(Resolved::YamlFilesCatalog));
        assert_eq!(resolve("avro_table"), Some(Resolved::Source("avro")));
        assert_eq!(resolve("avro_sequence"), Some(Resolved::Source("avro")));
        assert_eq!(resolve("ndzarr"), Some(Resolved::Source("ndzarr")));
        assert_eq!(resolve("rasterio"), None);
    }
}
