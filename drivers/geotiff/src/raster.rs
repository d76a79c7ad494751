//! One GeoTIFF's first image (full resolution): its layout (size, bands, sample type, strips
//! or tiles and where each chunk lies, how they are encoded) and its georeferencing. Only the
//! header is fetched: the first 16 KiB, then whatever the IFDs and their out-of-line values
//! point at, in growing ranges.

use std::sync::Arc;

use arrow_schema::DataType;
use bytes::Bytes;
use inlet_driver::storage::Files;
use inlet_driver::{DriverError, Result};
use object_store::{GetRange, ObjectMeta};
use serde_json::{json, Value as J};
use tiff::decoder::Decoder;
use tiff::tags::Tag;
use tiff::{TiffError, TiffResult};

use crate::codec::{self, Codec};
use crate::geo::{self, Geo};
use crate::sparse::{Missing, Ranges, SparseFile};

/// The first request for a header; GDAL and COG headers usually fit.
const FIRST_FETCH: u64 = 16 * 1024;
/// Header round trips before giving up (each one at least doubles what is fetched).
const MAX_ROUND_TRIPS: usize = 24;
/// IFDs walked after the first, to count overviews.
const MAX_IFDS: usize = 64;
/// A strip or tile is decoded whole: one bigger than this is refused rather than allocated.
const MAX_CHUNK_BYTES: u64 = 256 * 1024 * 1024;
/// Pixels along one side (coordinates are computed per row and column).
const MAX_SIDE: u64 = 1 << 24;

#[derive(Debug, Clone, PartialEq)]
pub struct Dtype {
    pub arrow: DataType,
    pub size: usize,
}

/// One file's full-resolution image.
#[derive(Debug)]
pub struct Raster {
    pub meta: ObjectMeta,
    pub display: String,
    pub width: u64,
    pub height: u64,
    pub samples: usize,
    pub dtype: Dtype,
    /// PlanarConfiguration 2: each band's chunks stored apart (`interleave="band"`).
    pub planar: bool,
    pub tiled: bool,
    pub chunk_w: u64,
    pub chunk_h: u64,
    pub offsets: Vec<u64>,
    pub counts: Vec<u64>,
    pub geo: Geo,
    pub codec: Codec,
    pub info: J,
}

impl Raster {
    pub fn chunks_across(&self) -> u64 {
        self.width.div_ceil(self.chunk_w)
    }

    pub fn chunks_down(&self) -> u64 {
        self.height.div_ceil(self.chunk_h)
    }

    /// The chunk holding (`plane`, chunk row `row`, chunk column `col`); `plane` is the band
    /// for planar files and 0 otherwise.
    pub fn chunk_index(&self, plane: usize, row: u64, col: u64) -> usize {
        let per_plane = self.chunks_across() * self.chunks_down();
        (plane as u64 * per_plane + row * self.chunks_across() + col) as usize
    }

    /// Samples stored in each chunk (all bands interleaved, or one).
    pub fn samples_per_chunk(&self) -> usize {
        if self.planar {
            1
        } else {
            self.samples
        }
    }
}

fn limits() -> tiff::decoder::Limits {
    let mut l = tiff::decoder::Limits::default();
    // Offsets of a big COG's tiles exceed the 1 MiB default; a chunk is bounded separately.
    l.ifd_value_size = 256 * 1024 * 1024;
    l
}

pub fn decoder(r: SparseFile) -> TiffResult<Decoder<SparseFile>> {
    Ok(Decoder::new(r)?.with_limits(limits()))
}

/// GETs `range` of the file as listed (pinned to its ETag).
pub async fn fetch(files: &Files, meta: &ObjectMeta, range: std::ops::Range<u64>) -> Result<Bytes> {
    let what = files.display(meta);
    files
        .get_pinned(meta, Some(GetRange::Bounded(range)))
        .await?
        .bytes()
        .await
        .map_err(|e| DriverError::from_store(&what, e))
}

/// What other formats start with, to say what a file is when it is not a TIFF.
fn sniff(head: &[u8]) -> Option<&'static str> {
    let kinds: [(&[u8], &str); 7] = [
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"BM", "a BMP image"),
        (b"\x89HDF", "an HDF5/netCDF-4 file"),
        (b"CDF", "a netCDF-3 file"),
        (b"PK\x03\x04", "a ZIP archive"),
    ];
    kinds
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, what)| *what)
}

