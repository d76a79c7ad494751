//! The service's one error type and the one classification of it. Front ends never look at
//! messages: they map an [`ErrorKind`] to a status with a short table (HTTP in
//! `api::error`, gRPC in `flight`).

use inlet_driver::DriverError;

use super::tickets::TicketError;
use crate::catalog::params::FieldError;
use crate::catalog::{CatalogError, Status};
use crate::git::GitError;

/// The service layer's one error type: the layers below, plus what only this layer knows.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Ticket(#[from] TicketError),
    #[error("`{0}` is a catalog, not a source: list its entries under /api/v1/catalogs/{0} (or `inlet ls {0}`)")]
    NotASource(String),
    #[error("`{0}` is a source, not a catalog: see /api/v1/sources/{0} (or `inlet describe {0}`)")]
    NotACatalog(String),
    /// The entry is listed but cannot be read; `status` says why.
    #[error("`{name}` cannot be read: {status}")]
    Unavailable { name: String, status: Status },
    /// A field of the caller's request is invalid (`field` names it).
    #[error("{message}")]
    InvalidRequest { field: String, message: String },
    /// No capacity right now (streams, memory): retry shortly.
    #[error("{0}")]
    Busy(String),
    /// Turning batches into bytes failed: a server-side fault.
    #[error("encoding failed: {0}")]
    Encoding(String),
    /// Storage did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// No token, or one that is unknown, revoked or expired (the message says which).
    #[error("{0}")]
    Unauthenticated(String),
    /// The SQL state (tokens, search index, usage) cannot be reached.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The source's files cannot be handed out whole (its driver reads no whole files, the
    /// operator turned direct access off, or it is not one Parquet file).
    #[error("{0}")]
    NoDirectFiles(String),
    /// A resumed read's data is not the version the client continues (see `super::resume`).
    #[error("the data changed: {0}")]
    DataChanged(String),
    /// A past revision was asked for and cannot be served.
    #[error(transparent)]
    Revision(#[from] crate::git::GitError),
}

/// What kind of failure an error is, whatever its layer. Each kind has one stable slug
/// (`/problems/<slug>` over HTTP) and one status per front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No catalog, source or route of that name.
    NotFound,
    NotASource,
    NotACatalog,
    /// The caller's request (query, body, columns, partitions, limit) is invalid.
    InvalidRequest,
    /// Parameter values are missing or invalid.
    InvalidParameters,
    /// The catalog's args are invalid: the catalog's author has to fix them.
    CatalogArgsInvalid,
    /// A file or object the catalog names does not exist.
    DataNotFound,
    /// A format or storage feature this server does not support.
    Unsupported,
    /// The entry's driver is not built into this server.
    UnsupportedDriver,
    /// A security rule refused the access.
    AccessDenied,
    StorageUnreachable,
    CorruptData,
    IncompatibleFiles,
    /// A file changed since it was listed or while it was read.
    DataChanged,
    NestedCatalogUnavailable,
    /// The entry failed to load (its catalog has an error for it).
    SourceUnavailable,
    /// The ticket cannot be decoded.
    TicketMalformed,
    /// The ticket's signature does not match this server's key.
    TicketForged,
    TicketExpired,
    /// The ticket was planned against another catalog revision.
    TicketStale,
    Busy,
    /// The read's first batch did not come in time (storage that does not answer).
    Timeout,
    /// No valid token (none, unknown, revoked, expired).
    Unauthenticated,
    /// The database cannot be reached or failed.
    DatabaseUnavailable,
    /// The source's files cannot be read directly (see [`ServiceError::NoDirectFiles`]).
    NoDirectFiles,
    /// A byte range outside the file (HTTP `Range`).
    RangeNotSatisfiable,
    /// No commit, branch or tag of that name.
    UnknownRevision,
    /// Revisions were asked for, but the catalogs are not in a git repository.
    NotVersioned,
    Internal,
}

impl ErrorKind {
    /// The stable identifier clients match on (`/problems/<slug>`).
    pub fn slug(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::NotASource => "not-a-source",
            ErrorKind::NotACatalog => "not-a-catalog",
            ErrorKind::InvalidRequest => "invalid-request",
            ErrorKind::InvalidParameters => "invalid-parameters",
            ErrorKind::CatalogArgsInvalid => "catalog-args-invalid",
            ErrorKind::DataNotFound => "data-not-found",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::UnsupportedDriver => "unsupported-driver",
            ErrorKind::AccessDenied => "access-denied",
            ErrorKind::StorageUnreachable => "storage-unreachable",
            ErrorKind::CorruptData => "corrupt-data",
            ErrorKind::IncompatibleFiles => "incompatible-files",
            ErrorKind::DataChanged => "data-changed",
            ErrorKind::NestedCatalogUnavailable => "nested-catalog-unavailable",
            ErrorKind::SourceUnavailable => "source-unavailable",
            // Malformed and forged tickets are one problem type to HTTP clients.
            ErrorKind::TicketMalformed | ErrorKind::TicketForged => "ticket-invalid",
            ErrorKind::TicketExpired => "ticket-expired",
            ErrorKind::TicketStale => "ticket-stale",
            ErrorKind::Busy => "busy",
            ErrorKind::Timeout => "storage-timeout",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::DatabaseUnavailable => "database-unavailable",
            ErrorKind::NoDirectFiles => "no-direct-files",
            ErrorKind::RangeNotSatisfiable => "range-not-satisfiable",
            ErrorKind::UnknownRevision => "unknown-revision",
            ErrorKind::NotVersioned => "not-versioned",
            ErrorKind::Internal => "encoding",
        }
    }

    /// A label for metrics.
    pub fn label(self) -> &'static str {
        self.slug()
    }

    /// Whether the caller has to fix it (a bad request, an unknown name, no token, a bad
    /// ticket), as opposed to something that went wrong on the server's side (storage, data,
    /// capacity, time). The status page lists only the latter.
    pub fn is_callers(self) -> bool {
        matches!(
            self,
            ErrorKind::NotFound
                | ErrorKind::NotASource
                | ErrorKind::NotACatalog
                | ErrorKind::InvalidRequest
                | ErrorKind::InvalidParameters
                | ErrorKind::Unauthenticated
                | ErrorKind::TicketMalformed
                | ErrorKind::TicketForged
                | ErrorKind::TicketExpired
                | ErrorKind::TicketStale
                | ErrorKind::NoDirectFiles
                | ErrorKind::RangeNotSatisfiable
                | ErrorKind::UnknownRevision
                | ErrorKind::NotVersioned
        )
    }
}

