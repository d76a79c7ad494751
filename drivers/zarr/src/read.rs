//! Reading a region of an array: its chunks are fetched (one GET each, concurrently, bounded)
//! and decoded off the async threads, then copied into one C-order buffer.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use arrow_buffer::{Buffer, MutableBuffer};
use async_trait::async_trait;
use futures::StreamExt;
use inlet_driver::{DriverError, Result};
use inlet_grid::Regions;
use zarrs::array::codec::{ArrayToBytesCodecTraits, CodecOptions};

use crate::store::{key_path, Node, ZarrLocation};

/// Decodes one chunk's bytes to native-endian, C-order elements.
fn decode(node: &Node, idx: &[u64], bytes: Vec<u8>, esize: usize) -> Result<Vec<u8>, String> {
    let repr = node
        .array
        .chunk_array_representation(idx)
        .map_err(|e| e.to_string())?;
    // Chunks are decoded in parallel already: one thread per chunk.
    let opts = CodecOptions::builder().concurrent_target(1).build();
    let decoded = node
        .array
        .codecs()
        .decode(Cow::Owned(bytes), &repr, &opts)
        .map_err(|e| e.to_string())?;
    let fixed = decoded
        .into_fixed()
        .map_err(|e| e.to_string())?
        .into_owned();
    let want = repr.num_elements_usize() * esize;
    if fixed.len() != want {
        return Err(format!("decoded to {} bytes, expected {want}", fixed.len()));
    }
    Ok(fixed)
}

/// One chunk, decoded; None when it does not exist (Zarr: the fill value).
async fn chunk(
    loc: &ZarrLocation,
    node: &Arc<Node>,
    idx: Vec<u64>,
    esize: usize,
) -> Result<(Vec<u64>, Option<Vec<u8>>)> {
    let key = node.array.chunk_key(&idx);
    let shown = format!("{}/{}", loc.display, key.as_str());
    let pinned = object_store::GetOptions {
        if_unmodified_since: Some(loc.pinned_at),
        ..Default::default()
    };
    let bytes = match loc
        .store
        .get_opts(&key_path(&loc.root, key.as_str()), pinned)
        .await
    {
        Ok(r) => r
            .bytes()
            .await
            .map_err(|e| DriverError::from_store(&shown, e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok((idx, None)),
        Err(e) => return Err(DriverError::from_store(&shown, e)),
    };
    let (node2, idx2) = (node.clone(), idx.clone());
    let decoded =
        tokio::task::spawn_blocking(move || decode(&node2, &idx2, Vec::from(bytes), esize))
            .await
            .map_err(|e| DriverError::Io(format!("decoding `{shown}` stopped: {e}")))?;
    match decoded {
        Ok(d) => Ok((idx, Some(d))),
        Err(why) => Err(DriverError::corrupt(
            shown,
            format!(
                "chunk `{}` of `{}` cannot be decoded: {why}",
                key.as_str(),
                node.name
            ),
        )),
    }
}

/// Row-major strides of `shape`, in elements.
fn strides(shape: &[u64]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1] as usize;
    }
    s
}

/// Copies the overlap `lo..hi` of a chunk (origin `origin`, full shape `cs`) into `out`, the
/// region starting at `start` with shape `oshape`; a missing chunk writes the fill value.
#[allow(clippy::too_many_arguments)]
fn copy_block(
    src: Option<&[u8]>,
    fill: &[u8],
    cs: &[u64],
    origin: &[u64],
    out: &mut [u8],
    oshape: &[u64],
    start: &[u64],
    lo: &[u64],
    hi: &[u64],
    esize: usize,
) {
    let n = cs.len();
    let (ss, ds) = (strides(cs), strides(oshape));
    let last = n - 1;
    let run = (hi[last] - lo[last]) as usize;
    let mut pos: Vec<u64> = lo.to_vec();
    loop {
        let s: usize = (0..n).map(|d| (pos[d] - origin[d]) as usize * ss[d]).sum();
        let t: usize = (0..n).map(|d| (pos[d] - start[d]) as usize * ds[d]).sum();
        let dst = &mut out[t * esize..(t + run) * esize];
        match src {
            Some(src) => dst.copy_from_slice(&src[s * esize..(s + run) * esize]),
            None => dst
                .chunks_exact_mut(esize)
                .for_each(|e| e.copy_from_slice(fill)),
        }
        // Odometer over every dim but the last (the contiguous run).
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            pos[d] += 1;
            if pos[d] < hi[d] {
                break;
            }
            pos[d] = lo[d];
        }
    }
}

/// The region `region` of `node` as one C-order buffer of native elements.
async fn read_region(
    loc: &ZarrLocation,
    node: &Arc<Node>,
    esize: usize,
    region: &[Range<u64>],
    concurrency: usize,
) -> Result<Buffer> {
    let oshape: Vec<u64> = region.iter().map(|r| r.end - r.start).collect();
    let total: u64 = oshape.iter().product();
    let mut out = MutableBuffer::from_len_zeroed(total as usize * esize);
    if total == 0 || region.is_empty() {
        return Ok(out.into());
    }
    let zeros = vec![0u64; region.len()];
    let cs: Vec<u64> = node
        .array
        .chunk_shape(&zeros)
        .map_err(|e| DriverError::Unsupported(format!("chunk grid of `{}`: {e}", node.name)))?
        .iter()
        .map(|c| c.get())
        .collect();
    let first: Vec<u64> = region.iter().zip(&cs).map(|(r, c)| r.start / c).collect();
    let last: Vec<u64> = region
        .iter()
        .zip(&cs)
        .map(|(r, c)| (r.end - 1) / c)
        .collect();
    let mut all = vec![];
    let mut idx = first.clone();
    'outer: loop {
        all.push(idx.clone());
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] <= last[d] {
                continue 'outer;
            }
            idx[d] = first[d];
        }
        break;
    }
    let fill = node.array.fill_value().as_ne_bytes().to_vec();
    let zero_fill = fill.iter().all(|b| *b == 0) || fill.len() != esize;
    let start: Vec<u64> = region.iter().map(|r| r.start).collect();
    let mut chunks = futures::stream::iter(all)
        .map(|idx| chunk(loc, node, idx, esize))
        .buffer_unordered(concurrency.max(1));
    while let Some(item) = chunks.next().await {
        let (idx, bytes) = item?;
        if bytes.is_none() && zero_fill {
            continue;
        }
        let origin: Vec<u64> = idx.iter().zip(&cs).map(|(i, c)| i * c).collect();
        let lo: Vec<u64> = origin
            .iter()
            .zip(region)
            .map(|(o, r)| (*o).max(r.start))
            .collect();
        let hi: Vec<u64> = origin
            .iter()
            .zip(region)
            .zip(&cs)
            .map(|((o, r), c)| (o + c).min(r.end))
            .collect();
        copy_block(
            bytes.as_deref(),
            &fill,
            &cs,
            &origin,
            out.as_slice_mut(),
            &oshape,
            &start,
            &lo,
            &hi,
            esize,
        );
    }
    Ok(out.into())
}

/// Reads regions of a store's arrays, chunks fetched `concurrency` at a time.
pub struct ZarrRegions {
    pub loc: ZarrLocation,
    pub concurrency: usize,
}

#[async_trait]
impl Regions for ZarrRegions {
    type Array = Node;

    fn display(&self) -> &str {
        &self.loc.display
    }

    async fn read_region(
        &self,
        array: &Arc<Node>,
        esize: usize,
        region: &[Range<u64>],
    ) -> Result<Buffer> {
        read_region(&self.loc, array, esize, region, self.concurrency).await
    }
}
