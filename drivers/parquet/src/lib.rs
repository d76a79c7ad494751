//! Parquet driver: partitions are row groups (file x row group); discovery reads footers only,
//! concurrently with a bound; reads push projection, row-group selection and limit into
//! `parquet`'s async reader over object_store.
#![forbid(unsafe_code)]

mod reader;

use reader::ObjectReader;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SortOptions, TimeUnit};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::args::Args;
use inlet_driver::storage::Files;
use inlet_driver::{
    limit_stream, ordered_parallel_within, BatchStream, ColumnStatistics, Discovery, Driver,
    DriverError, DriverNames, Limits, MemoryBudget, OpenContext, Partition, ReadRequest, Result,
    Source,
};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use parquet::file::metadata::{FileMetaData, ParquetMetaData};

/// The `parquet` driver (also Intake's `intake_parquet.source.ParquetSource`).
pub struct ParquetDriver;

#[async_trait]
impl Driver for ParquetDriver {
    fn name(&self) -> &'static str {
        "parquet"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &[
                "intake_parquet.source.ParquetSource",
                "intake_parquet.ParquetSource",
            ],
            intake2_datatypes: &["Parquet"],
        }
    }

    async fn open(
        &self,
        args: &serde_json::Map<String, serde_json::Value>,
        ctx: &OpenContext,
    ) -> Result<Arc<dyn Source>> {
        let a = Args::new(args);
        let urlpath = a.required("urlpath")?;
        let storage_options = a.get("storage_options");
        let columns = a.strings("columns")?;
        // intake-parquet's engine choice (pyarrow/fastparquet) and pandas index have no meaning here.
        let _ = (a.get("engine"), a.get("index"));
        let warnings = a.unused("parquet");
        let files = ctx
            .storage
            .resolve(urlpath, storage_options, &ctx.catalog_dir)
            .await?;
        Ok(ParquetDriver::source(files, columns, &ctx.limits, warnings))
    }
}

impl ParquetDriver {
    /// A source over files that are already resolved; `columns` restricts what it exposes.
    pub fn source(
        files: Files,
        columns: Option<Vec<String>>,
        limits: &Limits,
        warnings: Vec<String>,
    ) -> Arc<dyn Source> {
        Arc::new(ParquetSource {
            files,
            columns,
            concurrency: limits.discovery_concurrency.max(1),
            read_concurrency: limits.read_concurrency.max(1),
            read_ahead: limits.read_ahead.max(1),
            budget: limits.budget.clone(),
            warnings,
            state: tokio::sync::OnceCell::new(),
        })
    }
}

struct ParquetSource {
    files: Files,
    /// The catalog's `columns` arg: the source exposes only these.
    columns: Option<Vec<String>>,
    concurrency: usize,
    read_concurrency: usize,
    read_ahead: usize,
    budget: Option<MemoryBudget>,
    warnings: Vec<String>,
    state: tokio::sync::OnceCell<Arc<State>>,
}

/// Footers of every file (read by discovery, or on the first read of a file when the
/// discovery was restored from a cache), and what they add up to.
struct State {
    footers: Vec<tokio::sync::OnceCell<ArrowReaderMetadata>>,
    discovery: Arc<Discovery>,
}

/// Reads the footer of one object.
async fn load_footer(
    store: Arc<dyn object_store::ObjectStore>,
    meta: &object_store::ObjectMeta,
    at: &str,
) -> Result<(ArrowReaderMetadata, Option<String>)> {
    let mut reader = ObjectReader::new(store, meta);
    let footer = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
        .await
        .map_err(|e| parquet_error(at, e))?;
    let (footer, note) = trust_the_row_groups(footer, at).map_err(|e| parquet_error(at, e))?;
    let footer = int96_as_microseconds(footer).map_err(|e| parquet_error(at, e))?;
    Ok((footer, note))
}

/// Older writers (parquet-rs wrote 0) put a file-level row count that disagrees with the row
/// groups. The row groups are what is read, so they are the truth; the footer is repaired (the
/// reader sizes its batches by the file's count: 0 read no rows at all) and a note says so.
fn trust_the_row_groups(
    footer: ArrowReaderMetadata,
    at: &str,
) -> std::result::Result<(ArrowReaderMetadata, Option<String>), ParquetError> {
    let md = footer.metadata();
    let in_groups: i64 = md.row_groups().iter().map(|g| g.num_rows()).sum();
    let file = md.file_metadata();
    if file.num_rows() == in_groups {
        return Ok((footer, None));
    }
    let note = format!(
        "`{at}`: the footer says {} rows, its row groups hold {in_groups}; the row groups are read",
        file.num_rows()
    );
    let repaired = FileMetaData::new(
        file.version(),
        in_groups,
        file.created_by().map(str::to_string),
        file.key_value_metadata().cloned(),
        file.schema_descr_ptr(),
        file.column_orders().cloned(),
    );
    let md = ParquetMetaData::new(repaired, md.row_groups().to_vec());
    let options = ArrowReaderOptions::new().with_schema(footer.schema().clone());
    Ok((
        ArrowReaderMetadata::try_new(Arc::new(md), options)?,
        Some(note),
    ))
}

