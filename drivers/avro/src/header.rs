//! The object container header (magic, metadata map, sync marker) and the block codecs.
//!
//! Headers are read with ranged GETs from the start of the object, never touching data blocks.

use std::io::Read;

use inlet_driver::storage::Files;
use inlet_driver::{DriverError, Result};
use object_store::{ObjectMeta, ObjectStoreExt};

const MAGIC: &[u8; 4] = b"Obj\x01";
/// The first read; most headers (the schema JSON, a few keys) fit.
const FIRST_READ: u64 = 64 * 1024;
/// A header larger than this is not a header.
const MAX_HEADER: u64 = 64 * 1024 * 1024;
/// A decompressed block larger than this is refused rather than allocated.
pub(crate) const MAX_BLOCK: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Null,
    Deflate,
    Snappy,
    Zstandard,
    Bzip2,
    Xz,
}

impl Codec {
    fn parse(name: &str, at: &str) -> Result<Codec> {
        Ok(match name {
            "null" => Codec::Null,
            "deflate" => Codec::Deflate,
            "snappy" => Codec::Snappy,
            "zstandard" => Codec::Zstandard,
            "bzip2" => Codec::Bzip2,
            "xz" => Codec::Xz,
            other => {
                return Err(DriverError::Unsupported(format!(
                    "`{at}` is compressed with the Avro codec `{other}`; supported codecs: \
                     null, deflate, snappy, zstandard, bzip2, xz"
                )))
            }
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::Null => "null",
            Codec::Deflate => "deflate",
            Codec::Snappy => "snappy",
            Codec::Zstandard => "zstandard",
            Codec::Bzip2 => "bzip2",
            Codec::Xz => "xz",
        }
    }

    /// Decompresses one block into `out` (cleared first). The error is a message for Corrupt.
    pub(crate) fn decompress(self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        out.clear();
        let read_all = |r: &mut dyn Read, out: &mut Vec<u8>| -> Result<(), String> {
            let n = r
                .take(MAX_BLOCK + 1)
                .read_to_end(out)
                .map_err(|e| e.to_string())?;
            if n as u64 > MAX_BLOCK {
                return Err(format!(
                    "a block decompresses to more than {MAX_BLOCK} bytes"
                ));
            }
            Ok(())
        };
        match self {
            Codec::Null => {
                out.extend_from_slice(input);
                Ok(())
            }
            Codec::Deflate => read_all(&mut flate2::read::DeflateDecoder::new(input), out),
            Codec::Zstandard => {
                let mut d =
                    zstd::stream::read::Decoder::with_buffer(input).map_err(|e| e.to_string())?;
                read_all(&mut d, out)
            }
            Codec::Bzip2 => read_all(&mut bzip2::read::BzDecoder::new(input), out),
            Codec::Xz => read_all(&mut liblzma::read::XzDecoder::new(input), out),
            Codec::Snappy => {
                // Raw snappy followed by the big-endian CRC-32 of the uncompressed bytes.
                let split = input
                    .len()
                    .checked_sub(4)
                    .ok_or("a snappy block shorter than its checksum")?;
                let (data, crc) = input.split_at(split);
                let len = snap::raw::decompress_len(data).map_err(|e| e.to_string())?;
                if len as u64 > MAX_BLOCK {
                    return Err(format!(
                        "a block decompresses to more than {MAX_BLOCK} bytes"
                    ));
                }
                out.resize(len, 0);
                snap::raw::Decoder::new()
                    .decompress(data, out)
                    .map_err(|e| e.to_string())?;
                let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
                if crc32fast::hash(out) != want {
                    return Err("snappy block checksum mismatch".into());
                }
                Ok(())
            }
        }
    }
}

/// What a file's header says.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// The writer schema, as JSON text.
    pub schema: String,
    pub codec: Codec,
    pub sync: [u8; 16],
    /// Bytes up to and including the sync marker: where the first block starts.
    pub len: u64,
}

/// A zig-zag varint (Avro `long`) at `buf[*pos..]`; None when the bytes end first.
pub(crate) fn varint(buf: &[u8], pos: &mut usize) -> Option<Result<i64, String>> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return Some(Err("a varint longer than 64 bits".into()));
        }
        value |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Some(Ok(((value >> 1) as i64) ^ -((value & 1) as i64)));
        }
    }
    Some(Err("a varint longer than 10 bytes".into()))
}

enum Parsed {
    Done(Header),
    NeedMore,
}

