//! Blocks -> arrow-avro's record decoder -> record batches with the source's (clean) types.
//!
//! arrow-avro decodes records straight into Arrow builders, resolving the writer schema against
//! a reader schema (evolution, projection: skipped fields are never materialised). Its output
//! carries Avro names as field metadata; batches are relabelled to plain Arrow types, which is
//! free (no buffer is copied).

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, GenericListArray, MapArray, OffsetSizeTrait, RecordBatch, RecordBatchOptions,
    StructArray, UnionArray,
};
use arrow_avro::codec::Tz;
use arrow_avro::reader::{Decoder, DecoderMode, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, SchemaStore};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, Schema, SchemaRef, UnionFields};
use inlet_driver::{DriverError, Result};

use crate::blocks::Blocks;

/// A decoder reading records written with `writer` as `reader` (None: as written), keeping the
/// reader's top-level fields `projection` in that order. Errors are arrow-avro's message.
pub(crate) fn decoder(
    writer: &str,
    reader: Option<&str>,
    projection: Option<Vec<usize>>,
    batch_size: usize,
) -> Result<Decoder, String> {
    let mut store = SchemaStore::new();
    let fingerprint = store
        .register(AvroSchema::new(writer.to_string()))
        .map_err(|e| e.to_string())?;
    let mut builder = ReaderBuilder::new()
        .with_writer_schema_store(store)
        .with_active_fingerprint(fingerprint)
        .with_decoder_mode(DecoderMode::UnframedDatum)
        .with_batch_size(batch_size.max(1))
        .with_tz(Tz::Utc);
    if let Some(r) = reader {
        builder = builder.with_reader_schema(AvroSchema::new(r.to_string()));
    }
    if let Some(p) = projection {
        builder = builder.with_projection(p);
    }
    builder.build_decoder().map_err(|e| e.to_string())
}

/// The Arrow type a column is served as: arrow-avro's, without Avro field metadata, and with
/// `null`-typed fields nullable.
pub(crate) fn clean_type(t: &DataType) -> DataType {
    match t {
        DataType::Struct(fields) => DataType::Struct(clean_fields(fields)),
        DataType::List(f) => DataType::List(clean_field(f)),
        DataType::LargeList(f) => DataType::LargeList(clean_field(f)),
        DataType::Map(f, sorted) => DataType::Map(clean_field(f), *sorted),
        DataType::Union(fields, mode) => DataType::Union(
            fields
                .iter()
                .map(|(id, f)| (id, clean_field(f)))
                .collect::<UnionFields>(),
            *mode,
        ),
        DataType::Dictionary(k, v) => DataType::Dictionary(k.clone(), Box::new(clean_type(v))),
        other => other.clone(),
    }
}

fn clean_field(f: &FieldRef) -> FieldRef {
    let t = clean_type(f.data_type());
    let nullable = f.is_nullable() || t == DataType::Null;
    Arc::new(Field::new(f.name(), t, nullable))
}

fn clean_fields(fields: &Fields) -> Fields {
    fields.iter().map(clean_field).collect()
}

pub(crate) fn clean_schema(s: &Schema) -> Schema {
    Schema::new(clean_fields(s.fields()))
}

fn relabel_list<O: OffsetSizeTrait>(a: &dyn Array, f: &FieldRef) -> Result<ArrayRef, ArrowError> {
    let l = a
        .as_any()
        .downcast_ref::<GenericListArray<O>>()
        .ok_or_else(|| ArrowError::CastError("not a list".into()))?;
    let values = relabel(l.values().clone(), f.data_type())?;
    Ok(Arc::new(GenericListArray::<O>::try_new(
        f.clone(),
        l.offsets().clone(),
        values,
        l.nulls().cloned(),
    )?))
}

