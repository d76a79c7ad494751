//! A `Read + Seek` view of one file made of the byte ranges fetched so far, for the `tiff`
//! decoder (which reads through `std::io`). Reading a byte that was not fetched fails and
//! records where: the caller fetches that range and parses again. Headers are small and this
//! converges in a few round trips; tiles are fetched up front, since their offsets are known.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Fetched ranges of a file, by start offset.
#[derive(Debug, Default, Clone)]
pub struct Ranges(BTreeMap<u64, Bytes>);

impl Ranges {
    pub fn insert(&mut self, start: u64, bytes: Bytes) {
        self.0.insert(start, bytes);
    }

    /// `len` bytes at `pos`, when one fetched range holds them all.
    pub fn slice(&self, pos: u64, len: u64) -> Option<Bytes> {
        let (start, bytes) = self.at(pos)?;
        let from = (pos - start) as usize;
        let to = from.checked_add(usize::try_from(len).ok()?)?;
        (to <= bytes.len()).then(|| bytes.slice(from..to))
    }

    /// The fetched range holding `pos`, as (its start, its bytes).
    fn at(&self, pos: u64) -> Option<(u64, &Bytes)> {
        let (start, bytes) = self.0.range(..=pos).next_back()?;
        (pos < start + bytes.len() as u64).then_some((*start, bytes))
    }
}

/// The first offset a read needed and did not find, shared with the caller.
#[derive(Debug, Default, Clone)]
pub struct Missing(Arc<Mutex<Option<u64>>>);

impl Missing {
    pub fn take(&self) -> Option<u64> {
        self.0.lock().ok().and_then(|mut m| m.take())
    }

    fn set(&self, pos: u64) {
        if let Ok(mut m) = self.0.lock() {
            m.get_or_insert(pos);
        }
    }
}

/// The reader the decoder sees: shared header ranges plus ranges fetched for one read.
#[derive(Debug)]
pub struct SparseFile {
    header: Arc<Ranges>,
    pub extra: Ranges,
    len: u64,
    pos: u64,
    missing: Missing,
}

impl SparseFile {
    pub fn new(header: Arc<Ranges>, len: u64, missing: Missing) -> Self {
        SparseFile {
            header,
            extra: Ranges::default(),
            len,
            pos: 0,
            missing,
        }
    }
}

impl Read for SparseFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        let found = self.extra.at(self.pos).or_else(|| self.header.at(self.pos));
        let Some((start, bytes)) = found else {
            self.missing.set(self.pos);
            return Err(io::Error::other(format!(
                "byte {} was not fetched",
                self.pos
            )));
        };
        let from = (self.pos - start) as usize;
        let n = buf.len().min(bytes.len() - from);
        buf[..n].copy_from_slice(&bytes[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SparseFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before the file's start")
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_fetched_and_reports_the_first_gap() {
        let mut header = Ranges::default();
        header.insert(0, Bytes::from_static(b"abcd"));
        header.insert(4, Bytes::from_static(b"ef"));
        let missing = Missing::default();
        let mut f = SparseFile::new(Arc::new(header), 100, missing.clone());
        let mut buf = [0u8; 6];
        f.read_exact(&mut buf).expect("two adjacent ranges");
        assert_eq!(&buf, b"abcdef");
        f.extra.insert(50, Bytes::from_static(b"xyz"));
        f.seek(SeekFrom::Start(51)).expect("seek");
        let mut two = [0u8; 2];
        f.read_exact(&mut two).expect("extra range");
        assert_eq!(&two, b"yz");
        assert!(f.read_exact(&mut two).is_err());
        assert_eq!(missing.take(), Some(53));
    }
}
