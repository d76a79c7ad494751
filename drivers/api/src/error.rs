//! One error type for every driver, so the service maps each kind to a status once.

/// What went wrong, in a way a service can map to a status (404, 422, 501, 502, 500).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DriverError {
    /// A file, object or bucket does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A catalog argument is invalid; `arg` names it. The catalog's author has to fix it.
    #[error("invalid `{arg}`: {message}")]
    BadArg { arg: String, message: String },
    /// A field of the read request (`columns`, `partition`, `limit`) is invalid; the caller
    /// has to fix it.
    #[error("invalid `{field}`: {message}")]
    BadRequest { field: String, message: String },
    /// The format or storage feature is not supported.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A security rule refused the access (e.g. a path outside the catalog's root).
    #[error("refused: {0}")]
    Denied(String),
    /// Storage could not be reached or failed (network, permissions, I/O).
    #[error("storage error: {0}")]
    Io(String),
    /// The data is not valid for its format; `location` names the file (and part).
    #[error("corrupt data in {location}: {message}")]
    Corrupt { location: String, message: String },
    /// Files of one source disagree (e.g. schemas that cannot be read as one table).
    #[error("incompatible files: {0}")]
    Incompatible(String),
    /// A file changed since it was listed, or while it was read (its ETag or size is not the
    /// one the read was planned on): what was read is not one version of the data.
    #[error("the data changed: {0}")]
    Changed(String),
    /// The server has no capacity for this read now (its memory budget is in use).
    #[error("{0}")]
    Overloaded(String),
}

pub type Result<T, E = DriverError> = std::result::Result<T, E>;

impl DriverError {
    pub fn bad_arg(arg: &str, message: impl Into<String>) -> Self {
        DriverError::BadArg {
            arg: arg.to_string(),
            message: message.into(),
        }
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        DriverError::BadRequest {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn corrupt(location: impl Into<String>, message: impl std::fmt::Display) -> Self {
        DriverError::Corrupt {
            location: location.into(),
            message: message.to_string(),
        }
    }

    /// Maps an object_store error for `what` (a URL or path shown to the user).
    pub fn from_store(what: &str, e: object_store::Error) -> Self {
        match e {
            object_store::Error::Generic { store, source }
                if store == crate::confined::CONFINEMENT =>
            {
                DriverError::Denied(source.to_string())
            }
            object_store::Error::NotFound { .. } => {
                DriverError::NotFound(format!("`{what}` does not exist: check the urlpath"))
            }
            object_store::Error::Precondition { .. } => DriverError::Changed(format!(
                "`{what}` changed after it was listed (its ETag or modification time): read it again"
            )),
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => DriverError::Io(format!(
                "access to `{what}` was denied: check the credentials in storage_options ({e})"
            )),
            other => DriverError::Io(format!("`{what}`: {other}")),
        }
    }
}

impl From<DriverError> for arrow_schema::ArrowError {
    fn from(e: DriverError) -> Self {
        arrow_schema::ArrowError::ExternalError(Box::new(e))
    }
}
