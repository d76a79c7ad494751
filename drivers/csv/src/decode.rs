//! Bytes of one object -> (decompressed, BOM-stripped, leading lines skipped) buffered reader
//! -> arrow-csv's push decoder -> record batches. Memory is bounded by the read buffer and one
//! batch, whatever the file size.

use std::io;
use std::pin::Pin;

use arrow_array::RecordBatch;
use arrow_csv::reader::Decoder;
use arrow_schema::ArrowError;
use async_compression::tokio::bufread::{BzDecoder, GzipDecoder, XzDecoder, ZstdDecoder};
use futures::TryStreamExt;
use inlet_driver::storage::Files;
use inlet_driver::{DriverError, Result};
use object_store::{GetResultPayload, ObjectMeta};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio_util::io::StreamReader;

/// Read buffer: large enough that per-read overhead (a blocking-pool hop for local files)
/// is negligible, small enough not to matter per stream.
pub(crate) const BUFFER: usize = 256 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Gzip,
    Zstd,
    Bz2,
    Xz,
}

impl Codec {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Bz2 => "bz2",
            Codec::Xz => "xz",
        }
    }
}

/// `csv_kwargs.compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompressionSpec {
    /// By file extension (pandas' `infer`, the default).
    Infer,
    /// `compression: null`: read the bytes as they are.
    Off,
    Codec(Codec),
}

impl CompressionSpec {
    pub(crate) fn for_path(self, path: &str) -> Option<Codec> {
        match self {
            CompressionSpec::Off => None,
            CompressionSpec::Codec(c) => Some(c),
            CompressionSpec::Infer => {
                let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
                match ext.as_deref() {
                    Some("gz" | "gzip") => Some(Codec::Gzip),
                    Some("zst" | "zstd") => Some(Codec::Zstd),
                    Some("bz2") => Some(Codec::Bz2),
                    Some("xz") => Some(Codec::Xz),
                    _ => None,
                }
            }
        }
    }
}

pub(crate) type ByteReader = Pin<Box<dyn AsyncBufRead + Send>>;

/// A file's bytes, checked against the size it was listed with: a file truncated or appended to
/// while it streams ends the read with [`DriverError::Changed`] instead of a clean, short (or
/// mixed) table.
struct ListedLength {
    inner: Pin<Box<dyn AsyncBufRead + Send>>,
    read: u64,
    listed: u64,
    at: String,
}

/// The error a stream ends with when its file changed `how` while it was read.
fn changed(at: &str, listed: u64, how: &str) -> io::Error {
    io::Error::other(DriverError::Changed(format!(
        "`{at}` {how} while it was read: it was listed with {listed} bytes; read it again"
    )))
}

impl tokio::io::AsyncRead for ListedLength {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let available = std::task::ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.remaining());
        buf.put_slice(&available[..n]);
        self.consume(n);
        std::task::Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for ListedLength {
    fn poll_fill_buf(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        let (read, listed, at) = (this.read, this.listed, &this.at);
        std::task::Poll::Ready(
            match std::task::ready!(this.inner.as_mut().poll_fill_buf(cx)) {
                Ok([]) if read < listed => Err(changed(at, listed, "was truncated")),
                Ok(b) if read + b.len() as u64 > listed => Err(changed(at, listed, "grew")),
                other => other,
            },
        )
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        self.read += amt as u64;
        self.inner.as_mut().consume(amt);
    }
}

/// Turns an I/O error from the pipeline into a driver error: storage failures keep their kind,
/// anything else came from the decompressor and means the file is damaged.
pub(crate) fn io_error(location: &str, codec: Option<Codec>, e: io::Error) -> DriverError {
    if e.get_ref().is_some_and(|i| i.is::<DriverError>()) {
        if let Some(Ok(changed)) = e.into_inner().map(|i| i.downcast::<DriverError>()) {
            return *changed;
        }
        return DriverError::Io(format!("`{location}`: storage error"));
    }
    if e.get_ref().is_some_and(|i| i.is::<object_store::Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(store) = inner.downcast::<object_store::Error>() {
                return DriverError::from_store(location, *store);
            }
        }
        return DriverError::Io(format!("`{location}`: storage error"));
    }
    match codec {
        Some(c)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::Other
            ) =>
        {
            DriverError::corrupt(
                location,
                format!(
                    "cannot decompress as {}: {e} (truncated or not {} data?)",
                    c.name(),
                    c.name()
                ),
            )
        }
        _ => DriverError::Io(format!("`{location}`: {e}")),
    }
}