/// INT96 timestamps (Spark, Impala, Hive) read at microsecond resolution, what their writers
/// mean and what pyarrow gives with `coerce_int96_timestamp_unit="us"`: as nanoseconds (the
/// default) dates outside 1677-2262 wrap around. Top-level columns; a nested INT96 keeps the
/// default.
fn int96_as_microseconds(
    footer: ArrowReaderMetadata,
) -> std::result::Result<ArrowReaderMetadata, ParquetError> {
    let descr = footer.metadata().file_metadata().schema_descr();
    let int96: Vec<String> = descr
        .columns()
        .iter()
        .filter(|c| c.physical_type() == parquet::basic::Type::INT96 && c.path().parts().len() == 1)
        .map(|c| c.name().to_string())
        .collect();
    if int96.is_empty() {
        return Ok(footer);
    }
    let fields: Vec<arrow_schema::FieldRef> = footer
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, tz) if int96.contains(f.name()) => Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(TimeUnit::Microsecond, tz.clone())),
            ),
            _ => f.clone(),
        })
        .collect();
    let schema = Schema::new_with_metadata(fields, footer.schema().metadata().clone());
    ArrowReaderMetadata::try_new(
        footer.metadata().clone(),
        ArrowReaderOptions::new().with_schema(Arc::new(schema)),
    )
}

fn parquet_error(location: &str, e: ParquetError) -> DriverError {
    match e {
        ParquetError::External(inner) => match inner.downcast::<object_store::Error>() {
            Ok(store) => DriverError::from_store(location, *store),
            Err(other) => DriverError::Io(format!("`{location}`: {other}")),
        },
        other => DriverError::corrupt(
            location,
            format!("{other}; the file is not valid Parquet (truncated or damaged?)"),
        ),
    }
}

/// Same column names and types in the same order; nullability is unified (either nullable).
fn unify(first: &Schema, first_at: &str, other: &Schema, other_at: &str) -> Result<Schema> {
    let describe = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), f.data_type()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let same = first.fields().len() == other.fields().len()
        && first
            .fields()
            .iter()
            .zip(other.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
    if !same {
        return Err(DriverError::Incompatible(format!(
            "`{other_at}` has schema {{{}}} but `{first_at}` has {{{}}}: the files of one source must have the same columns and types",
            describe(other),
            describe(first)
        )));
    }
    let fields: Vec<Field> = first
        .fields()
        .iter()
        .zip(other.fields())
        .map(|(a, b)| {
            a.as_ref()
                .clone()
                .with_nullable(a.is_nullable() || b.is_nullable())
        })
        .collect();
    Ok(Schema::new_with_metadata(fields, first.metadata().clone()))
}

/// The smallest (or largest) value of per-row-group statistics, formatted for display.
fn extreme(values: &ArrayRef, descending: bool) -> Option<String> {
    let opts = SortOptions {
        descending,
        nulls_first: false,
    };
    let idx = arrow_ord::sort::sort_to_indices(values, Some(opts), Some(1)).ok()?;
    let i = usize::try_from(*idx.values().first()?).ok()?;
    if values.is_null(i) {
        return None;
    }
    let fmt =
        arrow_cast::display::ArrayFormatter::try_new(values.as_ref(), &Default::default()).ok()?;
    Some(fmt.value(i).to_string())
}

