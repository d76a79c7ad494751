//! RFC 9457 problem details: the one place errors of every layer become HTTP statuses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use inlet_driver::DriverError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::params::FieldError;
use crate::catalog::redact::redact_text;
use crate::catalog::CatalogError;
use crate::service::{driver_kind, ErrorKind, ServiceError};

/// `application/problem+json` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem (`/problems/not-found`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What happened and what to do about it.
    pub detail: String,
    /// Per-field errors for bad input (parameters, columns, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: errors travel through many `Result`s, keep them small.
    pub problem: Box<Problem>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            problem: Box::new(Problem {
                kind: format!("/problems/{kind}"),
                title: status.canonical_reason().unwrap_or("Error").to_string(),
                status: status.as_u16(),
                detail: detail.into(),
                errors: vec![],
            }),
            retry_after: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.problem.errors = errors;
        self
    }

    pub fn busy(detail: &str) -> Self {
        ApiError::of(ErrorKind::Busy, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        // Messages come from every layer (storage errors quote URLs): redact them here, once.
        self.problem.detail = redact_text(&self.problem.detail).into_owned();
        for e in &mut self.problem.errors {
            e.message = redact_text(&e.message).into_owned();
        }
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"inlet\""),
            );
        }
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// The one table from error kinds to HTTP statuses.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound | ErrorKind::NotASource | ErrorKind::NotACatalog => {
            StatusCode::NOT_FOUND
        }
        ErrorKind::InvalidRequest | ErrorKind::InvalidParameters => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ErrorKind::CatalogArgsInvalid | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::DataNotFound
        | ErrorKind::StorageUnreachable
        | ErrorKind::CorruptData
        | ErrorKind::IncompatibleFiles
        | ErrorKind::NestedCatalogUnavailable
        | ErrorKind::SourceUnavailable => StatusCode::BAD_GATEWAY,
        ErrorKind::Unsupported | ErrorKind::UnsupportedDriver => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::AccessDenied | ErrorKind::TicketMalformed | ErrorKind::TicketForged => {
            StatusCode::FORBIDDEN
        }
        ErrorKind::TicketExpired => StatusCode::GONE,
        ErrorKind::TicketStale | ErrorKind::DataChanged | ErrorKind::NoDirectFiles => {
            StatusCode::CONFLICT
        }
        ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        ErrorKind::UnknownRevision => StatusCode::NOT_FOUND,
        ErrorKind::NotVersioned => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Busy | ErrorKind::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
    }
}

impl ApiError {
    /// An error of `kind`, with its status from [`status_of`].
    pub fn of(kind: ErrorKind, detail: impl Into<String>) -> Self {
        let mut e = ApiError::new(status_of(kind), kind.slug(), detail);
        if matches!(kind, ErrorKind::Busy | ErrorKind::DatabaseUnavailable) {
            e.retry_after = Some(1);
        }
        e
    }

    /// A request field the caller has to fix (422 with one per-field error).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::invalid(field, message).into()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let kind = e.kind();
        if let ServiceError::Driver(d) = &e {
            metrics::counter!("inlet_driver_errors_total", "kind" => driver_kind(d).label())
                .increment(1);
        }
        ApiError::of(kind, e.to_string()).with_errors(e.field_errors())
    }
}

impl From<DriverError> for ApiError {
    fn from(e: DriverError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        ServiceError::from(e).into()
    }
}
