//! The local store every local source reads through: it checks, at each read, that the real
//! path (symlinks resolved) is still under an allowed root. Resolution checks the files a
//! urlpath names; this covers what drivers open later (Zarr chunks, a file swapped for a
//! symlink after listing).

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// The `store` name of confinement errors, which `DriverError::from_store` maps to `Denied`.
pub const CONFINEMENT: &str = "inlet-confinement";

#[derive(Debug)]
pub struct ConfinedLocal {
    inner: LocalFileSystem,
    roots: Arc<Vec<PathBuf>>,
}

impl ConfinedLocal {
    pub fn new(roots: Vec<PathBuf>) -> Self {
        ConfinedLocal {
            inner: LocalFileSystem::new(),
            roots: Arc::new(roots),
        }
    }

    /// Ok when the object's real path is under a root (or does not exist: the read then
    /// fails as not found, as it should).
    fn check(&self, location: &Path) -> Result<()> {
        let path = PathBuf::from(format!("/{location}"));
        let Ok(real) = path.canonicalize() else {
            return Ok(());
        };
        if self.roots.iter().any(|r| real.starts_with(r)) {
            return Ok(());
        }
        Err(object_store::Error::Generic {
            store: CONFINEMENT,
            source: format!(
                "`{}` resolves to `{}`, outside the catalog directory and the allowed prefixes (--allow-path)",
                path.display(),
                real.display()
            )
            .into(),
        })
    }
}

impl fmt::Display for ConfinedLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfinedLocal({} roots)", self.roots.len())
    }
}

fn read_only() -> object_store::Error {
    object_store::Error::NotImplemented {
        operation: "write".into(),
        implementer: "ConfinedLocal (read-only)".into(),
    }
}

#[async_trait]
impl ObjectStore for ConfinedLocal {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(read_only())
    }
    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(read_only())
    }
    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.check(location)?;
        self.inner.get_opts(location, options).await
    }
    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.check(location)?;
        self.inner.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(read_only())).boxed()
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(read_only())
    }
}
