//! Line-oriented files: a reader of numbered lines, and newline-delimited JSON as a streamed
//! table (one object per line; arrow-json infers the schema from the first
//! `Limits::inference_rows` lines; a batch holds at most `batch_size` rows).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::reader::{infer_json_schema_from_iterator, Decoder, ReaderBuilder};
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use futures::StreamExt;
use inlet_driver::storage::Files;
use inlet_driver::{
    limit_stream, ordered_parallel_within, BatchStream, Discovery, DriverError, Limits,
    MemoryBudget, Partition, ReadRequest, Result, Source,
};
use object_store::ObjectMeta;
use serde_json::Value as J;
use tokio::io::AsyncBufReadExt;

use crate::decode::{self, ByteReader, Codec, Compression};

/// Bytes of sample read for schema inference, at most (besides `inference_rows`).
const SAMPLE_BYTES: usize = 16 << 20;

/// The numbered lines of one file, without their terminators (`\n`, `\r\n`) and the byte
/// order mark of the first.
pub struct Lines {
    reader: ByteReader,
    pub at: String,
    codec: Option<Codec>,
    /// 1-based number of the line last read.
    pub number: u64,
    pub line: Vec<u8>,
}

impl Lines {
    pub async fn open(files: &Files, meta: &ObjectMeta, codec: Option<Codec>) -> Result<Self> {
        Ok(Lines {
            reader: decode::open(files, meta, codec).await?,
            at: files.display(meta),
            codec,
            number: 0,
            line: Vec::new(),
        })
    }

    /// Reads the next line into `self.line`; false at the end of the file.
    pub async fn next(&mut self) -> Result<bool> {
        self.line.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .await
            .map_err(|e| decode::io_error(&self.at, self.codec, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.number += 1;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
        }
        if self.number == 1 && self.line.starts_with(b"\xEF\xBB\xBF") {
            self.line.drain(..3);
        }
        Ok(true)
    }

    pub fn location(&self) -> String {
        format!("{}, line {}", self.at, self.number)
    }
}

pub struct JsonLinesSource {
    files: Files,
    compression: Compression,
    inference_rows: usize,
    read_concurrency: usize,
    read_ahead: usize,
    budget: Option<MemoryBudget>,
    warnings: Vec<String>,
    discovery: tokio::sync::OnceCell<Arc<Discovery>>,
}

impl JsonLinesSource {
    pub fn new(
        files: Files,
        compression: Compression,
        limits: &Limits,
        warnings: Vec<String>,
    ) -> Self {
        JsonLinesSource {
            files,
            compression,
            inference_rows: limits.inference_rows.max(1),
            read_concurrency: limits.read_concurrency.max(1),
            read_ahead: limits.read_ahead.max(1),
            budget: limits.budget.clone(),
            warnings,
            discovery: tokio::sync::OnceCell::new(),
        }
    }

    fn codec(&self, meta: &ObjectMeta) -> Option<Codec> {
        self.compression.for_path(meta.location.as_ref())
    }

    /// The first rows (across files, in order) and the bytes they took.
    async fn sample(&self) -> Result<(Vec<J>, usize)> {
        let (mut rows, mut bytes) = (vec![], 0usize);
        for meta in &self.files.objects {
            let mut lines = Lines::open(&self.files, meta, self.codec(meta)).await?;
            while rows.len() < self.inference_rows && bytes < SAMPLE_BYTES && lines.next().await? {
                if lines.line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                bytes += lines.line.len() + 1;
                let v: J = serde_json::from_slice(&lines.line).map_err(|e| {
                    DriverError::corrupt(lines.location(), format!("invalid JSON: {e}"))
                })?;
                if !v.is_object() {
                    return Err(DriverError::corrupt(
                        lines.location(),
                        "not a JSON object: each line of newline-delimited JSON is one row",
                    ));
                }
                rows.push(v);
            }
            if rows.len() >= self.inference_rows || bytes >= SAMPLE_BYTES {
                break;
            }
        }
        Ok((rows, bytes))
    }

