//! Avro driver (Intake's `avro_table` and `avro_sequence`): object container files over
//! object_store. Discovery reads headers only and unifies the files' writer schemas into one
//! reader schema; partitions are files, or byte ranges of large files (`blocksize`); reads
//! stream block by block through arrow-avro's record decoder, straight into Arrow, with
//! projection pushed into the decoder (unread fields are skipped, not materialised).
#![forbid(unsafe_code)]

mod blocks;
mod decode;
mod header;
mod schema;

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::args::Args;
use inlet_driver::storage::Files;
use inlet_driver::{
    limit_stream, ordered_parallel_within, BatchStream, Discovery, Driver, DriverError,
    DriverNames, Limits, MemoryBudget, OpenContext, Partition, ReadRequest, Result, Source,
};
use serde_json::Value as J;

use blocks::Blocks;
use decode::BatchReader;
use header::Header;

/// Files larger than this are split into byte ranges of this size, decoded in parallel
/// (intake-avro's `blocksize` arg sets it; `blocksize: null` keeps one partition per file).
/// Measured on 1M rows / 41 MB with 2 threads: 4, 8 and 16 MiB ranges read alike (~85 ms, one
/// partition 143 ms), 32 MiB is slower (99 ms); 16 MiB keeps the partition count lowest.
pub const DEFAULT_BLOCKSIZE: u64 = 16 * 1024 * 1024;

/// The `avro` driver.
pub struct AvroDriver;

#[async_trait]
impl Driver for AvroDriver {
    fn name(&self) -> &'static str {
        "avro"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "avro_table",
                "intake_avro.source.AvroTableSource",
                "intake_avro.AvroTableSource",
                "avro_sequence",
                "intake_avro.source.AvroSequenceSource",
                "intake_avro.AvroSequenceSource",
            ],
            intake2_datatypes: &["AVRO"],
        }
    }

    async fn open(
        &self,
        args: &serde_json::Map<String, J>,
        ctx: &OpenContext,
    ) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let urlpath = a.required("urlpath")?;
        let storage_options = a.get("storage_options");
        // intake-avro's `blocksize`; an explicit null keeps one partition per file.
        let no_split = args.get("blocksize").is_some_and(J::is_null);
        let size = a.usize("blocksize")?;
        let blocksize = (!no_split).then(|| size.map_or(DEFAULT_BLOCKSIZE, |b| b as u64));
        if blocksize == Some(0) {
            return Err(DriverError::bad_arg(
                "blocksize",
                "must be a positive number of bytes, or null for one partition per file",
            ));
        }
        let warnings = a.unused("avro");
        let files = ctx
            .storage
            .resolve(urlpath, storage_options, &ctx.catalog_dir)
            .await?;
        Ok(AvroDriver::source(files, blocksize, &ctx.limits, warnings))
    }
}

impl AvroDriver {
    /// A source over files that are already resolved. Files larger than `blocksize` bytes are
    /// read as several partitions (None: one per file).
    pub fn source(
        files: Files,
        blocksize: Option<u64>,
        limits: &Limits,
        warnings: Vec<String>,
    ) -> Arc<dyn Source> {
        Arc::new(AvroSource {
            files: Arc::new(files),
            blocksize,
            concurrency: limits.discovery_concurrency.max(1),
            read_concurrency: limits.read_concurrency.max(1),
            read_ahead: limits.read_ahead.max(1),
            budget: limits.budget.clone(),
            warnings,
            state: tokio::sync::OnceCell::new(),
        })
    }
}

struct AvroSource {
    files: Arc<Files>,
    blocksize: Option<u64>,
    concurrency: usize,
    read_concurrency: usize,
    read_ahead: usize,
    /// The server-wide budget each partition's read reserves from (see [`range_cost`]).
    budget: Option<MemoryBudget>,
    warnings: Vec<String>,
    state: tokio::sync::OnceCell<Arc<State>>,
}

/// What decoding one byte range holds at most: its blocks decoded (Avro's codecs rarely expand
/// data more than threefold into Arrow), bounded as a partition streams out in batches.
fn range_cost(bytes: u64) -> u64 {
    const MOST: u64 = 64 << 20;
    bytes.saturating_mul(3).min(MOST)
}

