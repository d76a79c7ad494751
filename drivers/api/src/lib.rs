//! The Inlet driver contract.
//!
//! A [`Driver`] turns rendered catalog `args` into a [`Source`]; a source [`discovers`](Source::discover)
//! its schema and partitions from metadata only, and [`reads`](Source::read) record batches as a
//! stream. Drivers know nothing of HTTP, SQL or catalogs; storage resolution (URLs, globs,
//! `storage_options`, confinement) lives here, once, in [`storage`].
//!
//! Registration is explicit: the service builds a [`Registry`], so a third-party crate can add a
//! driver by calling [`Registry::register`] without touching the service.
#![forbid(unsafe_code)]

pub mod args;
mod budget;
mod confined;
mod error;
mod model;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use futures::stream::BoxStream;

pub use budget::{MemoryBudget, Reservation};
pub use error::{DriverError, Result};
pub use model::{
    ColumnStatistics, Discovery, FileInfo, Limits, OpenContext, Partition, ReadRequest,
    DEFAULT_BATCH_SIZE,
};

/// A stream of record batches; an error ends it.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

/// The spellings under which catalogs name a driver, besides [`Driver::name`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DriverNames {
    /// What Intake v1 catalogs write in `driver:`: short names and plugin class paths
    /// (`intake_parquet.source.ParquetSource`, `intake_parquet.ParquetSource`, ...).
    pub aliases: &'static [&'static str],
    /// Intake 2 `datatype` names whose `kwargs.url` this driver reads (`Parquet`, `CSV`).
    pub intake2_datatypes: &'static [&'static str],
}

/// A data format plugin.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// The name catalogs resolve to (`parquet`, `csv`, ...).
    fn name(&self) -> &'static str;

    /// Other spellings catalogs use for this driver; the registry resolves them to
    /// [`Driver::name`], so a driver added with [`Registry::register`] needs no table elsewhere.
    fn names(&self) -> DriverNames {
        DriverNames::default()
    }

    /// Opens a source from rendered args. Cheap: no data is read until `discover` or `read`.
    async fn open(
        &self,
        args: &serde_json::Map<String, serde_json::Value>,
        ctx: &OpenContext,
    ) -> Result<Arc<dyn Source>>;
}

/// One opened dataset.
#[async_trait]
pub trait Source: Send + Sync {
    /// Schema, partitions and sizes from metadata only (footers, headers, listings). Cached by
    /// the source: calling it again is free.
    async fn discover(&self) -> Result<Arc<Discovery>>;

    /// Streams the requested partitions (all when `partitions` is None) batch by batch.
    async fn read(&self, request: ReadRequest) -> Result<BatchStream>;

    /// The files behind the source with what identifies their content (size, ETag,
    /// modification time), when `open` already knows them without reading any. The service
    /// caches discovery under this fingerprint; None (the default) means no caching.
    fn files(&self) -> Option<Vec<FileInfo>> {
        None
    }

    /// The whole files this source reads, as listed (store and [`ObjectMeta`](object_store::ObjectMeta)s),
    /// when each file is a self-contained dataset a client could read on its own (a Parquet,
    /// CSV or Avro file): the service then offers them for direct download with `Range`.
    /// None (the default) for formats whose files mean nothing alone (a Zarr store's chunks).
    fn whole_files(&self) -> Option<storage::Files> {
        None
    }

    /// Hands the source a discovery made earlier from the same files (same [`Source::files`]):
    /// `discover` then answers it without reading metadata, and reads fetch what they need
    /// when they need it. Returns false when the driver cannot use it (the default), or when
    /// it has discovered already.
    fn restore(&self, discovery: Arc<Discovery>) -> bool {
        let _ = discovery;
        false
    }

    /// How many batches [`Source::read`] yields for partition `partition` of `discovery` at
    /// `batch_size` rows per batch (with no limit), when the driver knows it from discovery
    /// alone. The service uses it to resume a read (`from_batch`) without decoding the
    /// partitions it leaves out; None (the default) makes it decode and drop them instead.
    fn batch_count(
        &self,
        discovery: &Discovery,
        partition: usize,
        batch_size: usize,
    ) -> Option<u64> {
        let _ = (discovery, partition, batch_size);
        None
    }
}

