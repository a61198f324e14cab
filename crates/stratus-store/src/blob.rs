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
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Where blobs live. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Blobs {
    root: Arc<PathBuf>,
    fsync: bool,
}

/// Size of the chunks a blob is read in.
const READ_CHUNK: usize = 256 * 1024;

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
            file: Some(tokio::io::BufWriter::with_capacity(READ_CHUNK, file)),
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

    /// Streams `len` bytes of a blob from `offset`.
    pub async fn read(
        &self,
        id: &str,
        offset: u64,
        len: u64,
    ) -> io::Result<impl Stream<Item = io::Result<Bytes>> + Send + Sync + use<>> {
        let mut file = tokio::fs::File::open(self.path(id)).await?;
        if offset > 0 {
            file.seek(io::SeekFrom::Start(offset)).await?;
        }
        Ok(futures_util::stream::unfold(
            (file, len),
            |(mut file, remaining)| async move {
                if remaining == 0 {
                    return None;
                }
                let want = remaining.min(READ_CHUNK as u64) as usize;
                let mut buf = vec![0u8; want];
                match file.read_exact(&mut buf).await {
                    Ok(_) => Some((Ok(Bytes::from(buf)), (file, remaining - want as u64))),
                    Err(e) => Some((Err(e), (file, 0))),
                }
            },
        ))
    }
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