/// How to read one file.
struct FileState {
    header: Header,
    /// The writer schema as arrow-avro reads it (non-record schemas wrapped).
    writer: Arc<String>,
    /// The source's reader schema, when it differs from this file's writer schema.
    reader: Option<Arc<String>>,
}

/// One partition: the blocks of `file` whose sync marker starts in `start..end`.
struct Range {
    file: usize,
    start: u64,
    end: u64,
}

struct State {
    files: Vec<Arc<FileState>>,
    ranges: Vec<Range>,
    discovery: Arc<Discovery>,
}

/// Partition labels: paths below the files' common directory (`2024/01.avro`).
fn labels(files: &Files) -> Vec<String> {
    let segs: Vec<Vec<&str>> = files
        .objects
        .iter()
        .map(|m| m.location.as_ref().split('/').collect())
        .collect();
    let first = segs.first().cloned().unwrap_or_default();
    let common = segs.iter().fold(first.len().saturating_sub(1), |k, s| {
        let same = first.iter().zip(s).take_while(|(a, b)| a == b).count();
        k.min(same).min(s.len().saturating_sub(1))
    });
    segs.iter().map(|s| s[common..].join("/")).collect()
}

/// Partitions of every file: the whole file, or consecutive byte ranges of `blocksize` bytes
/// when it is larger (the first range also covers the header).
fn partitions(
    files: &Files,
    states: &[Arc<FileState>],
    blocksize: Option<u64>,
) -> (Vec<Partition>, Vec<Range>) {
    let labels = labels(files);
    let (mut partitions, mut ranges) = (vec![], vec![]);
    for (i, (meta, f)) in files.objects.iter().zip(states).enumerate() {
        // Blocks start after the header's sync marker: ranges split the rest.
        let first = f.header.len.saturating_sub(16);
        let split = blocksize.filter(|b| meta.size.saturating_sub(first) > *b);
        let step = split.unwrap_or(meta.size).max(1);
        let (mut start, mut k) = (first, 0);
        while start < meta.size || k == 0 {
            let end = start.saturating_add(step).min(meta.size);
            partitions.push(Partition {
                id: partitions.len(),
                label: match split {
                    Some(_) => format!("{}#{k}", labels[i]),
                    None => labels[i].clone(),
                },
                file: i,
                estimated_rows: None,
                estimated_bytes: Some(if k == 0 { end } else { end - start }),
            });
            ranges.push(Range {
                file: i,
                start,
                end,
            });
            start = end;
            k += 1;
        }
    }
    (partitions, ranges)
}

impl AvroSource {
    async fn state(&self) -> Result<Arc<State>> {
        self.state.get_or_try_init(|| self.load()).await.cloned()
    }

