use thiserror::Error;

/// What can go wrong with a file, from an upload's first byte to its deletion. The edge maps
/// each to the contract's error codes.
#[derive(Debug, Error)]
pub enum FileError {
    #[error("the file is larger than the limit of {max} bytes")]
    TooLarge { max: u64 },
    #[error("the file is empty")]
    Empty,
    /// The uploader called it one thing and the bytes are another.
    #[error("the file is said to be {declared} but its content is {found}")]
    Mismatch { declared: String, found: String },
    #[error("no such file in the store")]
    Missing,
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error("the file store failed")]
    Store(#[source] object_store::Error),
    /// Reading a stored local file failed part-way.
    #[error("reading the stored file failed")]
    Read(#[source] std::io::Error),
}

impl From<object_store::Error> for FileError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => FileError::Missing,
            e => FileError::Store(e),
        }
    }
}