/// How a driver reaches the other entries its data is computed from, without knowing catalogs:
/// the service implements it for the catalog of the entry being opened (Intake's `cat[target]`).
/// The service also bounds what it opens through it (cycles, depth) and keeps targets to the
/// catalogs the entry may name.
#[async_trait]
pub trait Targets: Send + Sync {
    /// Opens the entry `name`, as the referencing entry writes it, with `params` as its
    /// parameter values (its defaults for the rest). Errors name the target; a target that
    /// does not exist or cannot be used is a [`DriverError::BadArg`] of `arg`.
    async fn open(
        &self,
        arg: &str,
        name: &str,
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Arc<dyn Source>>;
}

/// The drivers a service offers, by name, and every spelling that resolves to them.
#[derive(Default, Clone)]
pub struct Registry {
    drivers: BTreeMap<&'static str, Arc<dyn Driver>>,
    /// Alias (and the name itself) -> driver name.
    aliases: HashMap<&'static str, &'static str>,
    /// Intake 2 datatype -> driver name.
    intake2: HashMap<&'static str, &'static str>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a driver under its name and aliases; a later registration of the same
    /// alias wins, so an operator's driver can take over a built-in spelling.
    pub fn register(&mut self, driver: Arc<dyn Driver>) -> &mut Self {
        let name = driver.name();
        let names = driver.names();
        self.aliases.insert(name, name);
        for alias in names.aliases {
            self.aliases.insert(alias, name);
        }
        for datatype in names.intake2_datatypes {
            self.intake2.insert(datatype, name);
        }
        self.drivers.insert(name, driver);
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Driver>> {
        self.drivers.get(name).cloned()
    }

    /// The driver name a catalog's `driver:` spelling stands for.
    pub fn resolve(&self, written: &str) -> Option<&'static str> {
        self.aliases.get(written).copied()
    }

    /// The driver name that reads an Intake 2 `datatype`.
    pub fn resolve_intake2(&self, datatype: &str) -> Option<&'static str> {
        self.intake2.get(datatype).copied()
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.drivers.keys().copied()
    }
}

/// Ends `stream` after `limit` rows, slicing the last batch; drivers use it so that `limit` also
/// stops the reading underneath (the stream is dropped, nothing more is fetched).
pub fn limit_stream(stream: BatchStream, limit: Option<usize>) -> BatchStream {
    use futures::StreamExt;
    let Some(limit) = limit else { return stream };
    futures::stream::unfold((stream, limit), |(mut stream, remaining)| async move {
        if remaining == 0 {
            return None;
        }
        match stream.next().await? {
            Ok(batch) => {
                let take = batch.num_rows().min(remaining);
                let batch = if take < batch.num_rows() {
                    batch.slice(0, take)
                } else {
                    batch
                };
                Some((Ok(batch), (stream, remaining - take)))
            }
            // After an error nothing follows: the consumer must see the stream end in error.
            Err(e) => Some((Err(e), (futures::stream::empty().boxed(), 0))),
        }
    })
    .boxed()
}

/// Reads partitions in parallel and yields their batches in partition order.
///
/// At most `concurrency` partitions are in flight, each decoding at most `ahead` batches ahead
/// of the consumer, so memory stays bounded by `concurrency x ahead` batches whatever the size
/// of the data. The first error ends the stream; dropping the stream stops every task.
pub fn ordered_parallel<F>(openers: Vec<F>, concurrency: usize, ahead: usize) -> BatchStream
where
    F: std::future::Future<Output = Result<BatchStream>> + Send + 'static,
{
    let costed = openers.into_iter().map(|f| (0, f)).collect();
    ordered_parallel_within(costed, concurrency, ahead, None)
}

