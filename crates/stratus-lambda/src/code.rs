//! Function code: the zip as uploaded (served back by GetFunction's `Code.Location`) and its
//! files unpacked once per content hash, read-only, for every instance to mount.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};
use stratus_runtime::set_mode;

use crate::LambdaError;

/// Largest zip accepted in a request (50 MB, as AWS).
pub const MAX_ZIPPED: usize = 50 * 1024 * 1024;
/// Largest unpacked size of code and layers together (250 MB, as AWS).
pub const MAX_UNZIPPED: u64 = 262_144_000;

/// Where code lives under the data directory.
#[derive(Clone, Debug)]
pub struct CodeStore {
    root: PathBuf,
}

/// An accepted package.
#[derive(Clone, Debug)]
pub struct Package {
    /// Base64 of the SHA-256 of the zip, as Lambda reports `CodeSha256`.
    pub sha256: String,
    pub size: u64,
    pub unzipped: u64,
}

impl CodeStore {
    pub fn new(root: PathBuf) -> std::io::Result<CodeStore> {
        std::fs::create_dir_all(root.join("zips"))?;
        std::fs::create_dir_all(root.join("code"))?;
        std::fs::create_dir_all(root.join("merged"))?;
        Ok(CodeStore { root })
    }

    fn id(sha256_b64: &str) -> String {
        hex::encode(
            base64::engine::general_purpose::STANDARD
                .decode(sha256_b64)
                .unwrap_or_default(),
        )
    }

    pub fn zip_path(&self, sha256_b64: &str) -> PathBuf {
        self.root
            .join("zips")
            .join(format!("{}.zip", Self::id(sha256_b64)))
    }

    /// The unpacked files of a package.
    pub fn dir(&self, sha256_b64: &str) -> PathBuf {
        self.root.join("code").join(Self::id(sha256_b64))
    }

    /// Validates a zip, keeps it and unpacks it (once per content).
    pub fn accept(&self, zip: &[u8]) -> Result<Package, LambdaError> {
        if zip.len() > MAX_ZIPPED {
            return Err(LambdaError::TooLarge(format!(
                "Zipped size must be smaller than {MAX_ZIPPED} bytes"
            )));
        }
        let sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip));
        let dir = self.dir(&sha);
        let unzipped = if dir.exists() {
            dir_size(&dir)
        } else {
            let staging = self
                .root
                .join("code")
                .join(format!(".{}", uuid::Uuid::new_v4().simple()));
            let result = unpack(zip, &staging);
            match result {
                Ok(size) => {
                    set_mode(&staging, 0o755);
                    if std::fs::rename(&staging, &dir).is_err() {
                        // Another request unpacked the same code first.
                        let _ = std::fs::remove_dir_all(&staging);
                    }
                    size
                }
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(e);
                }
            }
        };
        let zpath = self.zip_path(&sha);
        if !zpath.exists() {
            let tmp = zpath.with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
            std::fs::write(&tmp, zip).map_err(|e| LambdaError::Internal(e.to_string()))?;
            std::fs::rename(&tmp, &zpath).map_err(|e| LambdaError::Internal(e.to_string()))?;
        }
        Ok(Package {
            sha256: sha,
            size: zip.len() as u64,
            unzipped,
        })
    }

    /// A directory holding the layers merged in order (later layers win), built once per list.
    pub fn merged_layers(&self, shas: &[String]) -> Result<Option<PathBuf>, LambdaError> {
        if shas.is_empty() {
            return Ok(None);
        }
        let id = hex::encode(Sha256::digest(shas.join(",").as_bytes()));
        let dir = self.root.join("merged").join(&id);
        if dir.exists() {
            return Ok(Some(dir));
        }
        let staging = self
            .root
            .join("merged")
            .join(format!(".{}", uuid::Uuid::new_v4().simple()));
        for sha in shas {
            copy_tree(&self.dir(sha), &staging).map_err(|e| LambdaError::Internal(e.to_string()))?;
        }
        set_mode(&staging, 0o755);
        if std::fs::rename(&staging, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        Ok(Some(dir))
    }

    pub fn unzipped_size(&self, sha256_b64: &str) -> u64 {
        dir_size(&self.dir(sha256_b64))
    }
}

fn bad_zip() -> LambdaError {
    LambdaError::InvalidParameter(
        "Could not unzip uploaded file. Please check your file, then try to upload again.".into(),
    )
}

fn unpack(zip: &[u8], dest: &Path) -> Result<u64, LambdaError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|_| bad_zip())?;
    std::fs::create_dir_all(dest).map_err(|e| LambdaError::Internal(e.to_string()))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|_| bad_zip())?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(bad_zip());
        };
        let path = dest.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(|e| LambdaError::Internal(e.to_string()))?;
            set_mode(&path, 0o755);
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| LambdaError::Internal(e.to_string()))?;
            set_mode(parent, 0o755);
        }
        let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mut out = std::fs::File::create(&path).map_err(|e| LambdaError::Internal(e.to_string()))?;
        let mut limited = (&mut entry).take(MAX_UNZIPPED - total + 1);
        let n = std::io::copy(&mut limited, &mut out).map_err(|_| bad_zip())?;
        total += n;
        if total > MAX_UNZIPPED {
            return Err(LambdaError::InvalidParameter(format!(
                "Unzipped size must be smaller than {MAX_UNZIPPED} bytes"
            )));
        }
        set_mode(&path, if executable { 0o755 } else { 0o644 });
    }
    Ok(total)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    set_mode(to, 0o755);
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}
