//! Data blocks of one file, streamed from object storage: `count`, `size`, `size` bytes, the
//! 16-byte sync marker. A partition is a byte range of a file and owns the blocks whose
//! preceding sync marker starts inside it (Hadoop's split rule), so ranges cut anywhere still
//! read every block exactly once. Memory is one block (compressed and not), whatever the file.

use std::pin::Pin;

use futures::TryStreamExt;
use inlet_driver::storage::Files;
use inlet_driver::{DriverError, Result};
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectMeta, ObjectStore};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio_util::io::StreamReader;

use crate::header::{Codec, Header, MAX_BLOCK};

/// Read buffer: large enough that per-read overhead (a blocking-pool hop for local files)
/// is negligible, small enough not to matter per stream.
const BUFFER: usize = 256 * 1024;

type ByteReader = Pin<Box<dyn AsyncBufRead + Send>>;

pub(crate) struct Blocks {
    input: ByteReader,
    /// File offset of the next byte `input` yields.
    pos: u64,
    /// Where the sync marker before the next block starts.
    sync_at: u64,
    /// The partition's end: a block whose sync marker starts here or later is the next one's.
    end: u64,
    size: u64,
    sync: [u8; 16],
    codec: Codec,
    at: String,
    raw: Vec<u8>,
    done: bool,
    /// Where the block last returned starts, for messages.
    block_start: u64,
}

impl Blocks {
    /// Blocks of `meta` whose preceding sync marker starts in `start..end`.
    pub(crate) async fn open(
        files: &Files,
        meta: &ObjectMeta,
        header: &Header,
        start: u64,
        end: u64,
    ) -> Result<Blocks> {
        let at = files.display(meta);
        let first = header.len.saturating_sub(16);
        let from = if start <= first { header.len } else { start };
        let mut blocks = Blocks {
            input: open_at(files.store.as_ref(), meta, from, &at).await?,
            pos: from,
            sync_at: first,
            end,
            size: meta.size,
            sync: header.sync,
            codec: header.codec,
            at,
            raw: Vec::new(),
            done: from >= meta.size,
            block_start: from,
        };
        if start > first && !blocks.done {
            blocks.seek_sync().await?;
        }
        Ok(blocks)
    }

    fn corrupt(&self, message: String) -> DriverError {
        DriverError::corrupt(&self.at, message)
    }

    fn io(&self, e: std::io::Error) -> DriverError {
        io_error(&self.at, self.sync_at + 16, e)
    }

    /// Moves past the first sync marker at or after the current position (a partition that
    /// starts mid-file); no marker before `end` means the partition has no block.
    async fn seek_sync(&mut self) -> Result<()> {
        let mut window: Vec<u8> = Vec::with_capacity(BUFFER + 16);
        let mut window_at = self.pos;
        loop {
            let buf = match self.input.fill_buf().await {
                Ok(buf) => buf,
                Err(e) => return Err(io_error(&self.at, self.pos, e)),
            };
            if buf.is_empty() {
                self.done = true;
                return Ok(());
            }
            let n = buf.len();
            window.extend_from_slice(buf);
            self.input.as_mut().consume(n);
            self.pos += n as u64;
            if let Some(i) = window.windows(16).position(|w| w == self.sync) {
                let found = window_at + i as u64;
                if found >= self.end {
                    self.done = true;
                    return Ok(());
                }
                // Bytes after the marker were read already: put them back in front.
                let rest = window.split_off(i + 16);
                self.sync_at = found;
                self.pos = found + 16;
                let input = std::mem::replace(&mut self.input, Box::pin(tokio::io::empty()));
                self.input = Box::pin(BufReader::with_capacity(
                    BUFFER,
                    std::io::Cursor::new(rest).chain(input),
                ));
                return Ok(());
            }
            let keep = window.len().min(15);
            window.drain(..window.len() - keep);
            window_at = self.pos - keep as u64;
            if window_at >= self.end {
                self.done = true;
                return Ok(());
            }
        }
    }

    /// A zig-zag varint from the stream; None at a clean end of file (only allowed for `count`).
    async fn varint(&mut self, eof_ok: bool) -> Result<Option<i64>> {
        let mut buf = [0u8; 10];
        for i in 0..10 {
            let b = match self.input.read_u8().await {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && i == 0 && eof_ok => {
                    return Ok(None)
                }
                Err(e) => return Err(self.io(e)),
            };
            self.pos += 1;
            buf[i] = b;
            if b & 0x80 == 0 {
                let mut at = 0;
                return match crate::header::varint(&buf[..=i], &mut at) {
                    Some(Ok(v)) => Ok(Some(v)),
                    Some(Err(m)) => {
                        Err(self.corrupt(format!("block at byte {}: {m}", self.sync_at + 16)))
                    }
                    None => Err(self.corrupt("unreachable varint end".into())),
                };
            }
        }
        Err(self.corrupt(format!(
            "block at byte {}: a varint longer than 10 bytes",
            self.sync_at + 16
        )))
    }

