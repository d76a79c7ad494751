//! One CSV file decoded on several cores. A reader cuts the (decompressed) bytes into blocks of
//! whole records, `batch_size` records each ([`crate::split`]: quotes that hold newlines are
//! followed, not guessed); blocks decode concurrently on the blocking pool, one decoder each, and
//! their batches come out in file order. At most `workers + 1` blocks are in flight, so memory stays
//! bounded by the block size whatever the file size; a compressed file keeps its one
//! decompressor (on the reader) and still parses in parallel.
//!
//! A decoding error in a block is reported exactly as the sequential decoder reports it: the
//! block is decoded again behind as many placeholder records as precede it, so line numbers
//! count from the start of the file.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_csv::reader::{Decoder, Format};
use arrow_csv::ReaderBuilder;
use arrow_schema::{ArrowError, SchemaRef};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use inlet_driver::{BatchStream, DriverError, Result};
use tokio::io::AsyncReadExt;

use crate::decode::{self, ByteReader, Codec};
use crate::split::RecordEnds;
use crate::timestamps;

/// What every decoder of one read is built from.
#[derive(Debug, Clone)]
pub(crate) struct DecoderSpec {
    pub file_schema: SchemaRef,
    pub format: Format,
    pub validate_header: bool,
    /// File column indices the decoder parses.
    pub projection: Vec<usize>,
    pub batch_size: usize,
    /// `nrows`: data records read at most.
    pub nrows: Option<usize>,
    /// Set by [`Self::with_text_timestamps`].
    pub text_timestamps: Option<TextTimestamps>,
}

/// Timestamp columns that blocks decode as text and [`timestamps::convert`] parses.
#[derive(Debug, Clone)]
pub(crate) struct TextTimestamps {
    /// The file schema with those columns as `Utf8`.
    decode_schema: SchemaRef,
    /// Their positions among the decoded columns.
    columns: Vec<usize>,
    /// The decoded columns' schema with their real types.
    output: SchemaRef,
}

impl DecoderSpec {
    /// Blocks decode the timestamp columns [`timestamps::handled`] accepts as text and convert
    /// them after (arrow-csv's own parse of each value tries many formats).
    pub(crate) fn with_text_timestamps(mut self) -> Result<Self> {
        let columns: Vec<usize> = self
            .projection
            .iter()
            .enumerate()
            .filter(|(_, &c)| {
                self.file_schema
                    .fields()
                    .get(c)
                    .is_some_and(|f| timestamps::handled(f.data_type()))
            })
            .map(|(at, _)| at)
            .collect();
        if columns.is_empty() {
            return Ok(self);
        }
        let text: Vec<usize> = columns.iter().map(|&at| self.projection[at]).collect();
        let fields: Vec<arrow_schema::FieldRef> = self
            .file_schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if text.contains(&i) {
                    Arc::new(
                        f.as_ref()
                            .clone()
                            .with_data_type(arrow_schema::DataType::Utf8),
                    )
                } else {
                    f.clone()
                }
            })
            .collect();
        let output = self
            .file_schema
            .project(&self.projection)
            .map_err(|e| DriverError::bad_request("columns", e.to_string()))?;
        self.text_timestamps = Some(TextTimestamps {
            decode_schema: Arc::new(arrow_schema::Schema::new_with_metadata(
                fields,
                self.file_schema.metadata().clone(),
            )),
            columns,
            output: Arc::new(output),
        });
        Ok(self)
    }

    /// A block's batch with its text timestamps parsed.
    fn restore(&self, batch: RecordBatch) -> std::result::Result<RecordBatch, ArrowError> {
        let Some(t) = &self.text_timestamps else {
            return Ok(batch);
        };
        let mut columns = batch.columns().to_vec();
        for &at in &t.columns {
            if let (Some(column), Some(field)) = (columns.get_mut(at), t.output.fields().get(at)) {
                *column = timestamps::convert(column, field.data_type())?;
            }
        }
        RecordBatch::try_new_with_options(
            t.output.clone(),
            columns,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
    }

    /// The decoder for a whole file (the sequential path), or for its first block.
    pub(crate) fn file(&self) -> Decoder {
        let mut builder = self.builder(
            self.format
                .clone()
                .with_header_validation(self.validate_header),
        );
        if let Some(n) = self.nrows {
            builder = builder.with_bounds(0, n);
        }
        builder.build_decoder()
    }

    /// The decoder for the first block: the file decoder, timestamps as text.
    fn first_block(&self) -> Decoder {
        self.builder_for(
            self.block_schema(),
            self.format
                .clone()
                .with_header_validation(self.validate_header),
        )
        .build_decoder()
    }

    /// The decoder for a block after the first: no header, timestamps as text.
    fn middle(&self) -> Decoder {
        self.builder_for(self.block_schema(), self.format.clone().with_header(false))
            .build_decoder()
    }

    fn block_schema(&self) -> SchemaRef {
        self.text_timestamps
            .as_ref()
            .map_or_else(|| self.file_schema.clone(), |t| t.decode_schema.clone())
    }

    /// A decoder that skips `records` records (the header among them) unchecked, then decodes
    /// as the file decoder would at that point: same line numbers in its errors.
    fn resumed(&self, data_records: usize) -> Decoder {
        self.builder(self.format.clone().with_header_validation(false))
            // (`usize::MAX` would overflow once the header is added to it.)
            .with_bounds(data_records, usize::MAX / 2)
            .build_decoder()
    }

    fn builder(&self, format: Format) -> ReaderBuilder {
        self.builder_for(self.file_schema.clone(), format)
    }

    fn builder_for(&self, schema: SchemaRef, format: Format) -> ReaderBuilder {
        ReaderBuilder::new(schema)
            .with_format(format)
            .with_batch_size(self.batch_size)
            .with_projection(self.projection.clone())
    }
}

