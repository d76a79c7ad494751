//! geopandas against a real `inlet serve` on the example catalog: the GeoJSON, GeoParquet and
//! shapefile sources stream as Arrow that `GeoDataFrame.from_arrow` (GeoArrow extension) and
//! geopandas' `geo` metadata reader turn into the GeoDataFrames geopandas reads from the files;
//! NDJSON and text sources equal what Python reads. tests/clients/check_geo.py compares.

mod common;

use std::path::Path;
use std::process::Command;

use common::InletServer;

#[test]
fn geopandas_reads_the_geo_sources_as_it_reads_the_files() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let server = InletServer::start(&["--catalog", "catalogs"], &[]);
    let out = Command::new(common::python())
        .arg(repo.join("tests/clients/check_geo.py"))
        .arg(&server.base)
        .arg(repo.join("catalogs/data"))
        .output()
        .expect("run check_geo.py");
    assert!(
        out.status.success(),
        "check_geo.py failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