    async fn load(&self) -> Result<Arc<State>> {
        if self.files.objects.is_empty() {
            return Err(DriverError::NotFound("the source has no files".into()));
        }
        let headers: Vec<Header> = futures::stream::iter(0..self.files.objects.len())
            .map(|i| header::read(&self.files, &self.files.objects[i]))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        let locations: Vec<String> = self
            .files
            .objects
            .iter()
            .map(|m| self.files.display(m))
            .collect();
        let writers = headers
            .iter()
            .zip(&locations)
            .map(|(h, at)| {
                serde_json::from_str::<J>(&h.schema)
                    .map(schema::as_record)
                    .map_err(|e| {
                        DriverError::corrupt(at, format!("the header's schema is not JSON: {e}"))
                    })
            })
            .collect::<Result<Vec<J>>>()?;
        let unified = schema::unify(
            &writers
                .iter()
                .zip(&locations)
                .map(|(schema, at)| schema::Writer { schema, at })
                .collect::<Vec<_>>(),
        )?;
        let reader_text = Arc::new(unified.to_string());
        let arrow = decode::decoder(&reader_text, None, None, 1)
            .map_err(|e| {
                let field = schema::first_failing_field(&unified, |s| {
                    decode::decoder(&s.to_string(), None, None, 1).is_err()
                });
                DriverError::Unsupported(format!(
                    "{} of `{}` cannot be read as Arrow: {e}",
                    field.map_or("the Avro schema".into(), |f| format!("field `{f}`")),
                    locations[0]
                ))
            })?
            .schema();
        let mut files = Vec::with_capacity(headers.len());
        // Files usually share a few writer schemas: each is resolved (and stored) once.
        let mut seen: HashMap<String, Arc<String>> = HashMap::new();
        for ((header, writer), at) in headers.into_iter().zip(writers).zip(&locations) {
            let reader = (writer != unified).then(|| reader_text.clone());
            let text = writer.to_string();
            let writer = match seen.get(&text) {
                Some(w) => w.clone(),
                None => {
                    // Resolve the file now, so a file the reader schema cannot read fails
                    // discovery rather than a read halfway through.
                    decode::decoder(&text, reader.as_deref().map(String::as_str), None, 1)
                        .map_err(|e| {
                            DriverError::Incompatible(format!(
                                "`{at}` cannot be read with the schema of the other files: {e}"
                            ))
                        })?;
                    let w = Arc::new(text.clone());
                    seen.insert(text, w.clone());
                    w
                }
            };
            files.push(Arc::new(FileState {
                header,
                writer,
                reader,
            }));
        }
        let (partitions, ranges) = partitions(&self.files, &files, self.blocksize);
        let mut metadata = serde_json::Map::new();
        metadata.insert("avro_schema".into(), unified);
        let mut codecs: Vec<&str> = vec![];
        for f in &files {
            if !codecs.contains(&f.header.codec.name()) {
                codecs.push(f.header.codec.name());
            }
        }
        metadata.insert(
            "codec".into(),
            match codecs.as_slice() {
                [one] => J::from(*one),
                many => J::from(many.to_vec()),
            },
        );
        metadata.insert("files".into(), files.len().into());
        if let Some(b) = self.blocksize {
            metadata.insert("blocksize".into(), b.into());
        }
        let discovery = Discovery {
            schema: Arc::new(decode::clean_schema(&arrow)),
            partitions,
            // Counting rows means reading every block header: not cheap on object storage.
            total_rows: None,
            total_bytes: Some(self.files.objects.iter().map(|m| m.size).sum()),
            files: self.files.file_infos(),
            statistics: vec![],
            metadata,
            warnings: self.warnings.clone(),
        };
        Ok(Arc::new(State {
            files,
            ranges,
            discovery: Arc::new(discovery),
        }))
    }
}

/// One partition's batches.
async fn open_partition(
    files: Arc<Files>,
    file: Arc<FileState>,
    index: usize,
    (start, end): (u64, u64),
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    batch_size: usize,
) -> Result<BatchStream> {
    let meta = &files.objects[index];
    let at = files.display(meta);
    let decoder = decode::decoder(
        &file.writer,
        file.reader.as_deref().map(String::as_str),
        projection,
        batch_size,
    )
    .map_err(|e| DriverError::bad_request("columns", format!("`{at}`: {e}")))?;
    let blocks = Blocks::open(&files, meta, &file.header, start, end).await?;
    let reader = BatchReader::new(blocks, decoder, schema, at);
    Ok(futures::stream::try_unfold(reader, |mut r| async move {
        Ok(r.next_batch().await?.map(|b| (b, r)))
    })
    .boxed())
}

#[async_trait]
impl Source for AvroSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.state().await?.discovery.clone())
    }

    // An Avro object container file carries its schema: a client reads it on its own.
    fn whole_files(&self) -> Option<Files> {
        Some(Files::clone(&self.files))
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let state = self.state().await?;
        let d = &state.discovery;
        let schema = d.projected_schema(&request)?;
        let projection = d.projection_indices(&request)?;
        // No batch larger than the limit: rows past it would be decoded for nothing.
        let batch_size = request
            .batch_size
            .min(request.limit.unwrap_or(usize::MAX))
            .max(1);
        let openers: Vec<_> = d
            .select(&request)?
            .into_iter()
            .map(|p| {
                let r = &state.ranges[p.id];
                let cost = range_cost(r.end.saturating_sub(r.start));
                let open = open_partition(
                    self.files.clone(),
                    state.files[r.file].clone(),
                    r.file,
                    (r.start, r.end),
                    projection.clone(),
                    schema.clone(),
                    batch_size,
                );
                (cost, open)
            })
            .collect();
        // Partitions decode in parallel, in order; with a limit, one at a time so that reading
        // stops as soon as enough rows arrived.
        let concurrency = if request.limit.is_some() {
            1
        } else {
            self.read_concurrency
        };
        let stream =
            ordered_parallel_within(openers, concurrency, self.read_ahead, self.budget.clone());
        Ok(limit_stream(stream, request.limit))
    }
}
