//! `DoGet` messages with one copy of the data instead of two. arrow-flight's encoder copies
//! each batch's buffers into a `FlightData` body and prost copies that body again into the gRPC
//! frame. Here the batch's IPC messages come from arrow-ipc's `StreamEncoder` as the batch's
//! own buffers ([`crate::batch_index::IpcMessages`]), and [`MessageCodec`] writes them as
//! `FlightData` protobuf straight into tonic's frame buffer. The bytes on the wire are the
//! same `FlightData` messages any Flight client reads.

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_flight::{FlightData, Ticket};
use arrow_ipc::writer::IpcWriteOptions;
use arrow_schema::{ArrowError, Schema};
use bytes::{BufMut, Bytes};
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

use crate::batch_index::{IpcMessages, Walked};

/// The largest batch slice sent as one message: clients' default gRPC receive limit is 4 MiB
/// (arrow-flight's encoder splits at the same size).
const MAX_MESSAGE_DATA: usize = 2 * 1024 * 1024;

/// One `FlightData` message, its body still in pieces.
pub struct FlightMessage {
    pub header: Bytes,
    /// The batch index of a record batch message (decimal text), else empty.
    pub app_metadata: Bytes,
    pub body: Vec<Buffer>,
}

impl FlightMessage {
    /// Bytes of header and body.
    pub fn len(&self) -> usize {
        self.header.len() + self.body.iter().map(Buffer::len).sum::<usize>()
    }

    /// As arrow-flight's type (the body copied into one buffer).
    pub fn into_flight_data(self) -> FlightData {
        let mut body = Vec::with_capacity(self.body.iter().map(Buffer::len).sum());
        for b in &self.body {
            body.extend_from_slice(b);
        }
        FlightData {
            flight_descriptor: None,
            data_header: self.header,
            app_metadata: self.app_metadata,
            data_body: body.into(),
        }
    }

    /// Writes the `FlightData` protobuf encoding (fields 2, 3, 1000; empty ones left out, as
    /// prost does).
    fn write_to(&self, dst: &mut impl BufMut) {
        let body: usize = self.body.iter().map(Buffer::len).sum();
        for (tag, bytes) in [(2, &self.header), (3, &self.app_metadata)] {
            if !bytes.is_empty() {
                encode_key(tag, WireType::LengthDelimited, dst);
                encode_varint(bytes.len() as u64, dst);
                dst.put_slice(bytes);
            }
        }
        if body > 0 {
            encode_key(1000, WireType::LengthDelimited, dst);
            encode_varint(body as u64, dst);
            for b in &self.body {
                dst.put_slice(b);
            }
        }
    }
}

/// A read's batches as Flight messages: the schema first, then each batch's dictionaries and
/// record batch messages, those marked with the batch's index in the read (`inlet.batch` and
/// `app_metadata`), counting from `first`. A batch larger than 2 MiB goes as several slices,
/// each marked with its batch's index.
pub struct FlightEncoder {
    messages: IpcMessages,
    next: u64,
}

impl FlightEncoder {
    pub fn try_new(
        schema: &Schema,
        options: IpcWriteOptions,
        first: u64,
    ) -> Result<Self, ArrowError> {
        Ok(FlightEncoder {
            messages: IpcMessages::try_new(schema, options)?,
            next: first,
        })
    }

    pub fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<FlightMessage>, ArrowError> {
        let index = self.next;
        self.next += 1;
        let mut out = vec![];
        for slice in slices(batch) {
            let walked = self.messages.encode(&slice, index)?;
            out.extend(flight_messages(walked, index));
        }
        Ok(out)
    }

    /// The schema, if no batch was encoded (Flight has no end-of-stream marker).
    pub fn finish(&mut self) -> Result<Vec<FlightMessage>, ArrowError> {
        let walked = self.messages.finish(self.next)?.unwrap_or_default();
        Ok(flight_messages(walked, self.next).collect())
    }
}

/// The messages of `walked` as `FlightData`, record batches marked with `index`.
fn flight_messages(walked: Vec<Walked>, index: u64) -> impl Iterator<Item = FlightMessage> {
    walked.into_iter().filter_map(move |w| match w {
        Walked::Message(m) => Some(FlightMessage {
            header: Bytes::copy_from_slice(m.header()),
            app_metadata: match m.tagged {
                Some(_) => Bytes::from(index.to_string()),
                None => Bytes::new(),
            },
            body: m.body,
        }),
        // Flight streams end without a marker.
        Walked::End(_) => None,
    })
}