fn statistics(schema: &Schema, footers: &[ArrowReaderMetadata]) -> Vec<ColumnStatistics> {
    schema
        .fields()
        .iter()
        .filter(|f| !f.data_type().is_nested())
        .map(|field| {
            let mut nulls: Option<u64> = Some(0);
            let mut mins: Vec<ArrayRef> = vec![];
            let mut maxes: Vec<ArrayRef> = vec![];
            for footer in footers {
                let md = footer.metadata();
                let Ok(conv) = StatisticsConverter::try_new(
                    field.name(),
                    footer.schema(),
                    md.file_metadata().schema_descr(),
                ) else {
                    nulls = None;
                    continue;
                };
                let groups = md.row_groups();
                match conv.row_group_null_counts(groups.iter()) {
                    Ok(counts) if arrow_array::Array::null_count(&counts) == 0 => {
                        nulls = nulls.map(|n| n + counts.values().iter().sum::<u64>());
                    }
                    _ => nulls = None,
                }
                mins.extend(conv.row_group_mins(groups.iter()).ok());
                maxes.extend(conv.row_group_maxes(groups.iter()).ok());
            }
            let concat = |arrays: &[ArrayRef]| {
                let refs: Vec<&dyn arrow_array::Array> =
                    arrays.iter().map(|a| a.as_ref()).collect();
                arrow_select::concat::concat(&refs).ok()
            };
            ColumnStatistics {
                column: field.name().clone(),
                null_count: nulls,
                min: concat(&mins).and_then(|a| extreme(&a, false)),
                max: concat(&maxes).and_then(|a| extreme(&a, true)),
            }
        })
        .collect()
}

impl ParquetSource {
    async fn state(&self) -> Result<Arc<State>> {
        self.state.get_or_try_init(|| self.load()).await.cloned()
    }

    async fn footer(&self, index: usize) -> Result<(ArrowReaderMetadata, Option<String>)> {
        let meta = &self.files.objects[index];
        load_footer(self.files.store.clone(), meta, &self.files.display(meta)).await
    }

