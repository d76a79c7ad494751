//! Where a batch stands in its read: every record-batch message Inlet writes carries its index
//! in the IPC message's custom metadata (`inlet.batch`), so a client that lost a stream knows
//! which batch to resume from (`from_batch`). Flight messages carry it in `app_metadata` too.
//!
//! arrow-rs's writers leave the `Message.custom_metadata` of record batches empty, so the
//! message is rebuilt here with arrow-ipc's public flatbuffer API: the header is copied field by
//! field, the body (the data buffers) is not touched.

use std::io::Write;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::writer::{IpcWriteOptions, StreamEncoder};
use arrow_schema::{ArrowError, Schema};

/// The custom metadata key holding a batch's index in its read (0-based, decimal).
pub const BATCH_KEY: &str = "inlet.batch";

/// `message` (a flatbuffer `Message`) with `inlet.batch = index` added to its custom metadata
/// when it is a record batch; None for other messages (schema, dictionaries).
pub fn tag_message(message: &[u8], index: u64) -> Result<Option<Vec<u8>>, ArrowError> {
    let m = arrow_ipc::root_as_message(message)
        .map_err(|e| ArrowError::IpcError(format!("not an IPC message: {e}")))?;
    let Some(rb) = m.header_as_record_batch() else {
        return Ok(None);
    };
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let nodes: Vec<arrow_ipc::FieldNode> = rb
        .nodes()
        .map(|v| v.iter().copied().collect())
        .unwrap_or_default();
    let buffers: Vec<arrow_ipc::Buffer> = rb
        .buffers()
        .map(|v| v.iter().copied().collect())
        .unwrap_or_default();
    let variadic: Option<Vec<i64>> = rb.variadicBufferCounts().map(|v| v.iter().collect());
    let nodes = fbb.create_vector(&nodes);
    let buffers = fbb.create_vector(&buffers);
    let variadic = variadic.map(|v| fbb.create_vector(&v));
    let compression = rb.compression().map(|c| {
        arrow_ipc::BodyCompression::create(
            &mut fbb,
            &arrow_ipc::BodyCompressionArgs {
                codec: c.codec(),
                method: c.method(),
            },
        )
    });
    let header = arrow_ipc::RecordBatch::create(
        &mut fbb,
        &arrow_ipc::RecordBatchArgs {
            length: rb.length(),
            nodes: Some(nodes),
            buffers: Some(buffers),
            compression,
            variadicBufferCounts: variadic,
        },
    );
    let mut metadata = arrow_schema::Metadata::new();
    for kv in m.custom_metadata().iter().flat_map(|kvs| kvs.iter()) {
        if let (Some(k), Some(v)) = (kv.key(), kv.value()) {
            metadata.insert(k, v);
        }
    }
    metadata.insert(BATCH_KEY, index.to_string());
    let custom = arrow_ipc::convert::metadata_to_fb(&mut fbb, &metadata);
    let root = arrow_ipc::Message::create(
        &mut fbb,
        &arrow_ipc::MessageArgs {
            version: m.version(),
            header_type: arrow_ipc::MessageHeader::RecordBatch,
            header: Some(header.as_union_value()),
            bodyLength: m.bodyLength(),
            custom_metadata: Some(custom),
        },
    );
    fbb.finish(root, None);
    Ok(Some(fbb.finished_data().to_vec()))
}

/// An Arrow IPC stream writer whose record-batch messages carry `inlet.batch`, counting from
/// `first` (the `from_batch` of a resumed read): [`IndexedEncoder`] written to `out`.
pub struct IndexedStreamWriter<W: Write> {
    out: W,
    encoder: IndexedEncoder,
}