/// Parses a header from the start of a file; `NeedMore` when `buf` ends inside it.
fn parse(buf: &[u8], at: &str) -> Result<Parsed> {
    let corrupt = |m: String| DriverError::corrupt(at, m);
    if buf.len() < MAGIC.len() {
        return Ok(Parsed::NeedMore);
    }
    if &buf[..4] != MAGIC {
        return Err(corrupt(
            "not an Avro object container file (it does not start with `Obj\\x01`)".into(),
        ));
    }
    let mut pos = 4;
    let (mut schema, mut codec) = (None, None);
    macro_rules! next {
        () => {
            match varint(buf, &mut pos) {
                None => return Ok(Parsed::NeedMore),
                Some(v) => v.map_err(|m| corrupt(format!("bad header: {m}")))?,
            }
        };
    }
    loop {
        let mut count = next!();
        if count == 0 {
            break;
        }
        if count < 0 {
            // A negative count is followed by the block's size in bytes, which we do not need.
            count = count
                .checked_neg()
                .ok_or_else(|| corrupt("bad header map".into()))?;
            let _ = next!();
        }
        for _ in 0..count {
            let Some(key) = bytes(buf, &mut pos, at)? else {
                return Ok(Parsed::NeedMore);
            };
            let Some(value) = bytes(buf, &mut pos, at)? else {
                return Ok(Parsed::NeedMore);
            };
            match key {
                b"avro.schema" => schema = Some(value.to_vec()),
                b"avro.codec" => codec = Some(value.to_vec()),
                _ => {}
            }
        }
    }
    let Some(sync) = buf.get(pos..pos + 16) else {
        return Ok(Parsed::NeedMore);
    };
    let mut marker = [0u8; 16];
    marker.copy_from_slice(sync);
    let schema = schema.ok_or_else(|| corrupt("the header has no `avro.schema`".into()))?;
    let schema = String::from_utf8(schema)
        .map_err(|_| corrupt("the header's `avro.schema` is not UTF-8".into()))?;
    let codec = match codec {
        None => Codec::Null,
        Some(c) => Codec::parse(&String::from_utf8_lossy(&c), at)?,
    };
    Ok(Parsed::Done(Header {
        schema,
        codec,
        sync: marker,
        len: (pos + 16) as u64,
    }))
}

/// A length-prefixed byte string; None when the bytes end first.
fn bytes<'a>(buf: &'a [u8], pos: &mut usize, at: &str) -> Result<Option<&'a [u8]>> {
    let len = match varint(buf, pos) {
        None => return Ok(None),
        Some(Err(m)) => return Err(DriverError::corrupt(at, format!("bad header: {m}"))),
        Some(Ok(n)) => usize::try_from(n)
            .map_err(|_| DriverError::corrupt(at, format!("bad header: negative length {n}")))?,
    };
    let Some(out) = pos.checked_add(len).and_then(|end| buf.get(*pos..end)) else {
        return Ok(None);
    };
    *pos += len;
    Ok(Some(out))
}

/// Reads the header of `meta`, fetching more of the file only when the first read was short.
pub(crate) async fn read(files: &Files, meta: &ObjectMeta) -> Result<Header> {
    let at = files.display(meta);
    let mut want = FIRST_READ.min(meta.size);
    loop {
        let bytes = files
            .store
            .get_range(&meta.location, 0..want)
            .await
            .map_err(|e| DriverError::from_store(&at, e))?;
        match parse(&bytes, &at)? {
            Parsed::Done(h) => return Ok(h),
            Parsed::NeedMore if want < meta.size && want < MAX_HEADER => {
                want = (want * 4).min(meta.size).min(MAX_HEADER);
            }
            Parsed::NeedMore => {
                return Err(DriverError::corrupt(
                    &at,
                    if meta.size < MAX_HEADER {
                        "the file ends inside its Avro header (truncated?)".to_string()
                    } else {
                        format!("no Avro header within the first {MAX_HEADER} bytes")
                    },
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_zigzag_and_refuse_overlong_input() {
        let mut pos = 0;
        assert_eq!(varint(&[0x03], &mut pos), Some(Ok(-2)));
        let mut pos = 0;
        assert_eq!(varint(&[0x80, 0x01], &mut pos), Some(Ok(64)));
        let mut pos = 0;
        assert_eq!(varint(&[0x80], &mut pos), None, "ends inside");
        let mut pos = 0;
        assert!(matches!(varint(&[0xFF; 11], &mut pos), Some(Err(_))));
    }

    #[test]
    fn headers_parse_and_defects_are_typed() {
        let mut h = b"Obj\x01\x02\x16avro.schema\x0c\"long\"\x00".to_vec();
        h.extend_from_slice(&[7u8; 16]);
        let Ok(Parsed::Done(p)) = parse(&h, "f") else {
            panic!("parses")
        };
        assert_eq!(
            (p.schema.as_str(), p.codec, p.len),
            ("\"long\"", Codec::Null, 41)
        );
        assert!(matches!(parse(&h[..20], "f"), Ok(Parsed::NeedMore)));
        assert!(matches!(
            parse(b"PAR1....", "f"),
            Err(DriverError::Corrupt { .. })
        ));
        let mut odd = b"Obj\x01\x02\x14avro.codec\x06lz5\x00".to_vec();
        odd.extend_from_slice(&[7u8; 16]);
        assert!(
            matches!(parse(&odd, "f"), Err(DriverError::Corrupt { .. })),
            "no schema"
        );
        let mut lz5 = b"Obj\x01\x04\x16avro.schema\x0c\"long\"\x14avro.codec\x06lz5\x00".to_vec();
        lz5.extend_from_slice(&[7u8; 16]);
        assert!(matches!(parse(&lz5, "f"), Err(DriverError::Unsupported(m)) if m.contains("lz5")));
        assert!(
            Codec::Snappy.decompress(b"ab", &mut vec![]).is_err(),
            "no panic on short input"
        );
    }
}
