//! CSV driver (Intake's `csv` / `intake.source.csv.CSVSource`): one partition per file; the
//! schema is inferred by arrow-csv from a bounded sample of the first file (`csv_kwargs.dtype`
//! and `parse_dates` override it); reads stream each object through on-the-fly decompression
//! into arrow-csv's push decoder, with projection pushed into the decoder.
#![forbid(unsafe_code)]

mod decode;
mod kwargs;
mod parallel;
mod pattern;
mod schema;
mod split;
mod timestamps;

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, RecordBatch, RecordBatchOptions, StringArray,
};
use arrow_csv::reader::Format;
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

use decode::FileDecoder;
use kwargs::CsvOptions;
use parallel::{DecoderSpec, Parallel};
use pattern::PathPattern;
use schema::Layout;

/// Bytes of the first file read for schema inference, at most (besides `Limits::inference_rows`).
const SAMPLE_BYTES: usize = 4 * 1024 * 1024;

/// The `csv` driver.
pub struct CsvDriver;

#[async_trait]
impl Driver for CsvDriver {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &["intake.source.csv.CSVSource"],
            intake2_datatypes: &["CSV"],
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
        let csv_kwargs = a.get("csv_kwargs");
        let (glob, path_pattern) = pattern_args(urlpath, a.get("path_as_pattern"))?;
        // Intake/dask args such as blocksize, assume_missing or metadata are left unread: they
        // shape pandas partitions, not the data, and come back as warnings.
        let warnings = a.unused("csv");
        let files = ctx
            .storage
            .resolve(
                glob.as_ref().unwrap_or(urlpath),
                storage_options,
                &ctx.catalog_dir,
            )
            .await?;
        CsvDriver::source(
            files,
            csv_kwargs,
            path_pattern.as_deref(),
            &ctx.limits,
            warnings,
        )
    }
}

/// `path_as_pattern` + `urlpath` -> (the glob to resolve instead of urlpath, the pattern whose
/// fields become columns).
fn pattern_args(urlpath: &J, setting: Option<&J>) -> Result<(Option<J>, Option<String>)> {
    let (enabled, explicit_pattern) = match setting {
        None => (true, None),
        Some(J::Bool(b)) => (*b, None),
        Some(J::String(s)) => (true, Some(s.clone())),
        Some(other) => {
            return Err(DriverError::bad_arg(
                "path_as_pattern",
                format!("expected true, false or a pattern string, got {other}"),
            ))
        }
    };
    if !enabled {
        return Ok((None, None));
    }
    let J::String(url) = urlpath else {
        return Ok((None, explicit_pattern));
    };
    let glob = match pattern::to_glob(url) {
        Ok(glob) => glob,
        // Without an explicit setting, a stray brace is just part of a file name.
        Err(_) if setting.is_none() => None,
        Err(e) => {
            return Err(DriverError::bad_arg(
                "urlpath",
                format!("{e}; set path_as_pattern: false to read the path literally"),
            ))
        }
    };
    let pattern = explicit_pattern.or_else(|| glob.is_some().then(|| url.clone()));
    Ok((glob.map(J::String), pattern))
}

