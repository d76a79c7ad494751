//! Record batches -> bytes in the formats Inlet offers: Arrow IPC stream, Parquet, CSV, NDJSON.
//! One writer per format, written batch by batch, so nothing is materialised.

use std::io::Write;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use futures::stream::{BoxStream, Stream, StreamExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Arrow,
    Parquet,
    Csv,
    Ndjson,
}

impl Format {
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "arrow" | "arrows" | "ipc" => Format::Arrow,
            "parquet" | "pq" => Format::Parquet,
            "csv" => Format::Csv,
            "ndjson" | "jsonl" | "json" => Format::Ndjson,
            _ => return None,
        })
    }

    /// From a file name's extension (`out.arrow`, `out.parquet`, ...).
    pub fn from_path(path: &Path) -> Option<Format> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_name)
    }

    /// Why `schema` cannot be written in this format, if it cannot: CSV holds no nested values.
    pub fn unsupported_columns(self, schema: &arrow_schema::Schema) -> Option<String> {
        if self != Format::Csv {
            return None;
        }
        let nested: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|f| f.data_type().is_nested())
            .map(|f| f.name().as_str())
            .collect();
        (!nested.is_empty()).then(|| {
            format!(
                "CSV cannot hold the nested columns {}: leave them out with `columns=`, or choose format=arrow, parquet or ndjson",
                nested.join(", ")
            )
        })
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::Csv => "text/csv",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// An in-memory `Write` shared with its writer: the HTTP data plane takes the bytes after each
/// batch and sends them as one body chunk.
#[derive(Clone, Default)]
pub struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuffer {
    /// Everything written since the last call.
    pub fn take(&self) -> bytes::Bytes {
        self.0
            .lock()
            .map(|mut b| bytes::Bytes::from(std::mem::take(&mut *b)))
            .unwrap_or_default()
    }
}

/// Writes batches in one format; `finish` writes the trailer (an Arrow end-of-stream marker, a
/// Parquet footer). A stream that failed is never finished: the output must not look complete.
pub trait BatchWriter: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError>;
    fn finish(self: Box<Self>) -> Result<(), ArrowError>;
}

struct Ipc<W: Write>(crate::batch_index::IndexedStreamWriter<W>);
struct Pq<W: Write + Send>(parquet::arrow::ArrowWriter<W>);
struct Csv<W: Write>(arrow_csv::Writer<W>);
struct Ndjson<W: Write>(arrow_json::LineDelimitedWriter<W>);

impl<W: Write + Send> BatchWriter for Ipc<W> {
    fn write(&mut self, b: &RecordBatch) -> Result<(), ArrowError> {
        self.0.write(b)
    }
    fn finish(mut self: Box<Self>) -> Result<(), ArrowError> {
        self.0.finish()
    }
}

impl<W: Write + Send> BatchWriter for Pq<W> {
    fn write(&mut self, b: &RecordBatch) -> Result<(), ArrowError> {
        self.0
            .write(b)
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))
    }
    fn finish(self: Box<Self>) -> Result<(), ArrowError> {
        self.0
            .close()
            .map(|_| ())
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))
    }
}

impl<W: Write + Send> BatchWriter for Csv<W> {
    fn write(&mut self, b: &RecordBatch) -> Result<(), ArrowError> {
        self.0.write(b)
    }
    fn finish(self: Box<Self>) -> Result<(), ArrowError> {
        let mut inner = self.0.into_inner();
        inner.flush().map_err(ArrowError::from)
    }
}

impl<W: Write + Send> BatchWriter for Ndjson<W> {
    fn write(&mut self, b: &RecordBatch) -> Result<(), ArrowError> {
        self.0.write(b)
    }
    fn finish(mut self: Box<Self>) -> Result<(), ArrowError> {
        self.0.finish()
    }
}

/// One chunk of an encoded stream: its bytes in a few pieces (Arrow IPC pieces share the
/// batch's own buffers, so nothing is copied on the way to the socket).
pub type Chunk = Vec<bytes::Bytes>;

