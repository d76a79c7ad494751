//! Decoding one strip or tile: decompression (none, LZW, deflate, zstd, PackBits — what GDAL
//! and rasterio write, and what COGs use), then byte order and predictors 2 (horizontal
//! differencing) and 3 (floating point). Done here rather than by the `tiff` crate's chunk
//! reader, whose LZW path fails on some partial edge tiles that GDAL writes ("no lzw end code
//! found" on valid data); the `tiff` crate still parses the headers.

use std::io::Read;

/// How a file's chunks are encoded.
#[derive(Debug, Clone)]
pub struct Codec {
    pub compression: u16,
    pub predictor: u16,
    pub big_endian: bool,
    /// Bytes per sample.
    pub size: usize,
}

/// The compressions [`decode`] reads.
pub fn supported(compression: u16) -> bool {
    matches!(compression, 1 | 5 | 8 | 32946 | 50000 | 32773)
}

/// At most `want` bytes of `data`, decompressed (a corrupt or hostile chunk cannot expand
/// beyond the chunk's size).
fn decompress(compression: u16, data: &[u8], want: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(want);
    let limit = want as u64;
    match compression {
        1 => out.extend_from_slice(&data[..data.len().min(want)]),
        5 => {
            out.resize(want, 0);
            let mut dec = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
            let (mut i, mut o) = (0, 0);
            loop {
                let r = dec.decode_bytes(&data[i..], &mut out[o..]);
                i += r.consumed_in;
                o += r.consumed_out;
                match r.status {
                    Ok(weezl::LzwStatus::Ok) if o < want => continue,
                    Ok(_) => break,
                    Err(e) => return Err(format!("LZW: {e}")),
                }
            }
            out.truncate(o);
        }
        8 | 32946 => {
            flate2::read::ZlibDecoder::new(data)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| format!("deflate: {e}"))?;
        }
        50000 => {
            zstd::stream::read::Decoder::new(data)
                .map_err(|e| format!("zstd: {e}"))?
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| format!("zstd: {e}"))?;
        }
        32773 => packbits(data, want, &mut out),
        other => return Err(format!("TIFF compression {other} is not supported")),
    }
    Ok(out)
}

fn packbits(data: &[u8], want: usize, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < data.len() && out.len() < want {
        let n = data[i] as i8;
        i += 1;
        if n >= 0 {
            let end = (i + n as usize + 1).min(data.len());
            out.extend_from_slice(&data[i..end]);
            i = end;
        } else if n != -128 {
            if let Some(b) = data.get(i) {
                out.extend(std::iter::repeat_n(*b, (1 - n as isize) as usize));
            }
            i += 1;
        }
    }
    out.truncate(want);
}

/// Undoes horizontal differencing on one row of native-endian samples.
fn horizontal(row: &mut [u8], size: usize, spc: usize) {
    macro_rules! undo {
        ($t:ty) => {{
            let stride = spc * size;
            for i in (stride..row.len()).step_by(size) {
                let prev = <$t>::from_ne_bytes(
                    row[i - stride..i - stride + size]
                        .try_into()
                        .unwrap_or_default(),
                );
                let cur = <$t>::from_ne_bytes(row[i..i + size].try_into().unwrap_or_default());
                row[i..i + size].copy_from_slice(&cur.wrapping_add(prev).to_ne_bytes());
            }
        }};
    }
    match size {
        1 => undo!(u8),
        2 => undo!(u16),
        4 => undo!(u32),
        _ => undo!(u64),
    }
}

/// Undoes the floating-point predictor on one row: byte differencing, then the byte planes
/// (most significant first) back into native-endian values.
fn floating(row: &mut [u8], size: usize, spc: usize) {
    for i in spc..row.len() {
        row[i] = row[i].wrapping_add(row[i - spc]);
    }
    let n = row.len() / size;
    let planes = row.to_vec();
    for v in 0..n {
        let mut be = [0u8; 8];
        for (b, byte) in be.iter_mut().enumerate().take(size) {
            *byte = planes[b * n + v];
        }
        let value = &be[..size];
        let dst = &mut row[v * size..(v + 1) * size];
        // `value` is big-endian: reversed on little-endian hosts.
        if cfg!(target_endian = "little") {
            for (d, s) in dst.iter_mut().zip(value.iter().rev()) {
                *d = *s;
            }
        } else {
            dst.copy_from_slice(value);
        }
    }
}

/// Decodes a chunk of `rows` rows of `width` pixels of `spc` samples into native-endian
/// samples, row-major.
pub fn decode(
    c: &Codec,
    data: &[u8],
    width: usize,
    rows: usize,
    spc: usize,
) -> Result<Vec<u8>, String> {
    let row_bytes = width * spc * c.size;
    let want = row_bytes * rows;
    let mut out = decompress(c.compression, data, want)?;
    if out.len() < want {
        return Err(format!(
            "decompressed to {} bytes, expected {want} ({width}x{rows} pixels)",
            out.len()
        ));
    }
    if c.predictor == 3 {
        // Byte planes are big-endian whatever the file's byte order.
        for row in out.chunks_exact_mut(row_bytes.max(1)) {
            floating(row, c.size, spc);
        }
        return Ok(out);
    }
    let swap = c.size > 1 && c.big_endian == cfg!(target_endian = "little");
    if swap {
        for v in out.chunks_exact_mut(c.size) {
            v.reverse();
        }
    }
    match c.predictor {
        1 => {}
        2 => {
            for row in out.chunks_exact_mut(row_bytes.max(1)) {
                horizontal(row, c.size, spc);
            }
        }
        other => return Err(format!("TIFF predictor {other} is not supported")),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictors_and_packbits() {
        let c = Codec {
            compression: 1,
            predictor: 2,
            big_endian: false,
            size: 2,
        };
        let row: Vec<u8> = [10u16, 1, 2, 65535]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let got = decode(&c, &row, 4, 1, 1).expect("decode");
        let want: Vec<u8> = [10u16, 11, 13, 12]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert_eq!(got, want, "differences add up, wrapping");
        // Two f32 values 1.0 and 2.0: planes of big-endian bytes, then byte differences.
        let (a, b) = (1.0f32.to_be_bytes(), 2.0f32.to_be_bytes());
        let planes = [a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3]];
        let mut enc = planes.to_vec();
        for i in (1..enc.len()).rev() {
            enc[i] = enc[i].wrapping_sub(enc[i - 1]);
        }
        let f = Codec {
            predictor: 3,
            size: 4,
            ..c
        };
        let got = decode(&f, &enc, 2, 1, 1).expect("decode");
        let want: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(got, want);
        let mut out = vec![];
        packbits(&[2, 1, 2, 3, 0xfe, 9], 6, &mut out);
        assert_eq!(out, [1, 2, 3, 9, 9, 9]);
    }
}
