//! One object's bytes, decompressed on the fly, as a buffered reader; and Intake's
//! `compression` arg.

use std::io;
use std::pin::Pin;

use async_compression::tokio::bufread::{BzDecoder, GzipDecoder, XzDecoder, ZstdDecoder};
use futures::TryStreamExt;
use inlet_driver::storage::Files;
use inlet_driver::{DriverError, Result};
use object_store::{GetResultPayload, ObjectMeta};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt, BufReader};
use tokio_util::io::StreamReader;

/// Read buffer per open file.
pub const BUFFER: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Zstd,
    Bz2,
    Xz,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Bz2 => "bz2",
            Codec::Xz => "xz",
        }
    }
}

/// `compression`: a codec, `infer` (by extension) or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Infer,
    Off,
    Codec(Codec),
}

impl Compression {
    /// Intake passes `compression` to fsspec: `infer`, a codec name, or None. Absent is read
    /// as `infer` (a `.gz` file is always decompressed: its bytes are never what was meant).
    pub fn from_arg(value: Option<&str>) -> Result<Self> {
        Ok(match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("infer") => Compression::Infer,
            Some("none") => Compression::Off,
            Some("gzip" | "gz") => Compression::Codec(Codec::Gzip),
            Some("zstd" | "zst") => Compression::Codec(Codec::Zstd),
            Some("bz2" | "bzip2") => Compression::Codec(Codec::Bz2),
            Some("xz" | "lzma") => Compression::Codec(Codec::Xz),
            Some(other) => {
                return Err(DriverError::bad_arg(
                    "compression",
                    format!("`{other}` is not one of infer, gzip, zstd, bz2, xz"),
                ))
            }
        })
    }

    pub fn for_path(self, path: &str) -> Option<Codec> {
        match self {
            Compression::Off => None,
            Compression::Codec(c) => Some(c),
            Compression::Infer => {
                match path
                    .rsplit_once('.')
                    .map(|(_, e)| e.to_ascii_lowercase())
                    .as_deref()
                {
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

/// The path without a compression extension (`a.jsonl.gz` -> `a.jsonl`).
pub fn without_codec_extension(path: &str) -> &str {
    match path.rsplit_once('.') {
        Some((stem, ext))
            if matches!(
                ext.to_ascii_lowercase().as_str(),
                "gz" | "gzip" | "zst" | "zstd" | "bz2" | "xz"
            ) =>
        {
            stem
        }
        _ => path,
    }
}

pub type ByteReader = Pin<Box<dyn AsyncBufRead + Send>>;

/// An I/O error from the pipeline as a driver error: storage failures keep their kind, anything
/// else came from the decompressor and means the file is damaged.
pub fn io_error(at: &str, codec: Option<Codec>, e: io::Error) -> DriverError {
    if e.get_ref().is_some_and(|i| i.is::<object_store::Error>()) {
        if let Some(Ok(store)) = e.into_inner().map(|i| i.downcast::<object_store::Error>()) {
            return DriverError::from_store(at, *store);
        }
        return DriverError::Io(format!("`{at}`: storage error"));
    }
    match codec {
        Some(c) => DriverError::corrupt(
            at,
            format!(
                "cannot decompress as {}: {e} (truncated or not {} data?)",
                c.name(),
                c.name()
            ),
        ),
        None => DriverError::Io(format!("`{at}`: {e}")),
    }
}

/// Opens `meta` for streaming, decompressed (pinned to the listed version).
pub async fn open(files: &Files, meta: &ObjectMeta, codec: Option<Codec>) -> Result<ByteReader> {
    let got = files.get_pinned(meta, None).await?;
    let raw: ByteReader = match got.payload {
        GetResultPayload::File(file, _) => Box::pin(BufReader::with_capacity(
            BUFFER,
            tokio::fs::File::from_std(file),
        )),
        GetResultPayload::Stream(s) => Box::pin(StreamReader::new(s.map_err(io::Error::other))),
    };
    let plain: Pin<Box<dyn AsyncRead + Send>> = match codec {
        None => raw,
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
    Ok(Box::pin(BufReader::with_capacity(BUFFER, plain)))
}

/// The whole (decompressed) content of `meta`, refused beyond `max` bytes.
pub async fn read_all(
    files: &Files,
    meta: &ObjectMeta,
    codec: Option<Codec>,
    max: u64,
) -> Result<Vec<u8>> {
    let at = files.display(meta);
    let mut reader = open(files, meta, codec).await?;
    let mut out = vec![];
    (&mut reader)
        .take(max + 1)
        .read_to_end(&mut out)
        .await
        .map_err(|e| io_error(&at, codec, e))?;
    if out.len() as u64 > max {
        return Err(DriverError::Unsupported(format!(
            "`{at}` holds more than {} of JSON: a JSON document is read whole and at most \
             that is; newline-delimited JSON streams at any size (`lines: true`, or a .jsonl file)",
            inlet_geo::document::size(max)
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_args_and_extensions() {
        let infer = Compression::from_arg(None).expect("default");
        assert_eq!(infer.for_path("a/b.jsonl.gz"), Some(Codec::Gzip));
        assert_eq!(infer.for_path("a/b.json"), None);
        assert_eq!(
            Compression::from_arg(Some("bz2"))
                .expect("bz2")
                .for_path("x.json"),
            Some(Codec::Bz2)
        );
        assert!(Compression::from_arg(Some("snappy")).is_err());
        assert_eq!(without_codec_extension("a.ndjson.zst"), "a.ndjson");
        assert_eq!(without_codec_extension("a.json"), "a.json");
    }
}