    /// Where the block last returned starts.
    pub(crate) fn block_at(&self) -> u64 {
        self.block_start
    }

    /// The next block's record count, its bytes decompressed into `out`; None after the last.
    pub(crate) async fn next(&mut self, out: &mut Vec<u8>) -> Result<Option<usize>> {
        if self.done || self.sync_at >= self.end {
            return Ok(None);
        }
        let start = self.pos;
        self.block_start = start;
        let Some(count) = self.varint(true).await? else {
            self.done = true;
            return Ok(None);
        };
        let size = self.varint(false).await?.unwrap_or(0);
        let (Ok(count), Ok(size)) = (usize::try_from(count), u64::try_from(size)) else {
            return Err(self.corrupt(format!(
                "block at byte {start} has a negative count ({count}) or size ({size})"
            )));
        };
        let left = self.size.saturating_sub(self.pos);
        if size.saturating_add(16) > left {
            return Err(self.corrupt(format!(
                "block at byte {start} needs {size} bytes and its sync marker but only {left} \
                 remain (truncated?)"
            )));
        }
        if size > MAX_BLOCK {
            return Err(self.corrupt(format!("block at byte {start} is {size} bytes")));
        }
        let target = if self.codec == Codec::Null {
            &mut *out
        } else {
            &mut self.raw
        };
        target.clear();
        target.resize(size as usize, 0);
        if let Err(e) = self.input.read_exact(target).await {
            return Err(self.io(e));
        }
        let mut sync = [0u8; 16];
        if let Err(e) = self.input.read_exact(&mut sync).await {
            return Err(self.io(e));
        }
        self.pos += size + 16;
        if sync != self.sync {
            return Err(self.corrupt(format!(
                "the sync marker after the block at byte {start} does not match the header's \
                 (damaged file, or not where a block was expected)"
            )));
        }
        self.sync_at = self.pos - 16;
        if self.codec != Codec::Null {
            self.codec.decompress(&self.raw, out).map_err(|m| {
                self.corrupt(format!(
                    "block at byte {start} does not decompress as {}: {m}",
                    self.codec.name()
                ))
            })?;
        }
        if self.pos >= self.size {
            self.done = true;
        }
        Ok(Some(count))
    }
}

/// A read error: the end of the file inside a block is corruption, the rest is storage's.
fn io_error(at: &str, block: u64, e: std::io::Error) -> DriverError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return DriverError::corrupt(
            at,
            format!("the file ends inside the block at byte {block} (truncated?)"),
        );
    }
    match e.into_inner().map(|i| i.downcast::<object_store::Error>()) {
        Some(Ok(store)) => DriverError::from_store(at, *store),
        Some(Err(other)) => DriverError::Io(format!("`{at}`: {other}")),
        None => DriverError::Io(format!("`{at}`: read failed")),
    }
}

/// The object from `from` to its end, as a buffered reader.
async fn open_at(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
    from: u64,
    at: &str,
) -> Result<ByteReader> {
    if from >= meta.size {
        return Ok(Box::pin(tokio::io::empty()));
    }
    // Pinned to the listed version: a replaced file is an error, not a mix of two files.
    let options = GetOptions {
        range: Some(GetRange::Bounded(from..meta.size)),
        if_match: meta.e_tag.clone(),
        ..GetOptions::default()
    };
    let got = store
        .get_opts(&meta.location, options)
        .await
        .map_err(|e| DriverError::from_store(at, e))?;
    let range = got.range.clone();
    Ok(match got.payload {
        // A local file: read it directly in large blocks rather than object_store's 8 KiB chunks.
        GetResultPayload::File(mut file, _) => {
            use std::io::Seek;
            file.seek(std::io::SeekFrom::Start(range.start))
                .map_err(|e| DriverError::Io(format!("`{at}`: {e}")))?;
            let file = tokio::fs::File::from_std(file).take(range.end - range.start);
            Box::pin(BufReader::with_capacity(BUFFER, file))
        }
        GetResultPayload::Stream(s) => Box::pin(BufReader::with_capacity(
            BUFFER,
            StreamReader::new(s.map_err(std::io::Error::other)),
        )),
    })
}
