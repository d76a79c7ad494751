//! Files as other writers make them (Spark's INT96 timestamps, older parquet-rs footers), written
//! byte for byte the way those writers do, read through the driver.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, Int32Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};
use inlet_driver::testing::{collect, context, fixtures};
use inlet_driver::{Driver, ReadRequest, Source};
use inlet_parquet::ParquetDriver;
use parquet::arrow::ArrowWriter;
use parquet::data_type::{Int32Type as PqInt32, Int96, Int96Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::json;

async fn open(path: &std::path::Path) -> Arc<dyn Source> {
    let args = json!({ "urlpath": path.to_str().expect("utf-8 path") });
    let args = serde_json::from_value(args).expect("object");
    ParquetDriver.open(&args, &context()).await.expect("open")
}

async fn read(source: &Arc<dyn Source>) -> RecordBatch {
    let d = source.discover().await.expect("discover");
    collect(
        d.schema.clone(),
        source.read(ReadRequest::default()).await.expect("read"),
    )
    .await
}

fn at(date: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S%.f").expect("datetime")
}

/// Spark's INT96: nanoseconds of the day, then the Julian day number.
fn int96(t: NaiveDateTime) -> Int96 {
    const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("date");
    let day = (t.date() - epoch).num_days() + UNIX_EPOCH_JULIAN_DAY;
    let nanos = (t.time() - chrono::NaiveTime::MIN)
        .num_nanoseconds()
        .expect("nanoseconds of a day");
    let mut v = Int96::new();
    v.set_data(nanos as u32, (nanos >> 32) as u32, day as u32);
    v
}

#[tokio::test]
async fn int96_timestamps_outside_the_nanosecond_range_do_not_wrap() {
    let dir = tempfile::tempdir_in(fixtures()).expect("tempdir");
    let path = dir.path().join("spark.parquet");
    let times = [
        at("1000-01-01T00:00:00"),
        at("2020-06-15T12:34:56.789012"),
        at("9999-12-31T23:59:59.999999"),
    ];
    let schema =
        parse_message_type("message spark_schema { optional int96 ts; required int32 id; }")
            .expect("schema");
    let file = std::fs::File::create(&path).expect("create");
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), props).expect("writer");
    let mut group = writer.next_row_group().expect("row group");
    let mut ts = group.next_column().expect("column").expect("ts");
    let values: Vec<Int96> = times.iter().map(|t| int96(*t)).collect();
    // Four rows, the third null.
    ts.typed::<Int96Type>()
        .write_batch(&values, Some(&[1, 1, 0, 1]), None)
        .expect("write ts");
    ts.close().expect("close ts");
    let mut id = group.next_column().expect("column").expect("id");
    id.typed::<PqInt32>()
        .write_batch(&[0, 1, 2, 3], None, None)
        .expect("write id");
    id.close().expect("close id");
    group.close().expect("close row group");
    writer.close().expect("close file");

    let source = open(&path).await;
    let d = source.discover().await.expect("discover");
    assert_eq!(
        d.schema.field_with_name("ts").expect("ts").data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    let batch = read(&source).await;
    let ts = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    let want = [
        Some(times[0].and_utc().timestamp_micros()),
        Some(times[1].and_utc().timestamp_micros()),
        None,
        Some(times[2].and_utc().timestamp_micros()),
    ];
    let got: Vec<Option<i64>> = (0..ts.len())
        .map(|i| ts.is_valid(i).then(|| ts.value(i)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        batch
            .column(1)
            .as_primitive::<Int32Type>()
            .values()
            .to_vec(),
        vec![0, 1, 2, 3]
    );
}

/// Older parquet-rs wrote `num_rows: 0` in the file metadata while its row groups held the rows.
/// The file is written normally, then that one field is set to 0 in the footer's Thrift bytes.
#[tokio::test]
async fn a_footer_row_count_that_disagrees_with_the_row_groups_loses_no_rows() {
    let dir = tempfile::tempdir_in(fixtures()).expect("tempdir");
    let path = dir.path().join("old-parquet-rs.parquet");
    let ids = Int32Array::from_iter_values(0..300);
    let batch = RecordBatch::try_from_iter([("id", Arc::new(ids) as _)]).expect("batch");
    let mut bytes = vec![];
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    // FileMetaData field 3 (`num_rows`, i64) comes right after the schema list: compact
    // protocol header 0x16, then 300 as a zigzag varint (0xD8 0x04). Rewritten as 0 in two
    // bytes (0x80 0x00, a varint with a continuation byte), the footer keeps its length.
    let footer_len = u32::from_le_bytes(
        bytes[bytes.len() - 8..bytes.len() - 4]
            .try_into()
            .expect("4 bytes"),
    );
    let footer_start = bytes.len() - 8 - footer_len as usize;
    let at = bytes[footer_start..]
        .windows(3)
        .position(|w| w == [0x16, 0xD8, 0x04])
        .expect("the file-level num_rows")
        + footer_start;
    bytes[at + 1..at + 3].copy_from_slice(&[0x80, 0x00]);
    std::fs::write(&path, &bytes).expect("write file");
    let footer = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&bytes::Bytes::from(bytes))
        .expect("footer");
    assert_eq!(footer.file_metadata().num_rows(), 0, "the patch took");

    let source = open(&path).await;
    let d = source.discover().await.expect("discover");
    assert_eq!(d.total_rows, Some(300));
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("old-parquet-rs.parquet") && w.contains("footer says 0 rows")),
        "{:?}",
        d.warnings
    );
    assert_eq!(read(&source).await.num_rows(), 300);
}

/// A file replaced after its footer was read: every range is read `If-Match` the listed ETag,
/// so the read is `Changed` instead of the old footer's row count over the new file's pages.
#[tokio::test]
async fn a_file_replaced_after_discovery_is_changed_not_misread() {
    let dir = tempfile::tempdir_in(fixtures()).expect("tempdir");
    let path = dir.path().join("replaced.parquet");
    let write = |n: i32| {
        let ids = Int32Array::from_iter_values(0..n);
        let batch = RecordBatch::try_from_iter([("id", Arc::new(ids) as _)]).expect("batch");
        let file = std::fs::File::create(&path).expect("create");
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    };
    write(4_000_000);
    let source = open(&path).await;
    assert_eq!(
        source.discover().await.expect("discover").total_rows,
        Some(4_000_000)
    );
    write(6_000_000);
    let e = match source.read(ReadRequest::default()).await {
        Err(e) => e,
        Ok(stream) => {
            use futures::TryStreamExt;
            stream
                .try_collect::<Vec<_>>()
                .await
                .expect_err("a read of a replaced file")
        }
    };
    assert!(matches!(&e, inlet_driver::DriverError::Changed(_)), "{e}");
}