    async fn load(&self) -> Result<Arc<State>> {
        let loaded: Vec<(ArrowReaderMetadata, Option<String>)> =
            futures::stream::iter(0..self.files.objects.len())
                .map(|i| self.footer(i))
                .buffered(self.concurrency)
                .try_collect()
                .await?;
        let (footers, notes): (Vec<_>, Vec<_>) = loaded.into_iter().unzip();
        let locations: Vec<String> = self
            .files
            .objects
            .iter()
            .map(|m| self.files.display(m))
            .collect();
        let mut schema = footers[0].schema().as_ref().clone();
        for (f, at) in footers.iter().zip(&locations).skip(1) {
            schema = unify(&schema, &locations[0], f.schema(), at)?;
        }
        if let Some(cols) = &self.columns {
            let indices = cols
                .iter()
                .map(|c| {
                    schema.index_of(c).map_err(|_| {
                        DriverError::bad_arg(
                            "columns",
                            format!("the catalog names column `{c}`, which the data does not have"),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            schema = schema
                .project(&indices)
                .map_err(|e| DriverError::bad_request("columns", e.to_string()))?;
        }
        let mut partitions = vec![];
        let mut warnings = self.warnings.clone();
        warnings.extend(notes.into_iter().flatten());
        for (file, footer) in footers.iter().enumerate() {
            let name = self.files.objects[file]
                .location
                .filename()
                .unwrap_or_default()
                .to_string();
            for (rg, g) in footer.metadata().row_groups().iter().enumerate() {
                partitions.push(Partition {
                    id: partitions.len(),
                    label: format!("{name}#rg{rg}"),
                    file,
                    estimated_rows: u64::try_from(g.num_rows()).ok(),
                    estimated_bytes: u64::try_from(g.compressed_size()).ok(),
                });
            }
        }
        let total_rows = partitions
            .iter()
            .map(|p| p.estimated_rows.unwrap_or(0))
            .sum();
        let mut metadata = serde_json::Map::new();
        if let Some(writer) = footers[0].metadata().file_metadata().created_by() {
            metadata.insert("created_by".into(), writer.into());
        }
        metadata.insert("files".into(), footers.len().into());
        metadata.insert("row_groups".into(), partitions.len().into());
        let discovery = Discovery {
            statistics: statistics(&schema, &footers),
            schema: Arc::new(schema),
            total_rows: Some(total_rows),
            total_bytes: Some(self.files.objects.iter().map(|m| m.size).sum()),
            files: self.files.file_infos(),
            partitions,
            metadata,
            warnings,
        };
        Ok(Arc::new(State {
            footers: footers
                .into_iter()
                .map(|f| tokio::sync::OnceCell::new_with(Some(f)))
                .collect(),
            discovery: Arc::new(discovery),
        }))
    }
}

#[async_trait]
impl Source for ParquetSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.state().await?.discovery.clone())
    }

    fn files(&self) -> Option<Vec<inlet_driver::FileInfo>> {
        Some(self.files.file_infos())
    }

    fn whole_files(&self) -> Option<Files> {
        Some(self.files.clone())
    }

    fn restore(&self, discovery: Arc<Discovery>) -> bool {
        if discovery.files != self.files.file_infos() {
            return false;
        }
        let state = State {
            footers: (0..self.files.objects.len())
                .map(|_| tokio::sync::OnceCell::new())
                .collect(),
            discovery,
        };
        self.state.set(Arc::new(state)).is_ok()
    }

    // A row group is read alone, `batch_size` rows per batch: its footer row count says how
    // many batches it yields.
    fn batch_count(
        &self,
        discovery: &Discovery,
        partition: usize,
        batch_size: usize,
    ) -> Option<u64> {
        let rows = discovery.partitions.get(partition)?.estimated_rows?;
        Some(rows.div_ceil(batch_size.max(1) as u64))
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let state = self.state().await?;
        let d = &state.discovery;
        let out_schema = d.projected_schema(&request)?;
        let names: Vec<String> = out_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let first_rg: Vec<usize> = (0..state.footers.len())
            .map(|f| d.partitions.iter().position(|p| p.file == f).unwrap_or(0))
            .collect();
        let (batch_size, limit) = (request.batch_size.max(1), request.limit);
        let openers: Vec<_> = d
            .select(&request)?
            .into_iter()
            .map(|p| {
                let file = p.file;
                let rg = p.id - first_rg[file];
                let state = state.clone();
                let object = self.files.objects[file].clone();
                let store = self.files.store.clone();
                let reader = ObjectReader::new(store.clone(), &object);
                let shown = self.files.display(&object);
                let at = format!("{shown}#rg{rg}");
                let (names, out_schema) = (names.clone(), out_schema.clone());
                let cost = partition_cost(p, self.read_ahead);
                let open = async move {
                    let footer = state.footers[file]
                        .get_or_try_init(|| async {
                            load_footer(store, &object, &shown).await.map(|(f, _)| f)
                        })
                        .await?
                        .clone();
                    let file_schema = footer.schema().clone();
                    let roots: Vec<usize> = names
                        .iter()
                        .filter_map(|n| file_schema.index_of(n).ok())
                        .collect();
                    // The reader yields projected columns in file order; `order` maps them back
                    // to the order the request asked for.
                    let mut sorted = roots.clone();
                    sorted.sort_unstable();
                    let order: Vec<usize> = roots
                        .iter()
                        .filter_map(|r| sorted.binary_search(r).ok())
                        .collect();
                    let mask = ProjectionMask::roots(
                        footer.metadata().file_metadata().schema_descr(),
                        roots,
                    );
                    let mut builder =
                        ParquetRecordBatchStreamBuilder::new_with_metadata(reader, footer)
                            .with_projection(mask)
                            .with_row_groups(vec![rg])
                            .with_batch_size(batch_size);
                    if let Some(l) = limit {
                        builder = builder.with_limit(l);
                    }
                    let stream = builder.build().map_err(|e| parquet_error(&at, e))?;
                    // Re-label batches with the source schema (unified nullability, one schema
                    // for the whole stream).
                    let relabelled = stream.map(move |b| match b {
                        Ok(batch) => RecordBatch::try_new(
                            out_schema.clone(),
                            order.iter().map(|&i| batch.column(i).clone()).collect(),
                        )
                        .map_err(|e| DriverError::corrupt(at.clone(), e)),
                        Err(e) => Err(parquet_error(&at, e)),
                    });
                    Ok::<BatchStream, DriverError>(relabelled.boxed())
                };
                (cost, open)
            })
            .collect();
        // Row groups decode in parallel, in order; with a limit, one at a time so reading stops
        // as soon as enough rows arrived.
        let concurrency = if limit.is_some() {
            1
        } else {
            self.read_concurrency
        };
        let stream =
            ordered_parallel_within(openers, concurrency, self.read_ahead, self.budget.clone());
        Ok(limit_stream(stream, limit))
    }
}

/// What reading a row group holds at once: its column chunks as fetched (compressed, the
/// partition's estimate), and for each batch decoded ahead of the consumer, plus the one the
/// consumer is sending, about half as much again (a batch is a fraction of the row group, but
/// decoded). (Estimated from discovery, which may come from the cache without the footer.)
fn partition_cost(p: &Partition, ahead: usize) -> u64 {
    let fetched = p.estimated_bytes.unwrap_or(16 << 20);
    fetched.saturating_add(fetched.saturating_mul(ahead as u64 + 1) / 2)
}
