//! Text files as Intake's `textfiles` yields them: one row per line (`line`, without its
//! terminator), with the file it came from (`file`); each file is a partition, read as a stream.
//! Discovery reads nothing: the schema is fixed and row counts are unknown until read.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use futures::StreamExt;
use inlet_driver::storage::Files;
use inlet_driver::{
    limit_stream, ordered_parallel_within, BatchStream, Discovery, DriverError, Limits,
    MemoryBudget, Partition, ReadRequest, Result, Source,
};

use crate::decode::{self, Compression};
use crate::lines::Lines;

pub struct TextSource {
    files: Files,
    compression: Compression,
    /// `text_mode: false`: lines are bytes (a `binary` column), not checked as UTF-8.
    binary: bool,
    read_concurrency: usize,
    read_ahead: usize,
    budget: Option<MemoryBudget>,
    discovery: Arc<Discovery>,
}

impl TextSource {
    pub fn new(
        files: Files,
        compression: Compression,
        binary: bool,
        limits: &Limits,
        warnings: Vec<String>,
    ) -> Self {
        let line_type = if binary {
            DataType::Binary
        } else {
            DataType::Utf8
        };
        let schema = Schema::new(vec![
            Field::new("line", line_type, false),
            Field::new("file", DataType::Utf8, false),
        ]);
        let partitions = files
            .objects
            .iter()
            .enumerate()
            .map(|(i, m)| Partition {
                id: i,
                label: m.location.filename().unwrap_or_default().to_string(),
                file: i,
                estimated_rows: None,
                estimated_bytes: Some(m.size),
            })
            .collect();
        let mut metadata = serde_json::Map::new();
        metadata.insert("format".into(), "text".into());
        let discovery = Discovery {
            schema: Arc::new(schema),
            partitions,
            total_rows: None,
            total_bytes: Some(files.objects.iter().map(|m| m.size).sum()),
            files: files.file_infos(),
            statistics: vec![],
            metadata,
            warnings,
        };
        TextSource {
            files,
            compression,
            binary,
            read_concurrency: limits.read_concurrency.max(1),
            read_ahead: limits.read_ahead.max(1),
            budget: limits.budget.clone(),
            discovery: Arc::new(discovery),
        }
    }
}

/// The next batch of at most `batch_size` lines, in `out`'s columns.
async fn next_batch(
    lines: &mut Lines,
    binary: bool,
    batch_size: usize,
    out: &SchemaRef,
) -> Result<Option<RecordBatch>> {
    let mut text = StringBuilder::new();
    let mut bytes = BinaryBuilder::new();
    let mut n = 0;
    while n < batch_size && lines.next().await? {
        if binary {
            bytes.append_value(&lines.line);
        } else {
            let s = std::str::from_utf8(&lines.line).map_err(|e| {
                DriverError::corrupt(
                    lines.location(),
                    format!("not UTF-8 text ({e}); `text_mode: false` reads lines as bytes"),
                )
            })?;
            text.append_value(s);
        }
        n += 1;
    }
    if n == 0 {
        return Ok(None);
    }
    let line: ArrayRef = if binary {
        Arc::new(bytes.finish())
    } else {
        Arc::new(text.finish())
    };
    let file: ArrayRef = Arc::new(StringArray::from(vec![lines.at.as_str(); n]));
    let columns = out
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "line" {
                line.clone()
            } else {
                file.clone()
            }
        })
        .collect();
    RecordBatch::try_new(out.clone(), columns)
        .map(Some)
        .map_err(|e| DriverError::corrupt(lines.location(), e))
}

#[async_trait]
impl Source for TextSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.discovery.clone())
    }

    fn files(&self) -> Option<Vec<inlet_driver::FileInfo>> {
        Some(self.files.file_infos())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let d = &self.discovery;
        let out = d.projected_schema(&request)?;
        let batch_size = request.batch_size.max(1);
        let binary = self.binary;
        // Buffers, and batches ahead at a generous 256 bytes a line.
        let cost = (2 * decode::BUFFER as u64)
            .saturating_add((batch_size as u64).saturating_mul(256 * (self.read_ahead as u64 + 1)));
        let openers: Vec<_> = d
            .select(&request)?
            .into_iter()
            .map(|p| {
                let meta = self.files.objects[p.file].clone();
                let codec = self.compression.for_path(meta.location.as_ref());
                let (files, out) = (self.files.clone(), out.clone());
                let open = async move {
                    let lines = Lines::open(&files, &meta, codec).await?;
                    let s = futures::stream::try_unfold(lines, move |mut lines| {
                        let out = out.clone();
                        async move {
                            Ok(next_batch(&mut lines, binary, batch_size, &out)
                                .await?
                                .map(|b| (b, lines)))
                        }
                    });
                    Ok::<BatchStream, DriverError>(s.boxed())
                };
                (cost, open)
            })
            .collect();
        let concurrency = if request.limit.is_some() {
            1
        } else {
            self.read_concurrency
        };
        let s = ordered_parallel_within(openers, concurrency, self.read_ahead, self.budget.clone());
        Ok(limit_stream(s, request.limit))
    }
}
