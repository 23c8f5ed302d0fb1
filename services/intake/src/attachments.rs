//! Attachment content behind object_store: the local filesystem by default (one machine), a bucket
//! of S3 or an S3-compatible store in a cluster, where every intake replica must see every file
//! and no shared volume should be a single point of loss.

use crate::settings::AttachmentStore;
use anyhow::Context;
use bytes::Bytes;
use motcua_platform::ServiceError;
use object_store::aws::AmazonS3Builder;
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
    /// The store the settings name.
    pub fn open(store: &AttachmentStore, max_bytes: usize) -> anyhow::Result<Self> {
        match store {
            AttachmentStore::Dir(dir) => Self::local(dir, max_bytes)
                .with_context(|| format!("MOTCUA_ATTACHMENTS_DIR {}", dir.display())),
            AttachmentStore::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
            } => {
                use secrecy::ExposeSecret;
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region);
                if let Some(e) = endpoint {
                    b = b
                        .with_endpoint(e)
                        .with_allow_http(e.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if let (Some(id), Some(key)) = (access_key_id, secret_access_key) {
                    b = b
                        .with_access_key_id(id.expose_secret())
                        .with_secret_access_key(key.expose_secret());
                }
                let s3 = b
                    .build()
                    .with_context(|| format!("MOTCUA_ATTACHMENTS_S3_BUCKET {bucket}"))?;
                Ok(Self {
                    store: Arc::new(s3),
                    max_bytes,
                })
            }
        }
    }

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
