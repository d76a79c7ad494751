//! One file as the readers' random-access `Storage`, served by byte-range GETs pinned to the
//! listed version (ETag `If-Match`) through the driver API's store. The readers are
//! synchronous, so they run on blocking threads and each range is fetched by blocking on the
//! runtime there. Small reads (headers, B-tree nodes, classic records) go through a cache of
//! aligned blocks, so walking metadata or records costs a few GETs, not one each; large reads
//! (compressed chunks) are fetched as they are. The cache is shared by all files of a source
//! and bounded, so memory does not grow with the number or size of files.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use hdf5_reader::error::Error as H5Error;
use hdf5_reader::storage::{Storage, StorageBuffer};
use inlet_driver::storage::Files;
use inlet_driver::DriverError;
use object_store::{GetRange, ObjectMeta};
use tokio::runtime::Handle;

/// Bytes of one cached block: small enough that reading a value per record of a classic
/// file does not fetch the records between, large enough to hold most metadata structures.
const BLOCK: u64 = 64 * 1024;
/// Blocks kept per source (4 MiB).
const BLOCKS: usize = 64;

/// Blocks by (file, block index).
type Blocks = lru::LruCache<(usize, u64), Arc<[u8]>>;

/// Cached blocks of a source's files.
pub struct BlockCache(Mutex<Blocks>);

impl BlockCache {
    pub fn new() -> Arc<Self> {
        let n = NonZeroUsize::new(BLOCKS).unwrap_or(NonZeroUsize::MIN);
        Arc::new(BlockCache(Mutex::new(lru::LruCache::new(n))))
    }

    fn get(&self, key: (usize, u64)) -> Option<Arc<[u8]>> {
        self.0.lock().ok()?.get(&key).cloned()
    }

    fn put(&self, key: (usize, u64), block: Arc<[u8]>) {
        if let Ok(mut c) = self.0.lock() {
            c.put(key, block);
        }
    }
}

pub struct RangeStorage {
    files: Arc<Files>,
    meta: ObjectMeta,
    runtime: Handle,
    /// This file's place in the source, its key in `blocks`.
    index: usize,
    blocks: Arc<BlockCache>,
    /// The storage error behind the readers' last I/O error: the readers only carry a message,
    /// the driver reports this one (NotFound, Changed, Denied keep their kind).
    failure: Mutex<Option<DriverError>>,
}

impl RangeStorage {
    pub fn new(files: Arc<Files>, index: usize, blocks: Arc<BlockCache>, runtime: Handle) -> Self {
        let meta = files.objects[index].clone();
        RangeStorage {
            files,
            meta,
            runtime,
            index,
            blocks,
            failure: Mutex::new(None),
        }
    }

    /// The storage error behind a reader error, if there was one.
    pub fn take_failure(&self) -> Option<DriverError> {
        self.failure.lock().ok()?.take()
    }

    fn fetch(&self, start: u64, end: u64) -> Result<bytes::Bytes, H5Error> {
        let got = self.runtime.block_on(async {
            let r = self
                .files
                .get_pinned(&self.meta, Some(GetRange::Bounded(start..end)))
                .await?;
            r.bytes()
                .await
                .map_err(|e| DriverError::from_store(&self.files.display(&self.meta), e))
        });
        match got {
            Ok(b) if b.len() as u64 == end - start => Ok(b),
            Ok(b) => Err(self.fail(DriverError::Changed(format!(
                "`{}`: asked for bytes {start}..{end}, got {}: the file is shorter than listed",
                self.files.display(&self.meta),
                b.len()
            )))),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&self, e: DriverError) -> H5Error {
        let message = e.to_string();
        if let Ok(mut f) = self.failure.lock() {
            *f = Some(e);
        }
        H5Error::Io(std::io::Error::other(message))
    }

    fn block(&self, index: u64) -> Result<Arc<[u8]>, H5Error> {
        if let Some(b) = self.blocks.get((self.index, index)) {
            return Ok(b);
        }
        let start = index * BLOCK;
        let end = (start + BLOCK).min(self.meta.size);
        let bytes: Arc<[u8]> = Arc::from(self.fetch(start, end)?.as_ref());
        self.blocks.put((self.index, index), bytes.clone());
        Ok(bytes)
    }
}

impl Storage for RangeStorage {
    fn len(&self) -> u64 {
        self.meta.size
    }

    fn read_range(&self, offset: u64, len: usize) -> hdf5_reader::error::Result<StorageBuffer> {
        let end = offset
            .checked_add(len as u64)
            .filter(|e| *e <= self.meta.size)
            .ok_or(H5Error::OffsetOutOfBounds(offset))?;
        if len == 0 {
            return Ok(StorageBuffer::from_vec(vec![]));
        }
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        if len as u64 >= BLOCK {
            let bytes = self.fetch(offset, end)?;
            return StorageBuffer::from_shared_owner(Arc::new(bytes), 0, len);
        }
        if first == last {
            let block = self.block(first)?;
            let at = (offset - first * BLOCK) as usize;
            return StorageBuffer::from_shared(block, at, len);
        }
        let mut out = Vec::with_capacity(len);
        for index in first..=last {
            let block = self.block(index)?;
            let lo = offset.max(index * BLOCK) - index * BLOCK;
            let hi = end.min((index + 1) * BLOCK) - index * BLOCK;
            out.extend_from_slice(&block[lo as usize..hi as usize]);
        }
        Ok(StorageBuffer::from_vec(out))
    }
}
