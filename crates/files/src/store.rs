//! The object store behind files, and the two streams through it: an upload in, a download
//! out. Neither holds a whole file in memory: an upload is written in parts of
//! [`PART_BYTES`], at most two in flight, so one upload holds at most a few parts.
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::sniff::{self, Sniffed, HEAD_BYTES};
use crate::{FileError, StoreConfig};

/// The size of an upload's parts: S3's smallest part (but the last).
pub const PART_BYTES: usize = 5 * 1024 * 1024;

/// How much of a local file one read takes. `object_store` reads local files 8 KiB at a time,
/// each read a trip to the blocking pool: a quarter of the disk's copy speed in `huddle-bench
/// files`. 256 KiB a trip costs one download that much memory at most.
const LOCAL_READ_BYTES: u64 = 256 * 1024;

/// Where the bytes of files live.
#[derive(Clone, Debug)]
pub struct FileStore {
    inner: Arc<dyn ObjectStore>,
}

/// An upload that reached the store whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub size: u64,
    pub sniffed: Sniffed,
}

/// A stored file being read: its size, then its bytes.
pub struct StoredBytes {
    pub size: u64,
    pub body: BoxStream<'static, Result<Bytes, FileError>>,
}

impl FileStore {
    /// Opens the configured store. A local directory is created if missing.
    pub fn open(config: &StoreConfig) -> Result<Self, FileError> {
        let inner: Arc<dyn ObjectStore> = match config {
            StoreConfig::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| FileError::Store(io_error(dir, e)))?;
                Arc::new(LocalFileSystem::new_with_prefix(dir)?)
            }
            StoreConfig::S3(s3) => {
                // The process's TLS provider for the S3 client; set once (a second call finds
                // it set, which is fine). Deprecated only for lacking post-quantum key exchange,
                // which S3 endpoints do not need; the alternative provider needs a C build.
                #[allow(deprecated)]
                let _ = rustls::crypto::ring::default_provider().install_default();
                Arc::new(
                    AmazonS3Builder::new()
                        .with_endpoint(&s3.endpoint)
                        .with_bucket_name(&s3.bucket)
                        .with_region(&s3.region)
                        .with_access_key_id(&s3.access_key_id)
                        .with_secret_access_key(&s3.secret_access_key)
                        .with_allow_http(s3.endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false)
                        .build()?,
                )
            }
        };
        Ok(Self { inner })
    }

    /// A store in memory, for tests.
    pub fn in_memory() -> Self {
        Self {
            inner: Arc::new(object_store::memory::InMemory::new()),
        }
    }

    fn path(id: &str) -> Path {
        Path::from(id)
    }

    /// Streams `body` to the object `id`, refusing it as soon as it passes `max` bytes or its
    /// first bytes contradict what the uploader `declared` (see [`sniff::check`]). On any
    /// refusal or failure the partial object is aborted: nothing is left behind.
    pub async fn receive<S, E>(
        &self,
        id: &str,
        body: S,
        max: u64,
        declared: Option<&str>,
    ) -> Result<Received, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let upload = self.inner.put_multipart(&Self::path(id)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        match copy(&mut writer, body, max, declared).await {
            Ok((size, sniffed)) => match writer.finish().await {
                Ok(_) => Ok(Received { size, sniffed }),
                Err(e) => {
                    // A failed completion may have left the object: make sure it is gone.
                    let _ = self.delete(id).await;
                    Err(e.into())
                }
            },
            Err(refused) => {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(error = %e, file = id, "an aborted upload was not cleaned up");
                }
                Err(refused)
            }
        }
    }

    /// The object's bytes, as a stream.
    pub async fn read(&self, id: &str) -> Result<StoredBytes, FileError> {
        let got = self.inner.get(&Self::path(id)).await?;
        let size = got.meta.size;
        let body = match got.payload {
            GetResultPayload::File(file, _) => local_chunks(file, got.range),
            GetResultPayload::Stream(stream) => stream.map(|r| r.map_err(FileError::from)).boxed(),
        };
        Ok(StoredBytes { size, body })
    }

    /// Deletes the object; one that is already gone is fine.
    pub async fn delete(&self, id: &str) -> Result<(), FileError> {
        match self.inner.delete(&Self::path(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(FileError::Store(e)),
        }
    }

    /// Whether the object exists (for tests and the janitor's checks).
    pub async fn exists(&self, id: &str) -> Result<bool, FileError> {
        match self.inner.head(&Self::path(id)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(FileError::Store(e)),
        }
    }
}

/// Copies the body into the upload, counting and sniffing as it goes.
async fn copy<S, E>(
    writer: &mut WriteMultipart,
    mut body: S,
    max: u64,
    declared: Option<&str>,
) -> Result<(u64, Sniffed), FileError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::new();
    let mut sniffed: Option<Sniffed> = None;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| FileError::Interrupted(e.to_string()))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(FileError::TooLarge { max });
        }
        if sniffed.is_none() {
            let take = (HEAD_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == HEAD_BYTES {
                let found = sniff::sniff(&head);
                sniff::check(declared, &found)?;
                sniffed = Some(found);
                head = Vec::new();
            }
        }
        writer.wait_for_capacity(2).await?;
        writer.put(chunk);
    }
    if size == 0 {
        return Err(FileError::Empty);
    }
    let sniffed = match sniffed {
        Some(s) => s,
        None => {
            let found = sniff::sniff(&head);
            sniff::check(declared, &found)?;
            found
        }
    };
    Ok((size, sniffed))
}