    async fn load_discovery(&self) -> Result<Arc<Discovery>> {
        let (rows, bytes) = self.sample().await?;
        let schema = infer_json_schema_from_iterator(rows.iter().map(Ok)).map_err(|e| {
            let at = self
                .files
                .objects
                .first()
                .map(|m| self.files.display(m))
                .unwrap_or_default();
            DriverError::corrupt(at, e)
        })?;
        let partitions = self
            .files
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
        metadata.insert("format".into(), "ndjson".into());
        metadata.insert("inferred_from_rows".into(), rows.len().into());
        metadata.insert(
            "sample_bytes_per_row".into(),
            (bytes / rows.len().max(1)).into(),
        );
        Ok(Arc::new(Discovery {
            schema: Arc::new(schema),
            partitions,
            total_rows: None,
            total_bytes: Some(self.files.objects.iter().map(|m| m.size).sum()),
            files: self.files.file_infos(),
            statistics: vec![],
            metadata,
            warnings: self.warnings.clone(),
        }))
    }
}

/// Decodes lines into batches of at most `batch_size` rows with `schema` (fields not in it
/// are skipped); an error names the line, or the lines of the batch when arrow-json reports
/// it while building the batch.
struct Batches {
    lines: Lines,
    decoder: Decoder,
    batch_size: usize,
    first: u64,
    done: bool,
}

impl Batches {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while !self.done && self.decoder.len() < self.batch_size {
            if !self.lines.next().await? {
                self.done = true;
                break;
            }
            if self.lines.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if self.decoder.is_empty() {
                self.first = self.lines.number;
            }
            // arrow-json's tape decoder lets some malformed JSON through (`{"a": 1,,}`):
            // each line is checked first, so an error names its line.
            serde_json::from_slice::<serde::de::IgnoredAny>(&self.lines.line).map_err(|e| {
                DriverError::corrupt(self.lines.location(), format!("invalid JSON: {e}"))
            })?;
            self.lines.line.push(b'\n');
            let used = self
                .decoder
                .decode(&self.lines.line)
                .map_err(|e| DriverError::corrupt(self.lines.location(), e))?;
            if self.lines.line[used..]
                .iter()
                .any(|b| !b.is_ascii_whitespace())
            {
                return Err(DriverError::corrupt(
                    self.lines.location(),
                    "more than one JSON value on the line",
                ));
            }
        }
        if self.decoder.has_partial_record() {
            return Err(DriverError::corrupt(
                self.lines.location(),
                "the file ends inside a JSON value (truncated?)",
            ));
        }
        let at = format!(
            "{}, lines {}-{}",
            self.lines.at, self.first, self.lines.number
        );
        self.decoder
            .flush()
            .map_err(|e| DriverError::corrupt(at, e))
    }
}

fn stream(batches: Batches) -> BatchStream {
    futures::stream::try_unfold(batches, |mut b| async move {
        Ok(b.next_batch().await?.map(|batch| (batch, b)))
    })
    .boxed()
}

#[async_trait]
impl Source for JsonLinesSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        self.discovery
            .get_or_try_init(|| self.load_discovery())
            .await
            .cloned()
    }

    fn files(&self) -> Option<Vec<inlet_driver::FileInfo>> {
        Some(self.files.file_infos())
    }

    fn restore(&self, discovery: Arc<Discovery>) -> bool {
        discovery.files == self.files.file_infos() && self.discovery.set(discovery).is_ok()
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let d = self.discover().await?;
        let out: SchemaRef = d.projected_schema(&request)?;
        let batch_size = request.batch_size.max(1);
        let per_row = d
            .metadata
            .get("sample_bytes_per_row")
            .and_then(J::as_u64)
            .unwrap_or(1024);
        // Read and decompression buffers, and the batches decoded ahead (tape + arrays).
        let cost = (2 * decode::BUFFER as u64).saturating_add(
            per_row
                .saturating_mul(batch_size as u64)
                .saturating_mul(2 * self.read_ahead as u64 + 2),
        );
        let openers: Vec<_> = d
            .select(&request)?
            .into_iter()
            .map(|p| {
                let meta = self.files.objects[p.file].clone();
                let (files, out, codec) = (self.files.clone(), out.clone(), self.codec(&meta));
                let open = async move {
                    let lines = Lines::open(&files, &meta, codec).await?;
                    let decoder = ReaderBuilder::new(out)
                        .with_batch_size(batch_size)
                        .with_strict_mode(false)
                        .build_decoder()
                        .map_err(|e| DriverError::corrupt(files.display(&meta), e))?;
                    Ok::<BatchStream, DriverError>(stream(Batches {
                        lines,
                        decoder,
                        batch_size,
                        first: 1,
                        done: false,
                    }))
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
