//! What a catalog entry's `driver:` stands for: one of the loader's own nested-catalog kinds, or
//! a data driver. Data drivers own their spellings ([`inlet_driver::Driver::names`]), so the only
//! table here is the catalog kinds; a name that resolves to neither is listed with the status
//! `unsupported driver: NAME`, never a load error.

use inlet_driver::Registry;
use serde::Serialize;

/// What a catalog entry turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolved {
    /// A data source read by the registered driver of this name.
    Source(&'static str),
    /// A nested catalog in one YAML file (`path`).
    YamlFileCatalog,
    /// A nested catalog merging several YAML files (`path`: glob or list).
    YamlFilesCatalog,
}

const CATALOG_KINDS: &[(&str, Resolved)] = &[
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

/// Resolves a driver name: a nested-catalog kind, else whatever `drivers` registered under it.
pub fn resolve(name: &str, drivers: &Registry) -> Option<Resolved> {
    CATALOG_KINDS
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, r)| *r)
        .or_else(|| drivers.resolve(name).map(Resolved::Source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intake_class_paths_and_short_names_agree() {
        let drivers = crate::service::builtin_drivers();
        let r = |n| resolve(n, &drivers);
        assert_eq!(r("parquet"), r("intake_parquet.source.ParquetSource"));
        assert_eq!(r("parquet"), r("intake_parquet.ParquetSource"));
        assert_eq!(r("csv"), r("intake.source.csv.CSVSource"));
        assert_eq!(r("zarr"), r("intake_xarray.xzarr.ZarrSource"));
        assert_eq!(r("yaml_file_cat"), Some(Resolved::YamlFileCatalog));
        assert_eq!(
            r("intake.catalog.local.YAMLFileCatalog"),
            Some(Resolved::YamlFileCatalog)
        );
        assert_eq!(r("yaml_files_cat"), Some(Resolved::YamlFilesCatalog));
        assert_eq!(r("avro_table"), Some(Resolved::Source("avro")));
        assert_eq!(r("avro_sequence"), Some(Resolved::Source("avro")));
        assert_eq!(r("ndzarr"), Some(Resolved::Source("ndzarr")));
        assert_eq!(r("rasterio"), Some(Resolved::Source("rasterio")));
        assert_eq!(r("opendap"), Some(Resolved::Source("opendap")));
        assert_eq!(
            r("intake_xarray.opendap.OpenDapSource"),
            Some(Resolved::Source("opendap"))
        );
        assert_eq!(r("intake_sql.SQLSource"), None);
        assert_eq!(drivers.resolve_intake2("AVRO"), Some("avro"));
        assert_eq!(
            resolve("parquet", &Registry::new()),
            None,
            "names come from the registry"
        );
    }
}
