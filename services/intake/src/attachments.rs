//! Attachment content behind object_store: the local filesystem by default; the same trait speaks
//! S3 and other object stores for cluster deployments.

use bytes::Bytes;
use motcua_platform::ServiceError;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

/// Media types a dossier's scans and forms may have.
pub const ALLOWED_TYPES: &[&str] = &[
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/xml",
];

#[derive(Debug, Clone)]
pub struct Attachments {
    store: Arc<dyn ObjectStore>,
    pub max_bytes: usize,
}

impl Attachments {
    pub fn local(dir: &std::path::Path, max_bytes: usize) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
            max_bytes,
        })
    }

    pub async fn put(&self, key: &str, content: Bytes) -> Result<(), ServiceError> {
        self.store
            .put(&Path::from(key), content.into())
            .await
            .map_err(|e| ServiceError::Unavailable(format!("attachment store: {e}")))?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, ServiceError> {
        let got = self
            .store
            .get(&Path::from(key))
            .await
            .map_err(|e| ServiceError::Internal(e.into()))?;
        got.bytes()
            .await
            .map_err(|e| ServiceError::Internal(e.into()))
    }
}
