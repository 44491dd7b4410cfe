use std::path::PathBuf;

/// Where files are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A directory on this machine (created if missing). Right for one node; several nodes
    /// would each see only their own uploads.
    Local(PathBuf),
    /// An S3-compatible bucket that every node shares.
    S3(S3Config),
}

/// An S3-compatible bucket (AWS S3, Garage, MinIO, ...), addressed by path so that a local
/// server needs no DNS names per bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// E.g. `http://127.0.0.1:3900`; plain HTTP is allowed for a server on a private network.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Never prints the secret key.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}
