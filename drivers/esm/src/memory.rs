//! An inline `catalog_dict` (a list of records in the JSON) as a one-partition table: the
//! types are inferred from every record by arrow-json, as pandas infers them from the dicts.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use async_trait::async_trait;
use futures::StreamExt;
use inlet_driver::{
    limit_stream, BatchStream, Discovery, DriverError, Partition, ReadRequest, Result, Source,
};
use serde_json::{Map, Value as J};

pub struct MemorySource {
    batch: RecordBatch,
    discovery: Arc<Discovery>,
}

impl MemorySource {
    pub fn from_records(records: &[J], shown: &str) -> Result<MemorySource> {
        let bad = |e: &dyn std::fmt::Display| {
            DriverError::corrupt(
                shown,
                format!("`catalog_dict` cannot be read as a table: {e}"),
            )
        };
        if let Some((i, _)) = records.iter().enumerate().find(|(_, r)| !r.is_object()) {
            return Err(bad(&format!("record {i} is not an object")));
        }
        let schema = arrow_json::reader::infer_json_schema_from_iterator(
            records.iter().map(|r| Ok(r.clone())),
        )
        .map_err(|e| bad(&e))?;
        // Columns in the order the first record names them (pandas' order), then any others.
        let mut order: Vec<String> = records
            .first()
            .and_then(J::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for f in schema.fields() {
            if !order.contains(f.name()) {
                order.push(f.name().clone());
            }
        }
        let fields: Vec<_> = order
            .iter()
            .filter_map(|n| schema.field_with_name(n).ok().cloned())
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
            .build_decoder()
            .map_err(|e| bad(&e))?;
        let rows: Vec<Map<String, J>> = records
            .iter()
            .filter_map(|r| r.as_object().cloned())
            .collect();
        decoder.serialize(&rows).map_err(|e| bad(&e))?;
        let batch = match decoder.flush().map_err(|e| bad(&e))? {
            Some(b) => b,
            None => RecordBatch::new_empty(schema.clone()),
        };
        let rows = batch.num_rows() as u64;
        let bytes = batch.get_array_memory_size() as u64;
        let discovery = Discovery {
            schema,
            partitions: vec![Partition {
                id: 0,
                label: "catalog_dict".into(),
                file: 0,
                estimated_rows: Some(rows),
                estimated_bytes: Some(bytes),
            }],
            total_rows: Some(rows),
            total_bytes: Some(bytes),
            files: vec![],
            statistics: vec![],
            metadata: Map::new(),
            warnings: vec![],
        };
        Ok(MemorySource {
            batch,
            discovery: Arc::new(discovery),
        })
    }
}

#[async_trait]
impl Source for MemorySource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.discovery.clone())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let parts = self.discovery.select(&request)?;
        let batch = match self.discovery.projection_indices(&request)? {
            Some(idx) => self
                .batch
                .project(&idx)
                .map_err(|e| DriverError::bad_request("columns", e.to_string()))?,
            None => self.batch.clone(),
        };
        let size = request.batch_size.max(1);
        let mut out = vec![];
        if !parts.is_empty() {
            let mut at = 0;
            while at < batch.num_rows() {
                let n = size.min(batch.num_rows() - at);
                out.push(Ok(batch.slice(at, n)));
                at += n;
            }
        }
        Ok(limit_stream(
            futures::stream::iter(out).boxed(),
            request.limit,
        ))
    }
}