impl<W: Write> IndexedStreamWriter<W> {
    pub fn try_new(
        out: W,
        schema: &Schema,
        options: IpcWriteOptions,
        first: u64,
    ) -> Result<Self, ArrowError> {
        Ok(IndexedStreamWriter {
            out,
            encoder: IndexedEncoder::try_new(schema, options, first)?,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        for piece in self.encoder.encode(batch)? {
            self.out.write_all(&piece)?;
        }
        Ok(())
    }

    pub fn finish(&mut self) -> Result<(), ArrowError> {
        for piece in self.encoder.finish()? {
            self.out.write_all(&piece)?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// Pieces below this size are copied together into one; larger ones are sent as they are.
const SMALL_PIECE: usize = 64 * 1024;

/// Arrow IPC stream bytes without copying the data: arrow-ipc's [`StreamEncoder`] hands out
/// the message headers and the batches' own buffers, and this re-frames them so that record
/// batch messages carry `inlet.batch` (counting from `first`). Each call gives the pieces of
/// one batch in stream order; large pieces share the batch's Arrow buffers, so the bytes go
/// from the decoder to the socket without an intermediate copy.
pub struct IndexedEncoder {
    messages: IpcMessages,
    next: u64,
}

/// Collects the pieces of one call: small ones coalesced, large ones shared.
#[derive(Default)]
struct Pieces {
    out: Vec<bytes::Bytes>,
    small: Vec<u8>,
}

impl Pieces {
    fn push(&mut self, piece: Buffer) {
        if piece.len() < SMALL_PIECE {
            self.small.extend_from_slice(&piece);
        } else {
            self.flush_small();
            self.out.push(bytes::Bytes::from_owner(piece));
        }
    }

    fn push_vec(&mut self, bytes: &[u8]) {
        self.small.extend_from_slice(bytes);
    }

    fn flush_small(&mut self) {
        if !self.small.is_empty() {
            self.out
                .push(bytes::Bytes::from(std::mem::take(&mut self.small)));
        }
    }

    fn done(mut self) -> Vec<bytes::Bytes> {
        self.flush_small();
        self.out
    }
}

impl IndexedEncoder {
    pub fn try_new(
        schema: &Schema,
        options: IpcWriteOptions,
        first: u64,
    ) -> Result<Self, ArrowError> {
        Ok(IndexedEncoder {
            messages: IpcMessages::try_new(schema, options)?,
            next: first,
        })
    }

    /// The pieces of `batch` (the schema first, on the first call; dictionaries before it).
    pub fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<bytes::Bytes>, ArrowError> {
        let walked = self.messages.encode(batch, self.next)?;
        self.reframe(walked)
    }

    /// The end-of-stream marker (and the schema, if no batch was encoded).
    pub fn finish(&mut self) -> Result<Vec<bytes::Bytes>, ArrowError> {
        let walked = self
            .messages
            .finish(self.next)?
            .ok_or_else(|| ArrowError::IpcError("the IPC stream is already finished".into()))?;
        self.reframe(walked)
    }

    /// The stream bytes of `walked`, record batch messages tagged; bodies are shared, not
    /// copied.
    fn reframe(&mut self, walked: Vec<Walked>) -> Result<Vec<bytes::Bytes>, ArrowError> {
        let mut pieces = Pieces::default();
        let mut tagged_any = false;
        for walked in walked {
            let message = match walked {
                Walked::End(marker) => {
                    pieces.push_vec(&marker);
                    continue;
                }
                Walked::Message(m) => m,
            };
            match &message.tagged {
                Some(tagged) => {
                    tagged_any = true;
                    // The body starts aligned as arrow-rs aligns it (64 bytes).
                    let padding = (64 - (8 + tagged.len()) % 64) % 64;
                    let len = i32::try_from(tagged.len() + padding)
                        .map_err(|_| ArrowError::IpcError("IPC message too large".into()))?;
                    pieces.push_vec(&[0xff, 0xff, 0xff, 0xff]);
                    pieces.push_vec(&len.to_le_bytes());
                    pieces.push_vec(tagged);
                    pieces.push_vec(&[0u8; 64][..padding]);
                }
                None => pieces.push_vec(&message.prefixed),
            }
            for buffer in message.body {
                pieces.push(buffer);
            }
        }
        if tagged_any {
            self.next += 1;
        }
        Ok(pieces.done())
    }
}

/// arrow-ipc's [`StreamEncoder`] with its output walked into messages: what the HTTP and the
/// Flight encoders share.
pub struct IpcMessages {
    inner: Option<StreamEncoder>,
    walker: MessageWalker,
}

impl IpcMessages {
    pub fn try_new(schema: &Schema, options: IpcWriteOptions) -> Result<Self, ArrowError> {
        Ok(IpcMessages {
            inner: Some(StreamEncoder::try_new_with_options(schema, options)?),
            walker: MessageWalker::default(),
        })
    }

    /// The messages of `batch` (the schema first, on the first call; dictionaries before it),
    /// record batches tagged with `index`.
    pub fn encode(&mut self, batch: &RecordBatch, index: u64) -> Result<Vec<Walked>, ArrowError> {
        let buffers = self
            .inner
            .as_mut()
            .ok_or_else(|| ArrowError::IpcError("the IPC stream is already finished".into()))?
            .encode(batch)?;
        self.walker.walk(buffers, index)
    }

    /// The end-of-stream marker (and the schema, if no batch was encoded); None when already
    /// finished.
    pub fn finish(&mut self, index: u64) -> Result<Option<Vec<Walked>>, ArrowError> {
        match self.inner.take() {
            Some(encoder) => self.walker.walk(encoder.finish()?, index).map(Some),
            None => Ok(None),
        }
    }
}

/// One message of the stream arrow-ipc's [`StreamEncoder`] writes.
pub struct IpcMessage {
    /// The message as written: prefix (continuation marker and length), flatbuffer, padding.
    pub prefixed: Vec<u8>,
    /// A record batch's flatbuffer with `inlet.batch` added; None for other messages.
    pub tagged: Option<Vec<u8>>,
    /// The body: slices of the encoder's buffers (the batch's own, when uncompressed).
    pub body: Vec<Buffer>,
}

impl IpcMessage {
    /// The flatbuffer `Message` (what Flight calls `data_header`): tagged, or as written
    /// (trailing padding is ignored by readers).
    pub fn header(&self) -> &[u8] {
        match &self.tagged {
            Some(tagged) => tagged,
            None => self.prefixed.get(8..).unwrap_or_default(),
        }
    }
}

/// What [`MessageWalker::walk`] finds.
pub enum Walked {
    Message(IpcMessage),
    /// The end-of-stream marker, as written.
    End(Vec<u8>),
}

/// Walks the framing of a [`StreamEncoder`]'s output (continuation, length, flatbuffer, body)
/// into messages; body bytes are sliced, not copied.
#[derive(Default)]
struct MessageWalker {
    frame: Framing,
    header: Vec<u8>,
    current: Option<IpcMessage>,
}

/// Where the walk stands in the byte stream.
#[derive(Default)]
enum Framing {
    /// Reading a message's prefix (continuation marker and length) and flatbuffer.
    #[default]
    Header,
    /// Taking `remaining` body bytes.
    Body { remaining: usize },
}

impl MessageWalker {
    /// The messages of one encoder call, record batches tagged with `index`. A call's output
    /// holds whole messages.
    fn walk(&mut self, buffers: Vec<Buffer>, index: u64) -> Result<Vec<Walked>, ArrowError> {
        let mut out = vec![];
        for buffer in buffers {
            let mut at = 0;
            while at < buffer.len() {
                match self.frame {
                    Framing::Body { remaining } => {
                        let n = remaining.min(buffer.len() - at);
                        if let Some(m) = self.current.as_mut() {
                            m.body.push(buffer.slice_with_length(at, n));
                        }
                        at += n;
                        if n == remaining {
                            self.frame = Framing::Header;
                            out.extend(self.current.take().map(Walked::Message));
                        } else {
                            self.frame = Framing::Body {
                                remaining: remaining - n,
                            };
                        }
                    }
                    Framing::Header => {
                        let header = &mut self.header;
                        let want = if header.len() < 8 {
                            8
                        } else {
                            8 + metadata_len(header)?
                        };
                        let n = (want - header.len()).min(buffer.len() - at);
                        header.extend_from_slice(&buffer[at..at + n]);
                        at += n;
                        if header.len() == 8 && metadata_len(header)? == 0 {
                            out.push(Walked::End(std::mem::take(header)));
                        } else if header.len() > 8 && header.len() == want {
                            let prefixed = std::mem::take(header);
                            let message = &prefixed[8..];
                            let body = arrow_ipc::root_as_message(message)
                                .map_err(|e| {
                                    ArrowError::IpcError(format!("not an IPC message: {e}"))
                                })?
                                .bodyLength();
                            let body = usize::try_from(body).map_err(|_| {
                                ArrowError::IpcError(format!("negative IPC body length {body}"))
                            })?;
                            let message = IpcMessage {
                                tagged: tag_message(message, index)?,
                                prefixed,
                                body: vec![],
                            };
                            if body > 0 {
                                self.current = Some(message);
                                self.frame = Framing::Body { remaining: body };
                            } else {
                                out.push(Walked::Message(message));
                            }
                        }
                    }
                }
            }
        }
        if !self.header.is_empty() || self.current.is_some() {
            return Err(ArrowError::IpcError(
                "the IPC encoder ended a call inside a message".into(),
            ));
        }
        Ok(out)
    }
}

/// The metadata length of a message prefix (continuation marker, then a little-endian i32).
fn metadata_len(prefix: &[u8]) -> Result<usize, ArrowError> {
    let len = prefix
        .get(4..8)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(i32::from_le_bytes)
        .ok_or_else(|| ArrowError::IpcError("short IPC message prefix".into()))?;
    usize::try_from(len)
        .map_err(|_| ArrowError::IpcError(format!("negative IPC metadata length {len}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{DictionaryArray, Int64Array, StringArray};
    use arrow_ipc::CompressionType;
    use std::sync::Arc;

    fn batch(n: i64) -> RecordBatch {
        let dict: DictionaryArray<arrow_array::types::Int32Type> =
            vec!["a", "b", "a"].into_iter().collect();
        RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from(vec![n, n + 1, n + 2])) as _),
            (
                "s",
                Arc::new(StringArray::from(vec!["x", "yy", "zzz"])) as _,
            ),
            ("d", Arc::new(dict) as _),
        ])
        .expect("batch")
    }

    /// The custom metadata of every record-batch message of an IPC stream, read back by
    /// walking the framing (continuation, length, flatbuffer, body).
    fn indices(bytes: &[u8]) -> Vec<String> {
        let mut out = vec![];
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let len = i32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4")) as usize;
            if len == 0 {
                break;
            }
            let m = arrow_ipc::root_as_message(&bytes[at + 8..at + 8 + len]).expect("message");
            if m.header_as_record_batch().is_some() {
                let kv = m.custom_metadata().expect("custom metadata");
                let found = kv.iter().find(|kv| kv.key() == Some(BATCH_KEY));
                out.push(found.and_then(|kv| kv.value()).unwrap_or("").to_string());
            }
            at += 8 + len + m.bodyLength() as usize;
        }
        out
    }

    #[test]
    fn batches_carry_their_index_and_read_back_unchanged() {
        for codec in [None, Some(CompressionType::ZSTD)] {
            let options = IpcWriteOptions::default()
                .try_with_compression(codec)
                .expect("codec");
            let mut out = vec![];
            let schema = batch(0).schema();
            let mut w = IndexedStreamWriter::try_new(&mut out, &schema, options, 7).expect("w");
            for n in 0..3 {
                w.write(&batch(n)).expect("write");
            }
            w.finish().expect("finish");
            assert_eq!(indices(&out), ["7", "8", "9"]);
            let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(&out), None)
                .expect("reader");
            let back: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("read");
            assert_eq!(back, vec![batch(0), batch(1), batch(2)]);
        }
    }

    #[test]
    fn large_buffers_go_out_without_a_copy_and_the_stream_reads_back() {
        let values: Vec<i64> = (0..100_000).collect();
        let column = Int64Array::from(values);
        let data_ptr = column.values().inner().as_ptr();
        let big = RecordBatch::try_from_iter([("n", Arc::new(column) as _)]).expect("batch");
        let mut enc =
            IndexedEncoder::try_new(&big.schema(), IpcWriteOptions::default(), 3).expect("enc");
        let first = enc.encode(&big).expect("encode");
        assert!(
            first.iter().any(|p| p.as_ptr() == data_ptr),
            "the values buffer is one of the pieces, not a copy"
        );
        let second = enc.encode(&big).expect("encode");
        let end = enc.finish().expect("finish");
        let stream: Vec<u8> = [first, second, end].concat().concat();
        assert_eq!(indices(&stream), ["3", "4"]);
        let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(&stream), None)
            .expect("reader");
        let back: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("read");
        assert_eq!(back, vec![big.clone(), big]);
        assert!(enc.encode(&batch(0)).is_err(), "nothing after the end");
    }
}
