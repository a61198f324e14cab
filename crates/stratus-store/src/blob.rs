//! The blob store: immutable bodies (S3 objects and parts, function code) as local files.
//!
//! A body is written to a temporary file, flushed to disk and renamed into place under a new
//! id; only then may a service record the id in the store. A crash before the rename leaves
//! only a temporary file, removed at the next start; a crash between the rename and the
//! store commit leaves an unreferenced file, never a partial body under a referenced id.
//! Blobs are never modified after [`BlobWriter::finish`], so a copy is a hard link.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use std::io::{Read, Seek};
use tokio::io::AsyncWriteExt;

/// Where blobs live. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Blobs {
    root: Arc<PathBuf>,
    fsync: bool,
    buffers: Arc<Buffers>,
}

/// Size of the chunks a blob is read in.
const READ_CHUNK: usize = 1024 * 1024;
/// Size of a blob writer's buffer.
const WRITE_BUFFER: usize = 256 * 1024;

impl Blobs {
    /// Opens (creating) the blob directory and removes temporary files a crash left behind.
    pub fn open(root: &Path, fsync: bool) -> io::Result<Blobs> {
        std::fs::create_dir_all(root.join("tmp"))?;
        for entry in std::fs::read_dir(root.join("tmp"))? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(Blobs {
            root: Arc::new(root.to_path_buf()),
            fsync,
            buffers: Arc::default(),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        // Two hex digits of fan-out keep directories small.
        self.root.join(&id[..2.min(id.len())]).join(id)
    }

    /// Starts a new blob.
    pub async fn create(&self) -> io::Result<BlobWriter> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.root.join("tmp").join(&id);
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(BlobWriter {
            blobs: self.clone(),
            file: Some(tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file)),
            tmp,
            id,
            len: 0,
        })
    }

    /// A second id for the same immutable body (a hard link: no bytes copied).
    pub async fn link(&self, id: &str) -> io::Result<String> {
        let new_id = uuid::Uuid::new_v4().simple().to_string();
        let dest = self.path(&new_id);
        tokio::fs::create_dir_all(dest.parent().expect("blob paths have a parent")).await?;
        tokio::fs::hard_link(self.path(id), &dest).await?;
        Ok(new_id)
    }