/// A run of whole records.
struct Block {
    data: Bytes,
    /// The first block of the file, which holds the header if there is one.
    first: bool,
    /// Records (the header included) before this block.
    records_before: u64,
    /// The rest of the input, which may end in a record without a terminator: its decoder is
    /// told the input ended. Other blocks end at a record end and their decoder is reused.
    ends_input: bool,
}

/// Cuts a byte stream into blocks.
struct Cutter {
    input: ByteReader,
    buf: BytesMut,
    ends: RecordEnds,
    per_block: u64,
    header: u64,
    records_before: u64,
    first: bool,
    at_end: bool,
    /// Expected bytes of a block.
    block_bytes: usize,
    location: Arc<str>,
    codec: Option<Codec>,
}

impl Cutter {
    async fn next_block(&mut self) -> Result<Option<Block>> {
        loop {
            let want = self.per_block + if self.first { self.header } else { 0 };
            let cut = match self.ends.advance(&self.buf, want) {
                Some(at) => {
                    self.ends.cut(at);
                    Some((self.buf.split_to(at), want, false))
                }
                None if self.at_end && !self.buf.is_empty() => {
                    let records = self.ends.records_at_end();
                    Some((self.buf.split(), records, true))
                }
                None if self.at_end => return Ok(None),
                None => None,
            };
            if let Some((data, records, ends_input)) = cut {
                let block = Block {
                    data: data.freeze(),
                    first: self.first,
                    records_before: self.records_before,
                    ends_input,
                };
                self.first = false;
                self.records_before += records;
                return Ok(Some(block));
            }
            // Read straight into the block (large reads bypass the reader's own buffer); a new
            // block's buffer is sized for the whole block, so it is allocated once.
            if self.buf.capacity() - self.buf.len() < decode::BUFFER {
                self.buf.reserve(self.block_bytes.max(2 * decode::BUFFER));
            }
            let n = self
                .input
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| decode::io_error(&self.location, self.codec, e))?;
            if n == 0 {
                self.at_end = true;
            }
        }
    }
}

/// How a file is read in parallel.
pub(crate) struct Parallel {
    pub spec: Arc<DecoderSpec>,
    pub quote: u8,
    pub delimiter: u8,
    /// Whether the file's first record is a header.
    pub header: bool,
    /// Blocks decoding at once.
    pub workers: usize,
    /// Bytes per record, to size the block buffer.
    pub record_bytes: u64,
    pub location: Arc<str>,
    pub codec: Option<Codec>,
    /// Lines dropped before the decoder, for error messages.
    pub skipped_lines: usize,
    /// Decoders between blocks: a decoder that ended at a record end takes the next block as
    /// more records, and its buffers are reused.
    pub idle: std::sync::Mutex<Vec<Decoder>>,
}

/// Blocks decoding or decoded at once with `workers`: one more than the workers, so the next
/// block is cut while every worker decodes (cutting runs on the consumer's task and would
/// otherwise leave a core idle).
pub(crate) fn blocks_in_flight(workers: usize) -> usize {
    workers.max(1) + 1
}