/// Opens the file's header: fetches and parses until the decoder needs nothing more.
pub async fn open(files: &Files, meta: &ObjectMeta) -> Result<Raster> {
    let display = files.display(meta);
    let size = meta.size;
    let mut header = Ranges::default();
    let mut next = FIRST_FETCH;
    let first = fetch(files, meta, 0..FIRST_FETCH.min(size)).await?;
    if !(first.starts_with(b"II") || first.starts_with(b"MM")) {
        let what = sniff(&first).unwrap_or("not a TIFF file");
        return Err(DriverError::Unsupported(format!(
            "`{display}` is {what}: this driver reads TIFF and GeoTIFF (COG included) only"
        )));
    }
    header.insert(0, first);
    for _ in 0..MAX_ROUND_TRIPS {
        let missing = Missing::default();
        let shared = Arc::new(header.clone());
        let parsed = parse(SparseFile::new(shared.clone(), size, missing.clone()));
        match (parsed, missing.take()) {
            (Ok(layout), _) => {
                let big_endian = shared.slice(0, 2).is_some_and(|b| b.as_ref() == b"MM");
                return layout.into_raster(meta.clone(), display, big_endian);
            }
            (Err(_), Some(pos)) => {
                let end = (pos + next).min(size);
                let bytes = fetch(files, meta, pos..end).await?;
                header.insert(pos, bytes);
                next = next.saturating_mul(2);
            }
            (Err(e), None) => return Err(tiff_error(&display, "header", e)),
        }
    }
    Err(DriverError::corrupt(
        display,
        format!("its header was not complete after {MAX_ROUND_TRIPS} range reads"),
    ))
}

/// A decoder error as a driver error naming the file and `part` (header, chunk N).
pub fn tiff_error(display: &str, part: &str, e: TiffError) -> DriverError {
    match e {
        TiffError::UnsupportedError(u) => {
            DriverError::Unsupported(format!("`{display}` ({part}): {u}"))
        }
        other => DriverError::corrupt(format!("{display} ({part})"), other),
    }
}

/// The tags, before the checks that need the file's name.
struct Layout {
    width: u64,
    height: u64,
    samples: usize,
    bits: Vec<u16>,
    formats: Vec<u16>,
    planar: bool,
    tiled: bool,
    chunk_w: u64,
    chunk_h: u64,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    compression: u16,
    predictor: u16,
    photometric: u16,
    overviews: usize,
    geo: Geo,
}

fn parse(r: SparseFile) -> TiffResult<Layout> {
    let mut d = decoder(r)?;
    let (width, height) = d.dimensions()?;
    // Refuses what the decoder cannot unpack (palettes, CIELab) before any chunk is read.
    d.colortype()?;
    let samples = d
        .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)?
        .unwrap_or(1);
    let bits = d
        .find_tag_unsigned_vec::<u16>(Tag::BitsPerSample)?
        .unwrap_or(vec![1]);
    let formats = d
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)?
        .unwrap_or(vec![1]);
    let planar = d.find_tag_unsigned::<u16>(Tag::PlanarConfiguration)? == Some(2);
    let tile_w = d.find_tag_unsigned::<u32>(Tag::TileWidth)?;
    let tile_h = d.find_tag_unsigned::<u32>(Tag::TileLength)?;
    let (tiled, chunk_w, chunk_h, offsets, counts) = match (tile_w, tile_h) {
        (Some(w), Some(h)) => (
            true,
            w,
            h,
            d.get_tag_u64_vec(Tag::TileOffsets)?,
            d.get_tag_u64_vec(Tag::TileByteCounts)?,
        ),
        _ => {
            let rows = d
                .find_tag_unsigned::<u32>(Tag::RowsPerStrip)?
                .unwrap_or(height)
                .min(height);
            (
                false,
                width,
                rows,
                d.get_tag_u64_vec(Tag::StripOffsets)?,
                d.get_tag_u64_vec(Tag::StripByteCounts)?,
            )
        }
    };
    let compression = d.find_tag_unsigned::<u16>(Tag::Compression)?.unwrap_or(1);
    let predictor = d.find_tag_unsigned::<u16>(Tag::Predictor)?.unwrap_or(1);
    let photometric = d
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)?
        .unwrap_or(1);
    let geo = geo::read(&mut d)?;
    let mut overviews = 0;
    for _ in 0..MAX_IFDS {
        if !d.more_images() {
            break;
        }
        d.next_image()?;
        // NewSubfileType bit 0: a reduced-resolution copy (masks have bit 2 as well).
        let kind = d
            .find_tag_unsigned::<u32>(Tag::NewSubfileType)?
            .unwrap_or(0);
        if kind & 1 == 1 && kind & 4 == 0 {
            overviews += 1;
        }
    }
    Ok(Layout {
        width: u64::from(width),
        height: u64::from(height),
        samples: usize::from(samples.max(1)),
        bits,
        formats,
        planar,
        tiled,
        chunk_w: u64::from(chunk_w.max(1)),
        chunk_h: u64::from(chunk_h.max(1)),
        offsets,
        counts,
        compression,
        predictor,
        photometric,
        overviews,
        geo,
    })
}

