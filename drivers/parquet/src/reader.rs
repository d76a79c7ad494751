//! `parquet`'s async reader over an object store, knowing the file size from the listing so the
//! footer is read with one ranged GET (no suffix request: plain HTTP servers may not support it).
//! Every range is read from the version that was listed (`If-Match` its ETag): a file replaced
//! between the footer and a row group is an error, not a footer of one file over the pages of
//! another.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use object_store::path::Path;
use object_store::{GetOptions, ObjectMeta, ObjectStore, OBJECT_STORE_COALESCE_DEFAULT};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// Footer bytes fetched up front: most footers fit, so discovery costs one request per file.
const FOOTER_PREFETCH: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    e_tag: Option<String>,
}

impl ObjectReader {
    pub fn new(store: Arc<dyn ObjectStore>, meta: &ObjectMeta) -> Self {
        ObjectReader {
            store,
            path: meta.location.clone(),
            size: meta.size,
            e_tag: meta.e_tag.clone(),
        }
    }
}

async fn get_pinned(
    store: &dyn ObjectStore,
    path: &Path,
    e_tag: &Option<String>,
    range: Range<u64>,
) -> object_store::Result<Bytes> {
    let options = GetOptions {
        range: Some(range.into()),
        if_match: e_tag.clone(),
        ..GetOptions::default()
    };
    store.get_opts(path, options).await?.bytes().await
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        get_pinned(self.store.as_ref(), &self.path, &self.e_tag, range)
            .map_err(external)
            .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            let (store, path, e_tag) = (self.store.as_ref(), &self.path, &self.e_tag);
            // Nearby ranges are merged into one request, as `ObjectStore::get_ranges` does.
            object_store::coalesce_ranges(
                &ranges,
                |r| get_pinned(store, path, e_tag, r),
                OBJECT_STORE_COALESCE_DEFAULT,
            )
            .await
            .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .with_prefetch_hint(Some(FOOTER_PREFETCH))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
