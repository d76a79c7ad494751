//! GeoParquet: the Parquet driver's source, its schema annotated from the file's `geo` metadata:
//! each geometry column carries GeoArrow extension metadata (`geoarrow.wkb` with its CRS), and
//! discovery metadata gives the CRS, bbox and geometry types of each.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema};
use async_trait::async_trait;
use futures::StreamExt;
use inlet_driver::{BatchStream, Discovery, DriverError, ReadRequest, Result, Source};
use serde_json::{Map, Value as J};

use crate::crs::{Crs, EXTENSION_METADATA, EXTENSION_NAME};

pub struct GeoParquetSource {
    pub inner: Arc<dyn Source>,
    pub discovery: tokio::sync::OnceCell<Arc<Discovery>>,
}

/// A GeoParquet column's `crs`: absent is OGC:CRS84, null unknown, else PROJJSON (or, from some
/// writers, a string).
fn column_crs(column: &Map<String, J>) -> Crs {
    match column.get("crs") {
        None => Crs::Crs84,
        Some(J::Null) => Crs::Unknown,
        Some(J::String(s)) if s.contains('[') => Crs::Wkt(s.clone()),
        Some(J::String(s)) => Crs::Authority(s.clone()),
        Some(p) => Crs::Projjson(p.clone()),
    }
}

/// The discovery with geometry fields annotated and the `geo` metadata summarised.
pub fn annotate(d: &Discovery) -> Result<Discovery> {
    let mut d = d.clone();
    let Some(geo_text) = d.schema.metadata().get("geo") else {
        d.warnings
            .push("the file has no GeoParquet `geo` metadata: it is read as plain Parquet".into());
        return Ok(d);
    };
    let geo: J = serde_json::from_str(geo_text).map_err(|e| {
        let at = d
            .files
            .first()
            .map_or("", |f| f.location.as_str())
            .to_string();
        DriverError::corrupt(at, format!("the `geo` metadata is not JSON: {e}"))
    })?;
    let columns = geo
        .get("columns")
        .and_then(J::as_object)
        .cloned()
        .unwrap_or_default();
    let mut summary = Map::new();
    let fields: Vec<Field> = d
        .schema
        .fields()
        .iter()
        .map(|f| {
            let Some(col) = columns.get(f.name()).and_then(J::as_object) else {
                return f.as_ref().clone();
            };
            let crs = column_crs(col);
            let encoding = col.get("encoding").and_then(J::as_str).unwrap_or("WKB");
            let extension = match encoding.to_ascii_lowercase().as_str() {
                "wkb" => "geoarrow.wkb".to_string(),
                // GeoParquet 1.1 native encodings are GeoArrow's (point, linestring, ...).
                native => format!("geoarrow.{native}"),
            };
            let edges = col.get("edges").and_then(J::as_str);
            let mut metadata = f.metadata().clone();
            metadata.insert(EXTENSION_NAME.to_string(), extension);
            metadata.insert(EXTENSION_METADATA.to_string(), crs.geoarrow(edges));
            let mut s = Map::new();
            s.insert("encoding".into(), encoding.into());
            s.insert("crs".into(), crs.describe());
            for key in ["geometry_types", "bbox", "edges"] {
                if let Some(v) = col.get(key) {
                    s.insert(key.into(), v.clone());
                }
            }
            summary.insert(f.name().clone(), J::Object(s));
            f.as_ref().clone().with_metadata(metadata)
        })
        .collect();
    d.schema = Arc::new(Schema::new_with_metadata(
        fields,
        d.schema.metadata().clone(),
    ));
    // Min/max of WKB bytes mean nothing; the bbox says where the geometries are.
    d.statistics.retain(|s| !summary.contains_key(&s.column));
    if let Some(p) = geo.get("primary_column") {
        d.metadata.insert("primary_column".into(), p.clone());
    }
    d.metadata
        .insert("geometry_columns".into(), J::Object(summary));
    if let Some(v) = geo.get("version") {
        d.metadata.insert("geoparquet_version".into(), v.clone());
    }
    Ok(d)
}

#[async_trait]
impl Source for GeoParquetSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        self.discovery
            .get_or_try_init(|| async {
                let inner = self.inner.discover().await?;
                annotate(&inner).map(Arc::new)
            })
            .await
            .cloned()
    }

    fn files(&self) -> Option<Vec<inlet_driver::FileInfo>> {
        self.inner.files()
    }

    fn restore(&self, discovery: Arc<Discovery>) -> bool {
        // The cached discovery is already annotated; the Parquet source reads with its schema.
        self.inner.restore(discovery.clone()) && self.discovery.set(discovery).is_ok()
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let schema = self.discover().await?.projected_schema(&request)?;
        let stream = self.inner.read(request).await?;
        // Same columns, relabelled with the annotated fields.
        Ok(stream
            .map(move |b| {
                b.and_then(|batch| {
                    RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                        .map_err(|e| DriverError::Io(e.to_string()))
                })
            })
            .boxed())
    }
}