impl Parallel {
    /// The batches of the file behind `input`, in order.
    pub(crate) fn stream(self, input: ByteReader) -> BatchStream {
        let per_block = self.spec.batch_size.max(1) as u64;
        // A little more than the sample's record width, so most blocks fit at once.
        let block_bytes =
            usize::try_from(self.record_bytes.saturating_mul(per_block + per_block / 8))
                .unwrap_or(usize::MAX)
                .min(64 << 20);
        let cutter = Cutter {
            input,
            buf: BytesMut::new(),
            block_bytes,
            ends: RecordEnds::new(self.quote, self.delimiter),
            per_block,
            header: u64::from(self.header),
            records_before: 0,
            first: true,
            at_end: false,
            location: self.location.clone(),
            codec: self.codec,
        };
        let blocks = futures::stream::try_unfold(cutter, |mut c| async move {
            Ok(c.next_block().await?.map(|b| (b, c)))
        });
        let this = Arc::new(self);
        let in_flight = blocks_in_flight(this.workers);
        let decoded = blocks
            .map_ok(move |block| {
                let this = this.clone();
                async move {
                    let location = this.location.clone();
                    tokio::task::spawn_blocking(move || this.decode(&block))
                        .await
                        .map_err(|e| {
                            DriverError::Io(format!("`{location}`: decoding stopped: {e}"))
                        })?
                }
            })
            .try_buffered(in_flight)
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        // The first error ends the stream.
        decoded
            .scan(false, |failed, item| {
                let out = (!*failed).then_some(item);
                if matches!(out, Some(Err(_))) {
                    *failed = true;
                }
                futures::future::ready(out)
            })
            .boxed()
    }

    fn decode(&self, block: &Block) -> Result<Vec<RecordBatch>> {
        let reused = if block.first {
            None
        } else {
            self.idle.lock().ok().and_then(|mut idle| idle.pop())
        };
        let decoder = match reused {
            Some(d) => d,
            None if block.first => self.spec.first_block(),
            None => self.spec.middle(),
        };
        let decoded = decode_all(decoder, &block.data, block.ends_input).and_then(|(b, d)| {
            let restored = b
                .into_iter()
                .map(|batch| self.spec.restore(batch))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok((restored, d))
        });
        match decoded {
            Ok((batches, decoder)) => {
                if !block.ends_input {
                    if let Ok(mut idle) = self.idle.lock() {
                        idle.push(decoder);
                    }
                }
                Ok(batches)
            }
            Err(e) => {
                // Decode again where the sequential decoder would be, for its exact message.
                let exact = if block.first {
                    e
                } else {
                    self.replay(block).unwrap_or(e)
                };
                Err(decode::csv_error(&self.location, self.skipped_lines, exact))
            }
        }
    }

    /// The error the block gives behind `records_before` placeholder records; None if it
    /// decodes cleanly that way.
    fn replay(&self, block: &Block) -> Option<ArrowError> {
        let header = u64::from(self.header);
        let data_records = usize::try_from(block.records_before.saturating_sub(header)).ok()?;
        let mut decoder = if block.first {
            self.spec.file()
        } else {
            self.spec.resumed(data_records)
        };
        const PLACEHOLDERS: u64 = 1 << 15;
        let chunk = b"a\n".repeat(block.records_before.min(PLACEHOLDERS) as usize);
        let mut left = block.records_before;
        while left > 0 {
            let n = left.min(PLACEHOLDERS);
            let mut data = &chunk[..2 * n as usize];
            while !data.is_empty() {
                match decoder.decode(data) {
                    Ok(0) => return None,
                    Ok(used) => data = &data[used..],
                    Err(e) => return Some(e),
                }
            }
            left -= n;
        }
        decode_all(decoder, &block.data, block.ends_input).err()
    }
}