    /// Removes a blob; a missing one is not an error.
    pub async fn delete(&self, id: &str) {
        if let Err(e) = tokio::fs::remove_file(self.path(id)).await
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(blob = id, error = %e, "could not delete blob");
        }
    }

    /// Ids of the blobs whose files were last changed (created, renamed into place, linked)
    /// before `before`. A blob a request is writing or linking now is not among them, so a
    /// sweep that lists these first and reads the store's references second never takes a
    /// body a commit is about to reference.
    pub async fn stored_before(&self, before: std::time::SystemTime) -> io::Result<Vec<String>> {
        let root = self.root.clone();
        blocking(move || {
            let mut ids = Vec::new();
            for dir in std::fs::read_dir(root.as_path())? {
                let dir = dir?;
                if dir.file_name() == "tmp" || !dir.file_type()?.is_dir() {
                    continue;
                }
                for file in std::fs::read_dir(dir.path())? {
                    let file = file?;
                    if changed_before(&file.path(), before) {
                        ids.push(file.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Ok(ids)
        })
        .await
    }

    /// Removes a blob if its file has not changed since `before` (see [`Blobs::stored_before`]).
    pub async fn delete_unchanged(&self, id: &str, before: std::time::SystemTime) -> bool {
        let path = self.path(id);
        if !changed_before(&path, before) {
            return false;
        }
        tokio::fs::remove_file(path).await.is_ok()
    }

    /// Removes every blob (the `--dev` reset; the store is wiped alongside).
    pub async fn wipe(&self) -> io::Result<()> {
        let mut dir = tokio::fs::read_dir(self.root.as_path()).await?;
        while let Some(entry) = dir.next_entry().await? {
            if entry.file_name() != "tmp" && entry.file_type().await?.is_dir() {
                tokio::fs::remove_dir_all(entry.path()).await?;
            }
        }
        Ok(())
    }

    /// Streams `len` bytes of a blob from `offset`, in chunks of at most 1 MiB. Each chunk is
    /// read on a blocking thread straight into a pooled buffer (no zeroing, no second copy).
    pub async fn read(
        &self,
        id: &str,
        offset: u64,
        len: u64,
    ) -> io::Result<impl Stream<Item = io::Result<Bytes>> + Send + Sync + use<>> {
        let path = self.path(id);
        let file = blocking(move || {
            let mut file = std::fs::File::open(path)?;
            if offset > 0 {
                file.seek(io::SeekFrom::Start(offset))?;
            }
            Ok(file)
        })
        .await?;
        Ok(futures_util::stream::unfold(
            (Some(file), len, self.buffers.clone()),
            |(file, remaining, buffers)| async move {
                let file = file.filter(|_| remaining > 0)?;
                let want = remaining.min(READ_CHUNK as u64);
                // Whole chunks reuse pooled buffers; a shorter one gets a buffer of its size.
                let mut buf = if want == READ_CHUNK as u64 {
                    buffers.take()
                } else {
                    Vec::with_capacity(want as usize)
                };
                let read = blocking(move || {
                    (&file).take(want).read_to_end(&mut buf)?;
                    if (buf.len() as u64) < want {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "blob is shorter than its record",
                        ));
                    }
                    Ok((file, buf))
                })
                .await;
                Some(match read {
                    Ok((file, buf)) => {
                        let chunk = Bytes::from_owner(Pooled {
                            buf,
                            buffers: buffers.clone(),
                        });
                        (Ok(chunk), (Some(file), remaining - want, buffers))
                    }
                    Err(e) => (Err(e), (None, 0, buffers)),
                })
            },
        ))
    }
}

/// Read buffers kept for reuse: a fresh 1 MiB buffer per chunk costs its page faults every
/// time. At most [`POOLED`] are kept.
#[derive(Debug, Default)]
struct Buffers(std::sync::Mutex<Vec<Vec<u8>>>);

const POOLED: usize = 8;

impl Buffers {
    fn take(&self) -> Vec<u8> {
        let mut buf = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(READ_CHUNK));
        buf.clear();
        buf
    }
}

/// A chunk handed to the response; its buffer goes back to the pool once the chunk is sent.
struct Pooled {
    buf: Vec<u8>,
    buffers: Arc<Buffers>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut pool = self.buffers.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOLED && self.buf.capacity() >= READ_CHUNK {
            pool.push(std::mem::take(&mut self.buf));
        }
    }
}

/// Whether the file's inode last changed before `before` (ctime: a rename or a hard link
/// counts as a change, unlike mtime).
fn changed_before(path: &Path, before: std::time::SystemTime) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let ctime =
        std::time::UNIX_EPOCH + std::time::Duration::new(meta.ctime() as u64, meta.ctime_nsec() as u32);
    ctime < before
}

/// Runs file I/O on tokio's blocking threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// A blob being written. Dropped without [`BlobWriter::finish`], it leaves nothing behind.
pub struct BlobWriter {
    blobs: Blobs,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    tmp: PathBuf,
    id: String,
    len: u64,
}

impl BlobWriter {
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file
            .as_mut()
            .expect("writer is open until finished")
            .write_all(data)
            .await?;
        self.len += data.len() as u64;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes the blob durable and visible under its id; returns the id.
    pub async fn finish(mut self) -> io::Result<String> {
        let mut file = self.file.take().expect("writer is open until finished");
        file.flush().await?;
        let file = file.into_inner();
        if self.blobs.fsync {
            file.sync_all().await?;
        }
        drop(file);
        let dest = self.blobs.path(&self.id);
        tokio::fs::create_dir_all(dest.parent().expect("blob paths have a parent")).await?;
        tokio::fs::rename(&self.tmp, &dest).await?;
        if self.blobs.fsync {
            // The rename itself must survive a crash before the id is recorded anywhere.
            let dir = dest.parent().expect("blob paths have a parent").to_path_buf();
            tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
                .await
                .map_err(io::Error::other)??;
        }
        Ok(std::mem::take(&mut self.id))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.id.is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