/// Encodes `batches` as a stream of chunks in `format`: the header with the first batch,
/// then one chunk per batch, then the trailer. An error from `batches` is passed on as the
/// stream's last item and nothing more is written: no end-of-stream marker, no footer, so a
/// failed stream never looks complete. This is the one encoder every front end uses. Arrow IPC
/// batches carry their index in the read, counting from `first_batch` (see [`crate::batch_index`]).
pub fn chunks<S>(
    schema: &SchemaRef,
    batches: S,
    format: Format,
    ipc_options: Option<arrow_ipc::writer::IpcWriteOptions>,
    first_batch: u64,
) -> Result<BoxStream<'static, Result<Chunk, ArrowError>>, ArrowError>
where
    S: Stream<Item = Result<RecordBatch, inlet_driver::DriverError>> + Send + Unpin + 'static,
{
    let encoder: Box<dyn ChunkEncoder> = match format {
        Format::Arrow => Box::new(crate::batch_index::IndexedEncoder::try_new(
            schema,
            ipc_options.unwrap_or_default(),
            first_batch,
        )?),
        _ => {
            let buffer = SharedBuffer::default();
            let writer = writer_from(format, buffer.clone(), schema, ipc_options, first_batch)?;
            Box::new(Buffered {
                writer: Some(writer),
                buffer,
            })
        }
    };
    let state = (Some(encoder), batches);
    Ok(
        futures::stream::unfold(state, |(encoder, mut batches)| async move {
            let mut encoder = encoder?;
            loop {
                match batches.next().await {
                    Some(Ok(batch)) => match encoder.encode(&batch) {
                        Ok(chunk) if chunk.is_empty() => {}
                        Ok(chunk) => return Some((Ok(chunk), (Some(encoder), batches))),
                        Err(e) => return Some((Err(e), (None, batches))),
                    },
                    Some(Err(e)) => return Some((Err(e.into()), (None, batches))),
                    None => return Some((encoder.finish(), (None, batches))),
                }
            }
        })
        .boxed(),
    )
}

/// Batches in, chunks out.
trait ChunkEncoder: Send {
    fn encode(&mut self, batch: &RecordBatch) -> Result<Chunk, ArrowError>;
    fn finish(&mut self) -> Result<Chunk, ArrowError>;
}

impl ChunkEncoder for crate::batch_index::IndexedEncoder {
    fn encode(&mut self, batch: &RecordBatch) -> Result<Chunk, ArrowError> {
        crate::batch_index::IndexedEncoder::encode(self, batch)
    }
    fn finish(&mut self) -> Result<Chunk, ArrowError> {
        crate::batch_index::IndexedEncoder::finish(self)
    }
}

/// A format's writer into a buffer that is emptied after each batch.
struct Buffered {
    writer: Option<Box<dyn BatchWriter>>,
    buffer: SharedBuffer,
}

impl ChunkEncoder for Buffered {
    fn encode(&mut self, batch: &RecordBatch) -> Result<Chunk, ArrowError> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| ArrowError::InvalidArgumentError("the writer is finished".into()))?;
        writer.write(batch)?;
        Ok(self.pieces())
    }
    fn finish(&mut self) -> Result<Chunk, ArrowError> {
        if let Some(w) = self.writer.take() {
            w.finish()?;
        }
        Ok(self.pieces())
    }
}

impl Buffered {
    fn pieces(&self) -> Chunk {
        let bytes = self.buffer.take();
        if bytes.is_empty() {
            vec![]
        } else {
            vec![bytes]
        }
    }
}

/// A writer of `format` over `out`. `ipc_options` lets callers pick IPC buffer compression.
pub fn writer<W: Write + Send + 'static>(
    format: Format,
    out: W,
    schema: &SchemaRef,
    ipc_options: Option<arrow_ipc::writer::IpcWriteOptions>,
) -> Result<Box<dyn BatchWriter>, ArrowError> {
    writer_from(format, out, schema, ipc_options, 0)
}