/// The kind of a driver error.
pub fn driver_kind(e: &DriverError) -> ErrorKind {
    match e {
        DriverError::BadRequest { .. } => ErrorKind::InvalidRequest,
        DriverError::BadArg { .. } => ErrorKind::CatalogArgsInvalid,
        DriverError::NotFound(_) => ErrorKind::DataNotFound,
        DriverError::Unsupported(_) => ErrorKind::Unsupported,
        DriverError::Denied(_) => ErrorKind::AccessDenied,
        DriverError::Io(_) => ErrorKind::StorageUnreachable,
        DriverError::Corrupt { .. } => ErrorKind::CorruptData,
        DriverError::Incompatible(_) => ErrorKind::IncompatibleFiles,
        DriverError::Changed(_) => ErrorKind::DataChanged,
        DriverError::Overloaded(_) => ErrorKind::Busy,
    }
}

impl ServiceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Catalog(c) => match c {
                CatalogError::NotFound { .. } => ErrorKind::NotFound,
                CatalogError::Params(_) | CatalogError::Render(_) => ErrorKind::InvalidParameters,
                CatalogError::Nested { .. } => ErrorKind::NestedCatalogUnavailable,
            },
            ServiceError::Driver(d) => driver_kind(d),
            ServiceError::Ticket(t) => match t {
                TicketError::Malformed => ErrorKind::TicketMalformed,
                TicketError::Forged => ErrorKind::TicketForged,
                TicketError::Expired(_) => ErrorKind::TicketExpired,
                TicketError::Stale { .. } => ErrorKind::TicketStale,
            },
            ServiceError::NotASource(_) => ErrorKind::NotASource,
            ServiceError::NotACatalog(_) => ErrorKind::NotACatalog,
            ServiceError::Unavailable { status, .. } => match status {
                Status::UnsupportedDriver(_) | Status::Unsupported(_) => {
                    ErrorKind::UnsupportedDriver
                }
                Status::Ok | Status::Error(_) => ErrorKind::SourceUnavailable,
            },
            ServiceError::InvalidRequest { .. } => ErrorKind::InvalidRequest,
            ServiceError::Busy(_) => ErrorKind::Busy,
            ServiceError::Encoding(_) => ErrorKind::Internal,
            ServiceError::Timeout(_) => ErrorKind::Timeout,
            ServiceError::Unauthenticated(_) => ErrorKind::Unauthenticated,
            ServiceError::Store(_) => ErrorKind::DatabaseUnavailable,
            ServiceError::NoDirectFiles(_) => ErrorKind::NoDirectFiles,
            ServiceError::DataChanged(_) => ErrorKind::DataChanged,
            ServiceError::Revision(g) => match g {
                GitError::NotARepository(_) => ErrorKind::NotVersioned,
                GitError::UnknownRef { .. } => ErrorKind::UnknownRevision,
                GitError::Read(_) => ErrorKind::Internal,
            },
        }
    }

    /// Per-field errors for bad input, for front ends that show them.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let one = |name: &str, message: String| {
            vec![FieldError {
                name: name.to_string(),
                message,
            }]
        };
        match self {
            ServiceError::Catalog(CatalogError::Params(errors)) => errors.clone(),
            ServiceError::Driver(e @ DriverError::BadRequest { field, .. }) => {
                one(field, e.to_string())
            }
            ServiceError::InvalidRequest { field, message } => one(field, message.clone()),
            ServiceError::Revision(
                e @ (GitError::UnknownRef { .. } | GitError::NotARepository(_)),
            ) => one("ref", e.to_string()),
            _ => vec![],
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::InvalidRequest {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_variants_not_messages() {
        let request = ServiceError::from(DriverError::bad_request("columns", "unknown column"));
        assert_eq!(request.kind(), ErrorKind::InvalidRequest);
        assert_eq!(request.field_errors()[0].name, "columns");
        // A catalog arg that happens to be called `columns` is the catalog's fault, not the caller's.
        let catalog = ServiceError::from(DriverError::bad_arg("columns", "the catalog names x"));
        assert_eq!(catalog.kind(), ErrorKind::CatalogArgsInvalid);
        let unsupported = ServiceError::Unavailable {
            name: "c.x".into(),
            status: Status::UnsupportedDriver("rasterio".into()),
        };
        assert_eq!(unsupported.kind(), ErrorKind::UnsupportedDriver);
        let broken = ServiceError::Unavailable {
            name: "c.x".into(),
            status: Status::Error("unsupported things in a message".into()),
        };
        assert_eq!(broken.kind(), ErrorKind::SourceUnavailable);
        assert_eq!(
            ServiceError::from(TicketError::Malformed).kind(),
            ErrorKind::TicketMalformed
        );
    }
}