/// `batch` in slices of about [`MAX_MESSAGE_DATA`] (slicing shares the buffers).
fn slices(batch: &RecordBatch) -> Vec<RecordBatch> {
    let size: usize = batch
        .columns()
        .iter()
        .map(|c| c.get_buffer_memory_size())
        .sum();
    let n = size.div_ceil(MAX_MESSAGE_DATA).max(1);
    if n == 1 {
        return vec![batch.clone()];
    }
    let rows = batch.num_rows();
    let per = (rows / n).max(1);
    (0..rows)
        .step_by(per)
        .map(|at| batch.slice(at, per.min(rows - at)))
        .collect()
}

/// The gRPC codec of `DoGet` as Inlet serves it: decodes the `Ticket`, encodes
/// [`FlightMessage`]s.
#[derive(Debug, Default, Clone, Copy)]
pub struct MessageCodec;

pub struct MessageEncoder;
pub struct TicketDecoder;

impl Codec for MessageCodec {
    type Encode = FlightMessage;
    type Decode = Ticket;
    type Encoder = MessageEncoder;
    type Decoder = TicketDecoder;

    fn encoder(&mut self) -> MessageEncoder {
        MessageEncoder
    }

    fn decoder(&mut self) -> TicketDecoder {
        TicketDecoder
    }
}

impl Encoder for MessageEncoder {
    type Item = FlightMessage;
    type Error = Status;

    fn encode(&mut self, item: FlightMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.len() + item.app_metadata.len() + 16);
        item.write_to(dst);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        // Room for one whole message, so a message is not copied while the buffer grows.
        BufferSettings::new(MAX_MESSAGE_DATA + 64 * 1024, 32 * 1024)
    }
}

impl Decoder for TicketDecoder {
    type Item = Ticket;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Ticket>, Status> {
        Ticket::decode(src)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("not a Flight Ticket: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    fn batch(rows: i64) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from_iter_values(0..rows)) as _),
            (
                "s",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("v{i}")),
                )) as _,
            ),
        ])
        .expect("batch")
    }

    #[test]
    fn messages_are_flight_data_that_arrow_flight_decodes() {
        let big = batch(300_000);
        let small = batch(3);
        let mut enc =
            FlightEncoder::try_new(&big.schema(), IpcWriteOptions::default(), 5).expect("enc");
        let mut messages = enc.encode(&big).expect("big");
        messages.extend(enc.encode(&small).expect("small"));
        messages.extend(enc.finish().expect("finish"));
        let marks: Vec<String> = messages
            .iter()
            .map(|m| String::from_utf8_lossy(&m.app_metadata).into_owned())
            .collect();
        // The schema, the big batch in slices of at most 2 MiB (all marked 5), the small one.
        assert_eq!(marks.first().map(String::as_str), Some(""));
        assert!(marks.len() > 3, "{marks:?}");
        assert!(
            marks[1..marks.len() - 1].iter().all(|m| m == "5"),
            "{marks:?}"
        );
        assert_eq!(marks.last().map(String::as_str), Some("6"));
        assert!(messages.iter().all(|m| m.len() < 3 * MAX_MESSAGE_DATA));
        // Through the protobuf encoding and arrow-flight's decoder, the batches come back.
        let data: Vec<FlightData> = messages
            .into_iter()
            .map(|m| {
                let mut wire = vec![];
                m.write_to(&mut wire);
                let decoded = FlightData::decode(wire.as_slice()).expect("protobuf");
                assert_eq!(decoded, m.into_flight_data());
                decoded
            })
            .collect();
        let back = arrow_flight::utils::flight_data_to_batches(&data).expect("batches");
        let back = arrow_select::concat::concat_batches(&big.schema(), &back).expect("concat");
        let want = arrow_select::concat::concat_batches(&big.schema(), &[big, small]).expect("c");
        assert_eq!(back, want);
    }

    #[test]
    fn an_empty_read_still_sends_its_schema() {
        let schema = batch(1).schema();
        let mut enc = FlightEncoder::try_new(&schema, IpcWriteOptions::default(), 0).expect("enc");
        let messages = enc.finish().expect("finish");
        assert_eq!(messages.len(), 1);
        let m = arrow_ipc::root_as_message(&messages[0].header).expect("message");
        assert!(m.header_as_schema().is_some());
        assert!(enc.finish().expect("again").is_empty());
    }
}