/// Opens `meta` for streaming: decompressed, with a UTF-8 byte order mark removed and the
/// first `skip_lines` lines dropped.
pub(crate) async fn open(
    files: &Files,
    meta: &ObjectMeta,
    codec: Option<Codec>,
    skip_lines: usize,
) -> Result<ByteReader> {
    let at = files.display(meta);
    let got = files.get_pinned(meta, None).await?;
    let raw: Pin<Box<dyn AsyncBufRead + Send>> = match got.payload {
        // A local file: read it directly in large blocks rather than object_store's 8 KiB chunks.
        GetResultPayload::File(file, _) => Box::pin(BufReader::with_capacity(
            BUFFER,
            tokio::fs::File::from_std(file),
        )),
        GetResultPayload::Stream(s) => Box::pin(StreamReader::new(s.map_err(io::Error::other))),
    };
    let raw: Pin<Box<dyn AsyncBufRead + Send>> = Box::pin(ListedLength {
        inner: raw,
        read: 0,
        listed: meta.size,
        at: at.clone(),
    });
    let mut plain: Pin<Box<dyn AsyncRead + Send>> = match codec {
        None => raw,
        // Concatenated members are valid files for every codec's command-line tool: read them all.
        Some(Codec::Gzip) => {
            let mut d = GzipDecoder::new(raw);
            d.multiple_members(true);
            Box::pin(d)
        }
        Some(Codec::Zstd) => {
            let mut d = ZstdDecoder::new(raw);
            d.multiple_members(true);
            Box::pin(d)
        }
        Some(Codec::Bz2) => {
            let mut d = BzDecoder::new(raw);
            d.multiple_members(true);
            Box::pin(d)
        }
        Some(Codec::Xz) => {
            let mut d = XzDecoder::new(raw);
            d.multiple_members(true);
            Box::pin(d)
        }
    };
    // The first three bytes decide on the BOM; they are put back in front when they are data.
    let mut head = Vec::with_capacity(BOM.len());
    (&mut plain)
        .take(BOM.len() as u64)
        .read_to_end(&mut head)
        .await
        .map_err(|e| io_error(&at, codec, e))?;
    if head == BOM {
        head.clear();
    }
    let mut reader: ByteReader = Box::pin(BufReader::with_capacity(
        BUFFER,
        std::io::Cursor::new(head).chain(plain),
    ));
    skip(&mut reader, skip_lines)
        .await
        .map_err(|e| io_error(&at, codec, e))?;
    Ok(reader)
}

/// Drops `lines` `\n`-terminated lines, buffer by buffer (a line may span any number of reads).
async fn skip(reader: &mut ByteReader, mut lines: usize) -> io::Result<()> {
    while lines > 0 {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            break;
        }
        let mut used = buf.len();
        for (i, _) in buf.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            lines -= 1;
            if lines == 0 {
                used = i + 1;
                break;
            }
        }
        reader.as_mut().consume(used);
    }
    Ok(())
}

/// The start of a file for schema inference: at most `max_bytes`, and no more than `max_lines`
/// lines. When cut short, the cut is at a line end so no half record is inferred from.
pub(crate) async fn sample(
    reader: &mut ByteReader,
    max_bytes: usize,
    max_lines: usize,
) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut lines = 0;
    while out.len() < max_bytes {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(out);
        }
        let mut take = buf.len().min(max_bytes - out.len());
        let mut enough = false;
        for (i, _) in buf[..take].iter().enumerate().filter(|(_, b)| **b == b'\n') {
            lines += 1;
            if lines >= max_lines {
                take = i + 1;
                enough = true;
                break;
            }
        }
        out.extend_from_slice(&buf[..take]);
        reader.as_mut().consume(take);
        if enough {
            return Ok(out);
        }
    }
    if let Some(end) = out.iter().rposition(|b| *b == b'\n') {
        out.truncate(end + 1);
    }
    Ok(out)
}

/// One file being decoded.
pub(crate) struct FileDecoder {
    pub input: ByteReader,
    pub decoder: Decoder,
    pub location: String,
    pub codec: Option<Codec>,
    /// Lines dropped before the decoder, for error messages (arrow-csv counts from its start).
    pub skipped_lines: usize,
}