fn compression_name(c: u16) -> String {
    match c {
        1 => "none".into(),
        5 => "lzw".into(),
        7 => "jpeg".into(),
        8 | 32946 => "deflate".into(),
        32773 => "packbits".into(),
        50000 => "zstd".into(),
        other => format!("tiff compression {other}"),
    }
}

fn dtype(bits: u16, format: u16) -> Option<Dtype> {
    let arrow = match (format, bits) {
        (1, 8) => DataType::UInt8,
        (1, 16) => DataType::UInt16,
        (1, 32) => DataType::UInt32,
        (1, 64) => DataType::UInt64,
        (2, 8) => DataType::Int8,
        (2, 16) => DataType::Int16,
        (2, 32) => DataType::Int32,
        (2, 64) => DataType::Int64,
        (3, 32) => DataType::Float32,
        (3, 64) => DataType::Float64,
        _ => return None,
    };
    Some(Dtype {
        arrow,
        size: usize::from(bits / 8),
    })
}

impl Layout {
    fn into_raster(self, meta: ObjectMeta, display: String, big_endian: bool) -> Result<Raster> {
        let unsupported = |what: String| DriverError::Unsupported(format!("`{display}`: {what}"));
        let (bits, format) = (self.bits[0], self.formats[0]);
        if self.bits.iter().any(|b| *b != bits) || self.formats.iter().any(|f| *f != format) {
            return Err(unsupported(format!(
                "bands of different sample types ({:?} bits, formats {:?})",
                self.bits, self.formats
            )));
        }
        let dtype = dtype(bits, format).ok_or_else(|| {
            unsupported(format!(
                "{bits}-bit samples of format {format} (supported: 8/16/32/64-bit integers, 32/64-bit floats)"
            ))
        })?;
        if !codec::supported(self.compression) {
            return Err(unsupported(format!(
                "{} compression (supported: none, LZW, deflate, zstd, PackBits)",
                compression_name(self.compression)
            )));
        }
        if !matches!(self.predictor, 1..=3) {
            return Err(unsupported(format!("TIFF predictor {}", self.predictor)));
        }
        if self.geo.rotated() {
            return Err(unsupported(
                "a rotated or sheared transform (rioxarray gives 2-D x/y coordinates then)".into(),
            ));
        }
        if self.width > MAX_SIDE || self.height > MAX_SIDE || self.width == 0 || self.height == 0 {
            return Err(unsupported(format!(
                "{}x{} pixels (at most {MAX_SIDE} a side, at least 1)",
                self.width, self.height
            )));
        }
        let spc = if self.planar { 1 } else { self.samples as u64 };
        let chunk_bytes = self
            .chunk_w
            .saturating_mul(self.chunk_h)
            .saturating_mul(spc)
            .saturating_mul(dtype.size as u64);
        if chunk_bytes > MAX_CHUNK_BYTES {
            return Err(unsupported(format!(
                "its {} of {}x{} pixels decode to {} MiB each; the driver decodes at most {} MiB at once \
                 (rewrite it tiled: gdal_translate -co TILED=YES)",
                if self.tiled { "tiles" } else { "strips" },
                self.chunk_w,
                self.chunk_h,
                chunk_bytes >> 20,
                MAX_CHUNK_BYTES >> 20
            )));
        }
        let per_plane = self.width.div_ceil(self.chunk_w) * self.height.div_ceil(self.chunk_h);
        let planes = if self.planar { self.samples as u64 } else { 1 };
        let want = per_plane * planes;
        if self.offsets.len() as u64 != want || self.counts.len() as u64 != want {
            return Err(DriverError::corrupt(
                format!("{display} (header)"),
                format!(
                    "{} chunk offsets and {} byte counts for {want} chunks",
                    self.offsets.len(),
                    self.counts.len()
                ),
            ));
        }
        let info = json!({
            "width": self.width,
            "height": self.height,
            "bands": self.samples,
            "dtype": format!("{}", dtype.arrow).to_lowercase(),
            "layout": if self.tiled { "tiled" } else { "stripped" },
            "block": [self.chunk_h, self.chunk_w],
            "interleave": if self.planar { "band" } else { "pixel" },
            "compression": compression_name(self.compression),
            "predictor": self.predictor,
            "photometric": self.photometric,
            "overviews": self.overviews,
        });
        let codec = Codec {
            compression: self.compression,
            predictor: self.predictor,
            big_endian,
            size: dtype.size,
        };
        Ok(Raster {
            meta,
            display,
            width: self.width,
            height: self.height,
            samples: self.samples,
            dtype,
            planar: self.planar,
            tiled: self.tiled,
            chunk_w: self.chunk_w,
            chunk_h: self.chunk_h,
            offsets: self.offsets,
            counts: self.counts,
            geo: self.geo,
            codec,
            info,
        })
    }
}