/// `a` with the (structurally equal) type `to`: only field names, nullability flags and
/// metadata change, so buffers are shared, not copied.
pub(crate) fn relabel(a: ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    if a.data_type() == to {
        return Ok(a);
    }
    let mismatch = || ArrowError::CastError(format!("cannot serve {} as {to}", a.data_type()));
    match to {
        DataType::Struct(fields) => {
            let s = a
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(mismatch)?;
            let columns = s
                .columns()
                .iter()
                .zip(fields.iter())
                .map(|(c, f)| relabel(c.clone(), f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Arc::new(StructArray::try_new_with_length(
                fields.clone(),
                columns,
                s.nulls().cloned(),
                s.len(),
            )?))
        }
        DataType::List(f) => relabel_list::<i32>(a.as_ref(), f),
        DataType::LargeList(f) => relabel_list::<i64>(a.as_ref(), f),
        DataType::Map(entries, sorted) => {
            let m = a.as_any().downcast_ref::<MapArray>().ok_or_else(mismatch)?;
            let e = relabel(Arc::new(m.entries().clone()), entries.data_type())?;
            let e = e
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(mismatch)?
                .clone();
            Ok(Arc::new(MapArray::try_new(
                entries.clone(),
                m.offsets().clone(),
                e,
                m.nulls().cloned(),
                *sorted,
            )?))
        }
        DataType::Union(fields, _) => {
            let u = a
                .as_any()
                .downcast_ref::<UnionArray>()
                .ok_or_else(mismatch)?;
            let children = fields
                .iter()
                .map(|(id, f)| relabel(u.child(id).clone(), f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Arc::new(UnionArray::try_new(
                fields.clone(),
                u.type_ids().clone(),
                u.offsets().cloned(),
                children,
            )?))
        }
        // Dictionary values (enum symbols) and everything else carry no fields.
        _ => Err(mismatch()),
    }
}

/// Record batches of one partition, `batch_size` rows at most.
pub(crate) struct BatchReader {
    pub blocks: Blocks,
    pub decoder: Decoder,
    pub schema: SchemaRef,
    pub at: String,
    block: Vec<u8>,
    /// Decoded bytes and undecoded records of the current block.
    offset: usize,
    remaining: usize,
}

impl BatchReader {
    pub(crate) fn new(blocks: Blocks, decoder: Decoder, schema: SchemaRef, at: String) -> Self {
        BatchReader {
            blocks,
            decoder,
            schema,
            at,
            block: Vec::new(),
            offset: 0,
            remaining: 0,
        }
    }

    fn corrupt(&self, message: String) -> DriverError {
        DriverError::corrupt(&self.at, message)
    }

    pub(crate) async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.remaining == 0 {
                match self.blocks.next(&mut self.block).await? {
                    Some(count) => {
                        self.offset = 0;
                        self.remaining = count;
                        self.check_block_end()?;
                    }
                    None => return self.flush(),
                }
            }
            while self.remaining > 0 && !self.decoder.batch_is_full() {
                let rest = self.block.get(self.offset..).unwrap_or_default();
                let used = self.decoder.decode(rest).map_err(|e| {
                    self.corrupt(format!(
                        "a record of the block at byte {} does not decode with the file's \
                         schema: {e}",
                        self.blocks.block_at()
                    ))
                })?;
                self.offset += used;
                self.remaining -= 1;
            }
            self.check_block_end()?;
            if self.decoder.batch_is_full() {
                return self.flush();
            }
        }
    }

    /// A block's records must use exactly its bytes.
    fn check_block_end(&self) -> Result<()> {
        if self.remaining == 0 && self.offset != self.block.len() {
            return Err(self.corrupt(format!(
                "the block at byte {} has {} bytes after its last record",
                self.blocks.block_at(),
                self.block.len() - self.offset
            )));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        let Some(batch) = self
            .decoder
            .flush()
            .map_err(|e| self.corrupt(e.to_string()))?
        else {
            return Ok(None);
        };
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| relabel(c.clone(), f.data_type()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DriverError::Io(format!("`{}`: {e}", self.at)))?;
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map(Some)
        .map_err(|e| DriverError::Io(format!("`{}`: {e}", self.at)))
    }
}