impl CsvDriver {
    /// A source over files that are already resolved. `csv_kwargs` are pandas `read_csv`
    /// options; `path_pattern` (`data/{region}/{year}.csv`) adds one dictionary-encoded column
    /// per named field, valued from each file's path.
    pub fn source(
        files: Files,
        csv_kwargs: Option<&J>,
        path_pattern: Option<&str>,
        limits: &Limits,
        mut warnings: Vec<String>,
    ) -> Result<Arc<dyn Source>> {
        let options = CsvOptions::parse(csv_kwargs)?;
        warnings.extend(options.warnings.iter().cloned());
        let pattern = match path_pattern {
            None => None,
            Some(p) => {
                PathPattern::parse(p).map_err(|e| DriverError::bad_arg("path_as_pattern", e))?
            }
        };
        let values = match &pattern {
            None => vec![vec![]; files.objects.len()],
            Some(p) => files
                .objects
                .iter()
                .map(|m| {
                    p.values(m.location.as_ref()).ok_or_else(|| {
                        DriverError::bad_arg(
                            "path_as_pattern",
                            format!(
                                "`{}` does not match the pattern `{}`",
                                files.display(m),
                                p.text()
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        };
        Ok(Arc::new(CsvSource {
            files: Arc::new(files),
            options: Arc::new(options),
            pattern_fields: pattern.map(|p| p.fields().to_vec()).unwrap_or_default(),
            values: Arc::new(values),
            inference_rows: limits.inference_rows.max(1),
            read_concurrency: limits.read_concurrency.max(1),
            read_ahead: limits.read_ahead.max(1),
            budget: limits.budget.clone(),
            warnings,
            state: tokio::sync::OnceCell::new(),
        }))
    }
}

struct CsvSource {
    files: Arc<Files>,
    options: Arc<CsvOptions>,
    pattern_fields: Vec<String>,
    /// Per file, the values of `pattern_fields` taken from its path.
    values: Arc<Vec<Vec<String>>>,
    inference_rows: usize,
    read_concurrency: usize,
    read_ahead: usize,
    /// The server-wide budget each file's read reserves from (see [`file_cost`]).
    budget: Option<MemoryBudget>,
    warnings: Vec<String>,
    state: tokio::sync::OnceCell<Arc<State>>,
}

struct State {
    layout: Layout,
    format: Format,
    discovery: Arc<Discovery>,
    /// Bytes per record in the inference sample, for estimating decoded batches.
    record_bytes: u64,
}

/// What reading one file holds at once: its read and decompression buffers, the text blocks of
/// a parallel read (one being filled, those in flight), and the batches decoded ahead of the
/// consumer (in Arrow, about twice the text they came from; never more than the whole file
/// decoded when it is not compressed).
fn file_cost(
    size: u64,
    compressed: bool,
    record_bytes: u64,
    batch_rows: usize,
    ahead: usize,
    workers: usize,
) -> u64 {
    let buffers = 2 * decode::BUFFER as u64;
    let batch_text = record_bytes.saturating_mul(batch_rows as u64);
    let in_flight = parallel::blocks_in_flight(workers);
    let blocks = if workers > 1 { in_flight as u64 + 1 } else { 0 };
    let decoded = if workers > 1 {
        ahead + in_flight
    } else {
        ahead + 1
    };
    let cap = |bytes: u64| if compressed { bytes } else { bytes.min(size) };
    let text = cap(batch_text.saturating_mul(blocks));
    let ahead_text = cap(batch_text.saturating_mul(decoded as u64));
    buffers
        .saturating_add(text)
        .saturating_add(ahead_text.saturating_mul(2))
}

/// arrow-csv's dialect for these options.
fn format(o: &CsvOptions) -> Format {
    let mut f = Format::default()
        .with_header(o.header.is_some())
        .with_delimiter(o.delimiter)
        // pandas fills short rows with nulls; too many fields stays an error.
        .with_truncated_rows(true);
    if let Some(r) = &o.null_regex {
        f = f.with_null_regex(r.clone());
    }
    if let Some(q) = o.quote {
        f = f.with_quote(q);
    }
    if let Some(e) = o.escape {
        f = f.with_escape(e);
    }
    if let Some(c) = o.comment {
        f = f.with_comment(c);
    }
    if let Some(t) = o.terminator {
        f = f.with_terminator(t);
    }
    f
}

/// Partition labels: paths below the files' common directory (`eu/2020.csv`), so files with
/// the same name in different directories stay distinguishable.
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

impl CsvSource {
    async fn state(&self) -> Result<Arc<State>> {
        self.state.get_or_try_init(|| self.load()).await.cloned()
    }

    async fn load(&self) -> Result<Arc<State>> {
        let o = &self.options;
        let meta = self
            .files
            .objects
            .first()
            .ok_or_else(|| DriverError::NotFound("the source has no files".into()))?;
        let at = self.files.display(meta);
        let codec = o.compression.for_path(meta.location.as_ref());
        let mut input = decode::open(&self.files, meta, codec, o.skip_lines()).await?;
        let rows = self
            .inference_rows
            .min(o.nrows.unwrap_or(usize::MAX).max(1));
        let sample = decode::sample(&mut input, SAMPLE_BYTES, rows.saturating_add(1))
            .await
            .map_err(|e| decode::io_error(&at, codec, e))?;
        drop(input);
        let format = format(o);
        let (inferred, sampled) = format
            .infer_schema(sample.as_slice(), Some(rows))
            .map_err(|e| DriverError::corrupt(&at, e))?;
        let inferred = schema::widen_big_integers(&format, sample.as_slice(), inferred);
        let layout = schema::layout(o, &inferred, &self.pattern_fields, &at)?;
        let labels = labels(&self.files);
        let partitions = self
            .files
            .objects
            .iter()
            .zip(labels)
            .enumerate()
            .map(|(i, (m, label))| Partition {
                id: i,
                label,
                file: i,
                estimated_rows: None,
                estimated_bytes: Some(m.size),
            })
            .collect();
        let mut metadata = serde_json::Map::new();
        metadata.insert("files".into(), self.files.objects.len().into());
        metadata.insert(
            "delimiter".into(),
            char::from(o.delimiter).to_string().into(),
        );
        metadata.insert("header".into(), o.header.is_some().into());
        metadata.insert(
            "compression".into(),
            codec.map_or(J::Null, |c| c.name().into()),
        );
        metadata.insert("inferred_from_rows".into(), sampled.into());
        let mut warnings = self.warnings.clone();
        warnings.extend(layout.warnings.iter().cloned());
        let discovery = Discovery {
            schema: layout.schema.clone(),
            partitions,
            // Counting would mean reading every byte.
            total_rows: None,
            total_bytes: Some(self.files.objects.iter().map(|m| m.size).sum()),
            files: self.files.file_infos(),
            statistics: vec![],
            metadata,
            warnings,
        };
        Ok(Arc::new(State {
            layout,
            format,
            discovery: Arc::new(discovery),
            record_bytes: (sample.as_slice().len() as u64 / sampled.max(1) as u64).max(1),
        }))
    }
}

/// Where each output column comes from.
#[derive(Debug, Clone, Copy)]
enum Out {
    /// The n-th column the decoder produces.
    Csv(usize),
    /// The n-th path-pattern field.
    Field(usize),
}

/// Everything a read needs, shared by its per-file streams.
struct ReadPlan {
    files: Arc<Files>,
    options: Arc<CsvOptions>,
    values: Arc<Vec<Vec<String>>>,
    decoders: Arc<DecoderSpec>,
    columns: Vec<Out>,
    schema: SchemaRef,
    /// Blocks of one file decoding at once; 1 reads sequentially (see [`parallel_safe`]).
    workers: usize,
    record_bytes: u64,
}

/// Whether files can be cut into blocks at record ends found by [`split`]: not with an escape
/// character, comment lines or a custom terminator (the scanner does not follow those), and
/// not with `nrows` or a row limit (reading stops early; blocks ahead would be parsed for
/// nothing).
fn parallel_safe(o: &CsvOptions, limit: Option<usize>) -> bool {
    o.escape.is_none()
        && o.comment.is_none()
        && o.terminator.is_none()
        && o.nrows.is_none()
        && limit.is_none()
}

fn constant(value: &str, rows: usize) -> Result<ArrayRef> {
    let keys = Int32Array::from(vec![0; rows]);
    let values: ArrayRef = Arc::new(StringArray::from(vec![value]));
    DictionaryArray::<Int32Type>::try_new(keys, values)
        .map(|a| Arc::new(a) as ArrayRef)
        .map_err(|e| DriverError::Io(format!("building a path column: {e}")))
}

impl ReadPlan {
    async fn open(self: Arc<Self>, file: usize) -> Result<BatchStream> {
        let meta = self
            .files
            .objects
            .get(file)
            .ok_or_else(|| DriverError::bad_request("partition", format!("no file {file}")))?;
        let location = self.files.display(meta);
        let codec = self.options.compression.for_path(meta.location.as_ref());
        let skip = self.options.skip_lines();
        let input = decode::open(&self.files, meta, codec, skip).await?;
        let batches = if self.workers > 1 {
            Parallel {
                spec: self.decoders.clone(),
                quote: self.options.quote.unwrap_or(b'"'),
                delimiter: self.options.delimiter,
                header: self.options.header.is_some(),
                workers: self.workers,
                record_bytes: self.record_bytes,
                location: location.as_str().into(),
                codec,
                skipped_lines: skip,
                idle: Default::default(),
            }
            .stream(input)
        } else {
            let decoder = FileDecoder {
                input,
                decoder: self.decoders.file(),
                location: location.clone(),
                codec,
                skipped_lines: skip,
            };
            futures::stream::try_unfold(decoder, |mut d| async move {
                Ok(d.next_batch().await?.map(|b| (b, d)))
            })
            .boxed()
        };
        let plan = self.clone();
        Ok(batches
            .and_then(move |batch| {
                let out = plan.assemble(file, &location, batch);
                async move { out }
            })
            .boxed())
    }

    /// The decoded columns plus the path columns, in the requested order.
    fn assemble(&self, file: usize, location: &str, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let values = self.values.get(file).map(Vec::as_slice).unwrap_or_default();
        let missing = || DriverError::corrupt(location, "the decoder returned too few columns");
        let columns = self
            .columns
            .iter()
            .map(|c| match c {
                Out::Csv(i) => batch.columns().get(*i).cloned().ok_or_else(missing),
                Out::Field(k) => constant(values.get(*k).map_or("", String::as_str), rows),
            })
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| DriverError::corrupt(location, e))
    }
}

#[async_trait]
impl Source for CsvSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.state().await?.discovery.clone())
    }

    // Each CSV file (compressed or not) is a table a client reads on its own.
    fn whole_files(&self) -> Option<Files> {
        Some(Files::clone(&self.files))
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let state = self.state().await?;
        let d = &state.discovery;
        let files: Vec<usize> = d.select(&request)?.iter().map(|p| p.file).collect();
        let wanted = d
            .projection_indices(&request)?
            .unwrap_or_else(|| (0..d.schema.fields().len()).collect());
        let schema = Arc::new(
            d.schema
                .project(&wanted)
                .map_err(|e| DriverError::bad_request("columns", e.to_string()))?,
        );
        let csv_columns = state.layout.exposed.len();
        let mut projection = vec![];
        let columns = wanted
            .iter()
            .map(|&i| match state.layout.exposed.get(i) {
                Some(&file_col) => {
                    projection.push(file_col);
                    Out::Csv(projection.len() - 1)
                }
                None => Out::Field(i - csv_columns),
            })
            .collect();
        // No batch larger than the limit: rows past it would be parsed for nothing.
        let batch_size = request
            .batch_size
            .min(request.limit.unwrap_or(usize::MAX))
            .max(1);
        let workers = if parallel_safe(&self.options, request.limit) {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        } else {
            1
        };
        let decoders = DecoderSpec {
            file_schema: state.layout.file_schema.clone(),
            format: state.format.clone(),
            validate_header: state.layout.validate_header,
            projection,
            batch_size,
            nrows: self.options.nrows,
            text_timestamps: None,
        };
        let decoders = if workers > 1 {
            decoders.with_text_timestamps()?
        } else {
            decoders
        };
        let plan = Arc::new(ReadPlan {
            files: self.files.clone(),
            options: self.options.clone(),
            values: self.values.clone(),
            decoders: Arc::new(decoders),
            columns,
            schema,
            workers,
            record_bytes: state.record_bytes,
        });
        let openers = files
            .into_iter()
            .map(|f| {
                let meta = &self.files.objects[f];
                let compressed = self.options.compression.for_path(meta.location.as_ref());
                let cost = file_cost(
                    meta.size,
                    compressed.is_some(),
                    state.record_bytes,
                    batch_size,
                    self.read_ahead,
                    workers,
                );
                (cost, plan.clone().open(f))
            })
            .collect();
        // Files decode in parallel, in order; with a limit, one at a time so that reading stops
        // as soon as enough rows arrived.
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
