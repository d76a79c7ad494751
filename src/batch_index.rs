//! Where a batch stands in its read: every record-batch message Inlet writes carries its index
//! in the IPC message's custom metadata (`inlet.batch`), so a client that lost a stream knows
//! which batch to resume from (`from_batch`). Flight messages carry it in `app_metadata` too.
//!
//! arrow-rs's writers leave the `Message.custom_metadata` of record batches empty, so the
//! message is rebuilt here with arrow-ipc's public flatbuffer API: the header is copied field by
//! field, the body (the data buffers) is not touched.

use std::io::Write;

use arrow_array::RecordBatch;
use arrow_ipc::writer::{
    write_message, DictionaryTracker, EncodedData, IpcDataGenerator, IpcWriteContext,
    IpcWriteOptions, StreamWriter,
};
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
/// `first` (the `from_batch` of a resumed read). Otherwise the stream is what arrow-rs's
/// `StreamWriter` writes: it writes the schema and the end-of-stream marker.
pub struct IndexedStreamWriter<W: Write> {
    inner: StreamWriter<W>,
    generator: IpcDataGenerator,
    tracker: DictionaryTracker,
    context: IpcWriteContext,
    options: IpcWriteOptions,
    next: u64,
}

impl<W: Write> IndexedStreamWriter<W> {
    pub fn try_new(
        out: W,
        schema: &Schema,
        options: IpcWriteOptions,
        first: u64,
    ) -> Result<Self, ArrowError> {
        let inner = StreamWriter::try_new_with_options(out, schema, options.clone())?;
        let generator = IpcDataGenerator::default();
        // The same tracker state the inner writer has after writing the schema.
        let mut tracker = DictionaryTracker::new(false);
        let _ = generator.schema_to_bytes_with_dictionary_tracker(schema, &mut tracker, &options);
        Ok(IndexedStreamWriter {
            inner,
            generator,
            tracker,
            context: IpcWriteContext::default(),
            options,
            next: first,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let (dictionaries, message) =
            self.generator
                .encode(batch, &mut self.tracker, &self.options, &mut self.context)?;
        for d in dictionaries {
            write_message(self.inner.get_mut(), d, &self.options)?;
        }
        let tagged = EncodedData {
            ipc_message: tag_message(&message.ipc_message, self.next)?
                .unwrap_or(message.ipc_message),
            arrow_data: message.arrow_data,
        };
        write_message(self.inner.get_mut(), tagged, &self.options)?;
        self.next += 1;
        self.inner.flush()
    }

    pub fn finish(&mut self) -> Result<(), ArrowError> {
        self.inner.finish()
    }
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
}
