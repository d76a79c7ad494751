//! A read in progress: the schema and the batches of one request, holding its stream slot.
//! Every front end consumes the same [`Read`]; errors before the first batch surface when the
//! read is made, so a front end can still answer with a proper error status.

use std::pin::Pin;
use std::task::{Context, Poll};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::{Stream, StreamExt};
use inlet_driver::{BatchStream, DriverError, ReadRequest};

use super::admission::Permit;
use super::error::driver_kind;
use super::resume::{self, Resume};
use super::status::RecentErrors;
use super::usage::Meter;
use super::{Opened, ServiceError};

pub struct Read {
    /// The source's dotted name.
    pub source: String,
    pub schema: SchemaRef,
    batches: BatchStream,
    rows: u64,
    _permit: Option<Permit>,
    /// Usage accounting: rows here, bytes by the front end (see [`Read::meter`]).
    meter: Option<std::sync::Arc<Meter>>,
    /// Where a failure after the first batch is reported (the status report).
    errors: Option<std::sync::Arc<RecentErrors>>,
    /// The source's [`Opened::stale`] flag, set when the data changed under this read.
    stale: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The index (in the whole read) of the first batch this one yields: `from_batch`.
    pub first_batch: u64,
    /// The version of the data read (see [`resume::data_version`]).
    pub data_version: String,
}

/// Marks the opened source out of date when `e` says its data changed.
fn note_change(stale: &std::sync::atomic::AtomicBool, e: &DriverError) {
    if matches!(e, DriverError::Changed(_)) {
        stale.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Read {
    /// Starts `request` on `opened`: checks it against discovery, opens the stream and pulls the
    /// first batch, so that what fails early fails here. A resumed read (`resume`) first checks
    /// the data version, then leaves out the batches the client has: whole partitions when the
    /// driver knows their batch counts, the rest decoded and dropped (before the first byte).
    pub async fn start(
        opened: &Opened,
        mut request: ReadRequest,
        permit: Option<Permit>,
        resume: &Resume,
    ) -> Result<Read, ServiceError> {
        let discovery = opened
            .source
            .discover()
            .await
            .map_err(|e| opened.blame(e))?;
        let data_version = resume::data_version(&opened.key, &discovery.files, request.batch_size);
        // Before the request is checked: partitions of a ticket may not exist any more.
        resume::check_version(&opened.name, resume.data_version.as_deref(), &data_version)?;
        let schema = opened.check(&request).await?;
        let mut drop = resume.from_batch;
        if drop > 0 && request.limit.is_none() {
            let (rest, left) =
                resume::skip_partitions(opened.source.as_ref(), &discovery, &request, drop)?;
            request.partitions = Some(rest);
            drop = left;
        }
        let fail = |e: DriverError| {
            note_change(&opened.stale, &e);
            opened.blame(e)
        };
        let batches: BatchStream = if request.partitions.as_ref().is_some_and(Vec::is_empty) {
            futures::stream::empty().boxed()
        } else {
            let mut stream = opened.source.read(request).await.map_err(fail)?;
            let open = resume::drop_batches(&mut stream, drop)
                .await
                .map_err(fail)?;
            let first = if open { stream.next().await } else { None };
            match first {
                Some(Err(e)) => return Err(fail(e)),
                Some(Ok(first)) => futures::stream::once(async move { Ok(first) })
                    .chain(stream)
                    .boxed(),
                None => futures::stream::empty().boxed(),
            }
        };
        Ok(Read {
            source: opened.name.clone(),
            schema,
            batches,
            rows: 0,
            _permit: permit,
            meter: None,
            errors: None,
            stale: opened.stale.clone(),
            first_batch: resume.from_batch,
            data_version,
        })
    }

    /// Counts this read's rows (and, through [`Read::meter`], its bytes) as usage.
    pub fn metered(mut self, meter: std::sync::Arc<Meter>) -> Read {
        self.meter = Some(meter);
        self
    }

    /// Reports a failure after the first batch to `errors`.
    pub fn reporting(mut self, errors: std::sync::Arc<RecentErrors>) -> Read {
        self.errors = Some(errors);
        self
    }

    /// The usage meter, for the front end to add the bytes it sends.
    pub fn meter(&self) -> Option<std::sync::Arc<Meter>> {
        self.meter.clone()
    }

    /// Rows handed out so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

impl Stream for Read {
    type Item = inlet_driver::Result<RecordBatch>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = this.batches.poll_next_unpin(cx);
        match &item {
            Poll::Ready(Some(Ok(b))) => {
                this.rows += b.num_rows() as u64;
                if let Some(m) = &this.meter {
                    m.add_rows(b.num_rows() as u64);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                note_change(&this.stale, e);
                metrics::counter!("inlet_driver_errors_total", "kind" => driver_kind(e).label())
                    .increment(1);
                if let Some(errors) = &this.errors {
                    errors.push(
                        Some(this.source.as_str()),
                        "stream",
                        driver_kind(e),
                        &e.to_string(),
                    );
                }
                let error = crate::catalog::redact::redact_text(&e.to_string()).into_owned();
                tracing::warn!(source = %this.source, rows = this.rows, %error, "stream aborted");
            }
            _ => {}
        }
        item
    }
}

impl Drop for Read {
    fn drop(&mut self) {
        metrics::counter!("inlet_rows_streamed_total", "source" => self.source.clone())
            .increment(self.rows);
    }
}