/// [`writer`] whose Arrow IPC batches are numbered from `first_batch`.
pub fn writer_from<W: Write + Send + 'static>(
    format: Format,
    out: W,
    schema: &SchemaRef,
    ipc_options: Option<arrow_ipc::writer::IpcWriteOptions>,
    first_batch: u64,
) -> Result<Box<dyn BatchWriter>, ArrowError> {
    Ok(match format {
        Format::Arrow => {
            let opts = ipc_options.unwrap_or_default();
            Box::new(Ipc(crate::batch_index::IndexedStreamWriter::try_new(
                out,
                schema,
                opts,
                first_batch,
            )?))
        }
        Format::Parquet => {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let w = parquet::arrow::ArrowWriter::try_new(out, schema.clone(), Some(props))
                .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            Box::new(Pq(w))
        }
        Format::Csv => Box::new(Csv(arrow_csv::WriterBuilder::new()
            .with_header(true)
            .build(out))),
        Format::Ndjson => Box::new(Ndjson(arrow_json::LineDelimitedWriter::new(out))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as _),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a,b"), None])) as _,
            ),
        ])
        .expect("batch")
    }

    fn encode(format: Format) -> Vec<u8> {
        let out = SharedBuffer::default();
        let b = batch();
        let mut w = writer(format, out.clone(), &b.schema(), None).expect("writer");
        w.write(&b).expect("write");
        w.finish().expect("finish");
        out.take().to_vec()
    }

    #[test]
    fn each_format_round_trips_or_reads_as_text() {
        let ipc = encode(Format::Arrow);
        let reader =
            arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None).expect("ipc");
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
        assert_eq!(batches, vec![batch()]);
        let pq = encode(Format::Parquet);
        let r = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
            bytes::Bytes::from(pq),
            1024,
        )
        .expect("pq");
        assert_eq!(
            r.collect::<Result<Vec<_>, _>>().expect("read"),
            vec![batch()]
        );
        assert_eq!(
            String::from_utf8(encode(Format::Csv)).expect("utf8"),
            "n,s\n1,\"a,b\"\n2,\n"
        );
        assert_eq!(
            String::from_utf8(encode(Format::Ndjson)).expect("utf8"),
            "{\"n\":1,\"s\":\"a,b\"}\n{\"n\":2}\n"
        );
    }

    fn collect(
        format: Format,
        items: Vec<Result<RecordBatch, inlet_driver::DriverError>>,
    ) -> Vec<Result<Chunk, ArrowError>> {
        let schema = batch().schema();
        let chunks =
            chunks(&schema, futures::stream::iter(items), format, None, 0).expect("encoder");
        futures::executor::block_on(chunks.collect::<Vec<_>>())
    }

    #[test]
    fn chunks_end_with_the_trailer_or_with_the_error() {
        let ok = collect(Format::Arrow, vec![Ok(batch()), Ok(batch())]);
        assert_eq!(ok.len(), 3, "two batches, then the end-of-stream marker");
        let bytes: Vec<u8> = ok
            .into_iter()
            .flat_map(|c| c.expect("chunk").concat())
            .collect();
        let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .expect("ipc");
        assert_eq!(reader.count(), 2);
        let failed = collect(
            Format::Parquet,
            vec![
                Ok(batch()),
                Err(inlet_driver::DriverError::Io("gone".into())),
                Ok(batch()),
            ],
        );
        assert_eq!(
            failed.len(),
            1,
            "parquet buffers the row group; then the error, then nothing"
        );
        assert!(failed[0]
            .as_ref()
            .is_err_and(|e| e.to_string().contains("gone")));
    }

    #[test]
    fn formats_by_name_and_extension() {
        assert_eq!(
            Format::from_path(Path::new("x.parquet")),
            Some(Format::Parquet)
        );
        assert_eq!(Format::from_path(Path::new("x.arrow")), Some(Format::Arrow));
        assert_eq!(
            Format::from_path(Path::new("x.ndjson")),
            Some(Format::Ndjson)
        );
        assert_eq!(Format::from_name("xlsx"), None);
    }
}