/// Every batch of `data`, which ends at a record end, or at the end of the input (`ends_input`:
/// the decoder is told so, which closes a last record without a terminator). The decoder comes
/// back for reuse.
fn decode_all(
    mut decoder: Decoder,
    mut data: &[u8],
    ends_input: bool,
) -> std::result::Result<(Vec<RecordBatch>, Decoder), ArrowError> {
    let mut out = Vec::with_capacity(1);
    loop {
        let used = if data.is_empty() && !ends_input {
            0
        } else {
            decoder.decode(data)?
        };
        data = &data[used..];
        // Nothing used: the batch is full, or all of `data` is in the decoder.
        if used == 0 {
            match decoder.flush()? {
                Some(batch) => out.push(batch),
                None if data.is_empty() => return Ok((out, decoder)),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_schema::{DataType, Field, Schema};
    use tokio::io::BufReader;

    fn spec(batch_size: usize) -> Arc<DecoderSpec> {
        Arc::new(DecoderSpec {
            file_schema: Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int64, true),
                Field::new("b", DataType::Utf8, true),
            ])),
            format: Format::default()
                .with_header(true)
                .with_truncated_rows(true),
            validate_header: true,
            projection: vec![0, 1],
            batch_size,
            nrows: None,
            text_timestamps: None,
        })
    }

    fn parallel(batch_size: usize) -> Parallel {
        Parallel {
            spec: spec(batch_size),
            quote: b'"',
            delimiter: b',',
            header: true,
            workers: 3,
            record_bytes: 8,
            location: "/t.csv".into(),
            codec: None,
            skipped_lines: 0,
            idle: Default::default(),
        }
    }

    fn reader(data: Vec<u8>, read_size: usize) -> ByteReader {
        Box::pin(BufReader::with_capacity(
            read_size,
            std::io::Cursor::new(data),
        ))
    }

    async fn read(p: Parallel, data: Vec<u8>, read_size: usize) -> Result<Vec<RecordBatch>> {
        p.stream(reader(data, read_size)).try_collect().await
    }

    /// The same text through the sequential decoder.
    fn sequential(
        data: &[u8],
        batch_size: usize,
    ) -> std::result::Result<Vec<RecordBatch>, ArrowError> {
        decode_all(spec(batch_size).file(), data, true).map(|(b, _)| b)
    }

    #[tokio::test]
    async fn blocks_decode_in_order_like_one_decoder() {
        let mut text = b"a,b\r\n".to_vec();
        for i in 0..1000 {
            match i % 4 {
                0 => text.extend(format!("{i},\"multi\nline, \"\"quoted\"\"\"\n").bytes()),
                1 => text.extend(format!("\n{i},5'3\"\r\n").bytes()),
                2 => text.extend(format!("{i},\n").bytes()),
                _ => text.extend(format!("{i},plain").bytes()),
            }
            if i % 4 == 3 && i != 999 {
                text.push(b'\n');
            }
        }
        let want = sequential(&text, 1000).expect("sequential");
        let want = arrow_select::concat::concat_batches(&want[0].schema(), &want).expect("concat");
        for (batch_size, read_size) in [(7, 1), (64, 13), (1000, 4096), (5000, 100)] {
            let got = read(parallel(batch_size), text.clone(), read_size)
                .await
                .expect("parallel");
            assert!(got.iter().all(|b| b.num_rows() <= batch_size));
            let got = arrow_select::concat::concat_batches(&want.schema(), &got).expect("concat");
            assert_eq!(got, want, "batch {batch_size}, reads of {read_size}");
        }
        assert_eq!(want.num_rows(), 1000);
        assert_eq!(want.column(0).as_primitive::<Int64Type>().value(999), 999);
    }

    #[tokio::test]
    async fn timestamps_parsed_from_text_equal_arrow_csv_and_fail_the_same_way() {
        let ts = DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None);
        let timed = || DecoderSpec {
            file_schema: Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int64, true),
                Field::new("t", ts.clone(), true),
            ])),
            ..(*spec(16)).clone()
        };
        let mut text = b"a,t\n".to_vec();
        for i in 0..100 {
            let t = match i % 4 {
                0 => format!("2024-01-01 00:00:{:02}.{i}", i % 60),
                1 => String::new(),
                2 => "2024-03-01T10:00:00+02:00".to_string(),
                _ => "1960-02-29".to_string(),
            };
            text.extend(format!("{i},{t}\n").bytes());
        }
        let par = |spec: DecoderSpec| Parallel {
            spec: Arc::new(spec.with_text_timestamps().expect("text")),
            ..parallel(16)
        };
        assert!(par(timed()).spec.text_timestamps.is_some());
        let want = decode_all(timed().file(), &text, true)
            .expect("sequential")
            .0;
        let got = read(par(timed()), text.clone(), 50)
            .await
            .expect("parallel");
        let concat = |b: &[RecordBatch]| {
            arrow_select::concat::concat_batches(&b[0].schema(), b).expect("concat")
        };
        assert_eq!(concat(&got), concat(&want));
        text.extend(b"100,not a time\n");
        let want = decode_all(timed().file(), &text, true).expect_err("sequential fails");
        let want = decode::csv_error("/t.csv", 0, want).to_string();
        let got = read(par(timed()), text, 50)
            .await
            .expect_err("parallel fails");
        assert_eq!(got.to_string(), want);
        assert!(want.contains("line 101"), "{want}");
    }

    #[tokio::test]
    async fn an_error_in_a_later_block_names_the_line_the_sequential_decoder_names() {
        let mut text = b"a,b\n".to_vec();
        for i in 0..100 {
            text.extend(format!("{i},x\n").bytes());
        }
        text.extend(b"oops,x\n");
        for i in 0..20 {
            text.extend(format!("{i},y\n").bytes());
        }
        let want = sequential(&text, 10).expect_err("sequential fails");
        let got = read(parallel(10), text.clone(), 64)
            .await
            .expect_err("parallel fails");
        let want = decode::csv_error("/t.csv", 0, want).to_string();
        assert_eq!(got.to_string(), want);
        assert!(want.contains("line 101"), "{want}");
        // Too many fields: counted by the record decoder, which counts the header too.
        let text = [&b"a,b\n"[..], &b"1,x\n".repeat(25), b"1,2,3\n"].concat();
        let want = decode::csv_error("/t.csv", 0, sequential(&text, 10).expect_err("seq"));
        let got = read(parallel(10), text, 7).await.expect_err("par");
        assert_eq!(got.to_string(), want.to_string());
        assert!(want.to_string().contains("line 27"), "{want}");
    }
}