fn io_error(dir: &std::path::Path, source: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "local directory",
        source: format!("{}: {source}", dir.display()).into(),
    }
}

/// A local file's `range` as a stream of [`LOCAL_READ_BYTES`] chunks, each read on the
/// blocking pool.
fn local_chunks(
    file: std::fs::File,
    range: std::ops::Range<u64>,
) -> BoxStream<'static, Result<Bytes, FileError>> {
    use std::io::{Read, Seek, SeekFrom};
    let state = (Some(file), range.start, range.end);
    futures_util::stream::unfold(state, |(file, at, end)| async move {
        let mut file = file?;
        if at >= end {
            return None;
        }
        let want = (end - at).min(LOCAL_READ_BYTES);
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0; usize::try_from(want).unwrap_or(0)];
            file.seek(SeekFrom::Start(at))
                .and_then(|_| file.read_exact(&mut buf))
                .map(|()| (file, buf))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match read {
            Ok((file, buf)) => Some((Ok(Bytes::from(buf)), (Some(file), at + want, end))),
            Err(e) => Some((Err(FileError::Read(e)), (None, end, end))),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn chunks(parts: Vec<&'static [u8]>) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p))))
    }

    async fn read_all(store: &FileStore, id: &str) -> Vec<u8> {
        let got = store.read(id).await.unwrap();
        let mut out = Vec::new();
        let mut body = got.body;
        while let Some(c) = body.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got.size, out.len() as u64);
        out
    }

    #[tokio::test]
    async fn an_upload_is_stored_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&StoreConfig::Local(dir.path().join("files"))).unwrap();
        let got = store
            .receive("a1", chunks(vec![b"hello ", b"world"]), 100, None)
            .await
            .unwrap();
        assert_eq!(
            (got.size, got.sniffed.content_type.as_str()),
            (11, "text/plain")
        );
        assert_eq!(read_all(&store, "a1").await, b"hello world");
        assert!(store.exists("a1").await.unwrap());
        store.delete("a1").await.unwrap();
        assert!(!store.exists("a1").await.unwrap());
        store.delete("a1").await.unwrap();
        assert!(matches!(store.read("a1").await, Err(FileError::Missing)));
    }

    #[tokio::test]
    async fn refusals_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        let store = FileStore::open(&StoreConfig::Local(root.clone())).unwrap();
        let big = store
            .receive("big", chunks(vec![b"0123456789", b"0123456789"]), 15, None)
            .await;
        assert!(matches!(big, Err(FileError::TooLarge { max: 15 })));
        let empty = store.receive("empty", chunks(vec![]), 15, None).await;
        assert!(matches!(empty, Err(FileError::Empty)));
        let lie = store
            .receive(
                "lie",
                chunks(vec![b"<html>not a png</html>"]),
                100,
                Some("image/png"),
            )
            .await;
        assert!(matches!(lie, Err(FileError::Mismatch { .. })));
        let cut = stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err("reset".to_owned()),
        ]);
        let cut = store.receive("cut", cut, 100, None).await;
        assert!(matches!(cut, Err(FileError::Interrupted(_))));
        for id in ["big", "empty", "lie", "cut"] {
            assert!(!store.exists(id).await.unwrap(), "{id}");
        }
        let left: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
        assert!(left.is_empty(), "no staged parts left: {left:?}");
    }

    #[tokio::test]
    async fn large_uploads_go_in_parts() {
        let store = FileStore::in_memory();
        let part: &'static [u8] = Box::leak(vec![7u8; 1024 * 1024].into_boxed_slice());
        let parts = vec![part; 12];
        let got = store
            .receive("p", chunks(parts), 13 * 1024 * 1024, None)
            .await
            .unwrap();
        assert_eq!(got.size, 12 * 1024 * 1024);
        assert_eq!(got.sniffed.content_type, "application/octet-stream");
        let back = read_all(&store, "p").await;
        assert_eq!(back.len(), 12 * 1024 * 1024);
        assert!(back.iter().all(|b| *b == 7));
    }

    #[tokio::test]
    async fn a_local_file_is_read_back_in_large_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&StoreConfig::Local(dir.path().to_owned())).unwrap();
        let len = 2 * LOCAL_READ_BYTES as usize + 5;
        let data: &'static [u8] = Box::leak(
            (0..len)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        store
            .receive("big", chunks(vec![data]), len as u64, None)
            .await
            .unwrap();
        let got = store.read("big").await.unwrap();
        let sizes: Vec<usize> = got.body.map(|c| c.unwrap().len()).collect().await;
        let chunk = LOCAL_READ_BYTES as usize;
        assert_eq!(sizes, [chunk, chunk, 5]);
        assert_eq!(read_all(&store, "big").await, data);
    }
}