impl FileDecoder {
    /// The next batch of up to the decoder's batch size rows; None at the end of the file.
    pub(crate) async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            let buf = self
                .input
                .fill_buf()
                .await
                .map_err(|e| io_error(&self.location, self.codec, e))?;
            // An empty buffer tells the decoder the input ended (it then closes the last record).
            let used = self
                .decoder
                .decode(buf)
                .map_err(|e| csv_error(&self.location, self.skipped_lines, e))?;
            if used == 0 {
                break;
            }
            self.input.as_mut().consume(used);
        }
        self.decoder
            .flush()
            .map_err(|e| csv_error(&self.location, self.skipped_lines, e))
    }
}

pub(crate) fn csv_error(location: &str, skipped: usize, e: ArrowError) -> DriverError {
    let after = if skipped > 0 {
        format!(" (line numbers count from after the {skipped} skipped lines)")
    } else {
        String::new()
    };
    match e {
        ArrowError::CsvError(m) if m.contains("header does not match") => {
            DriverError::Incompatible(format!(
                "`{location}`: {m}; the files of one source must have the same columns"
            ))
        }
        ArrowError::CsvError(m) => DriverError::corrupt(location, format!("{m}{after}")),
        ArrowError::ParseError(m) => DriverError::corrupt(
            location,
            format!(
                "{m}{after}; column types come from a sample of the first file or from \
                 csv_kwargs.dtype: set the dtype of this column (e.g. str) to read it"
            ),
        ),
        other => DriverError::corrupt(location, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_csv::ReaderBuilder;
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    /// A reader that hands out one byte per read: every boundary lands inside a line.
    fn trickle(data: &'static [u8]) -> ByteReader {
        Box::pin(BufReader::with_capacity(1, data))
    }

    #[tokio::test]
    async fn skipping_and_sampling_cross_read_boundaries() {
        let mut r = trickle(b"junk one\njunk \"two\n" as &[u8]);
        skip(&mut r, 1).await.expect("skip");
        let rest = sample(&mut r, 1024, 10).await.expect("sample");
        assert_eq!(rest, b"junk \"two\n");

        let mut r = trickle(b"a\nb\nc\nd");
        assert_eq!(sample(&mut r, 1024, 2).await.expect("lines"), b"a\nb\n");
        let mut r = trickle(b"aa\nbb\ncc\n");
        assert_eq!(sample(&mut r, 7, 100).await.expect("bytes"), b"aa\nbb\n");
        let mut r = trickle(b"x\n");
        skip(&mut r, 5).await.expect("past the end");
        assert_eq!(sample(&mut r, 10, 10).await.expect("empty"), b"");
    }

    #[tokio::test]
    async fn records_split_across_reads_decode_whole() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        let decoder = ReaderBuilder::new(schema)
            .with_header(true)
            .with_batch_size(2)
            .build_decoder();
        let mut d = FileDecoder {
            input: trickle(b"a,b\n1,\"x\ny\"\n2,z\n3,w"),
            decoder,
            location: "/t.csv".into(),
            codec: None,
            skipped_lines: 0,
        };
        let (mut sizes, mut a, mut b) = (vec![], vec![], vec![]);
        while let Some(batch) = d.next_batch().await.expect("batch") {
            sizes.push(batch.num_rows());
            a.extend(
                batch
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec(),
            );
            let strings = batch.column(1).as_string::<i32>();
            b.extend(strings.iter().map(|s| s.unwrap_or_default().to_string()));
        }
        assert_eq!(sizes, [2, 1]);
        assert_eq!(a, [1, 2, 3]);
        assert_eq!(b, ["x\ny", "z", "w"]);
    }

    #[test]
    fn compression_by_extension() {
        let infer = CompressionSpec::Infer;
        assert_eq!(infer.for_path("a/b.csv.GZ"), Some(Codec::Gzip));
        assert_eq!(infer.for_path("b.csv.zstd"), Some(Codec::Zstd));
        assert_eq!(infer.for_path("b.csv"), None);
        assert_eq!(CompressionSpec::Off.for_path("b.csv.gz"), None);
        assert_eq!(
            CompressionSpec::Codec(Codec::Xz).for_path("b.csv"),
            Some(Codec::Xz)
        );
    }
}