/// [`ordered_parallel`] inside a server-wide [`MemoryBudget`]: each partition reserves its
/// estimated cost (bytes fetched and decoded ahead) before it starts and releases it when it
/// ends. A partition that cannot have its budget now waits while others of the same read are
/// still running (read-ahead shrinks instead); the first partition of a read waits at most
/// `budget.first_wait`, then the read fails with [`DriverError::Overloaded`] (a 503 upstream).
///
/// Until the consumer has its first batch, one partition runs alone: others decoding beside it
/// on the same cores would delay that batch (time to first batch), and they start right after.
pub fn ordered_parallel_within<F>(
    openers: Vec<(u64, F)>,
    concurrency: usize,
    ahead: usize,
    budget: Option<MemoryBudget>,
) -> BatchStream
where
    F: std::future::Future<Output = Result<BatchStream>> + Send + 'static,
{
    use futures::StreamExt;
    use std::collections::VecDeque;
    use tokio::sync::mpsc;

    struct State<F> {
        pending: std::iter::Peekable<std::vec::IntoIter<(u64, F)>>,
        /// Each running partition, with its reservation: held until the consumer has taken
        /// the partition's last batch, since decoded batches wait in the channel until then.
        running: VecDeque<(mpsc::Receiver<Result<RecordBatch>>, Option<Reservation>)>,
        concurrency: usize,
        ahead: usize,
        budget: Option<MemoryBudget>,
        started: bool,
        /// Whether the consumer has had a batch: until then one partition runs alone, so the
        /// first batch is not slowed by others decoding beside it (time to first batch).
        delivered: bool,
    }
    let state = State {
        pending: openers.into_iter().peekable(),
        running: VecDeque::new(),
        concurrency: concurrency.max(1),
        ahead: ahead.max(1),
        budget,
        started: false,
        delivered: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            let concurrency = if st.delivered { st.concurrency } else { 1 };
            while st.running.len() < concurrency {
                let Some(&(cost, _)) = st.pending.peek() else { break };
                let reservation = match &st.budget {
                    None => None,
                    Some(b) if !st.started => match b.reserve_within(cost, b.first_wait).await {
                        Some(r) => Some(r),
                        None => {
                            st.pending = Vec::new().into_iter().peekable();
                            let e = DriverError::Overloaded(format!(
                                "the server's memory budget for streams ({} MiB) is in use: retry shortly",
                                b.total() / (1024 * 1024)
                            ));
                            return Some((Err(e), st));
                        }
                    },
                    // Nothing to consume meanwhile: wait for room.
                    Some(b) if st.running.is_empty() => Some(b.reserve(cost).await),
                    // Others are running: start this one later rather than wait now.
                    Some(b) => match b.try_reserve(cost) {
                        Some(r) => Some(r),
                        None => break,
                    },
                };
                let Some((_, open)) = st.pending.next() else { break };
                st.started = true;
                let (tx, rx) = mpsc::channel(st.ahead);
                tokio::spawn(async move {
                    let mut stream = match open.await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    };
                    while let Some(item) = stream.next().await {
                        let failed = item.is_err();
                        // A closed channel means the consumer is gone: stop decoding.
                        if tx.send(item).await.is_err() || failed {
                            return;
                        }
                    }
                });
                st.running.push_back((rx, reservation));
            }
            let (front, _) = st.running.front_mut()?;
            match front.recv().await {
                Some(Ok(batch)) => {
                    st.delivered = true;
                    return Some((Ok(batch), st));
                }
                Some(Err(e)) => {
                    st.running.clear();
                    st.pending = Vec::new().into_iter().peekable();
                    return Some((Err(e), st));
                }
                None => {
                    st.running.pop_front();
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use arrow_array::Int32Array;
    use futures::StreamExt;
    use std::time::Duration;

    async fn part(v: i32) -> Result<BatchStream> {
        let b = RecordBatch::try_from_iter([("v", Arc::new(Int32Array::from(vec![v])) as _)])
            .map_err(|e| DriverError::Io(e.to_string()))?;
        Ok(futures::stream::iter([Ok(b)]).boxed())
    }

    fn values(batches: Vec<Result<RecordBatch>>) -> Vec<i32> {
        batches
            .into_iter()
            .filter_map(|b| b.ok())
            .map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .map_or(-1, |a| a.value(0))
            })
            .collect()
    }

    #[tokio::test]
    async fn a_read_within_the_budget_keeps_order_and_frees_it() {
        let budget = MemoryBudget::new(4 << 20, Duration::from_millis(100));
        // Each partition costs the whole budget: they run one after another, still in order.
        let openers = (0..5).map(|i| (8 << 20, part(i))).collect();
        let out = ordered_parallel_within(openers, 4, 2, Some(budget.clone()));
        assert_eq!(values(out.collect().await), vec![0, 1, 2, 3, 4]);
        assert_eq!(budget.in_use(), 0, "every reservation was returned");
    }

    #[tokio::test]
    async fn a_read_that_gets_no_budget_before_its_first_batch_is_refused() {
        let budget = MemoryBudget::new(1 << 20, Duration::from_millis(50));
        let held = budget.reserve(1 << 20).await;
        let openers = vec![(1024, part(1))];
        let out: Vec<_> = ordered_parallel_within(openers, 2, 2, Some(budget.clone()))
            .collect()
            .await;
        assert!(
            matches!(out.as_slice(), [Err(DriverError::Overloaded(_))]),
            "{out:?}"
        );
        drop(held);
        let openers = vec![(1024, part(1))];
        let again = ordered_parallel_within(openers, 2, 2, Some(budget))
            .collect()
            .await;
        assert_eq!(values(again), vec![1]);
    }
}
