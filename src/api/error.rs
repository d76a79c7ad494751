//! RFC 9457 problem details: the one place errors of every layer become HTTP statuses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use inlet_driver::DriverError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::params::FieldError;
use crate::catalog::CatalogError;
use crate::service::ServiceError;
use crate::tickets::TicketError;

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

    pub fn field(status: StatusCode, kind: &str, name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::new(status, kind, message.clone()).with_errors(vec![FieldError {
            name: name.to_string(),
            message,
        }])
    }

    pub fn busy(detail: &str) -> Self {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail);
        e.retry_after = Some(1);
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

impl From<DriverError> for ApiError {
    fn from(e: DriverError) -> Self {
        metrics::counter!("inlet_driver_errors_total", "kind" => driver_error_kind(&e))
            .increment(1);
        let detail = e.to_string();
        match e {
            // Request fields: the client's to fix.
            DriverError::BadArg { ref arg, .. }
                if matches!(arg.as_str(), "columns" | "partition" | "limit") =>
            {
                ApiError::field(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-request",
                    arg,
                    detail,
                )
            }
            DriverError::BadArg { .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "catalog-args-invalid",
                detail,
            ),
            DriverError::NotFound(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "data-not-found", detail)
            }
            DriverError::Unsupported(_) => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "unsupported", detail)
            }
            DriverError::Denied(_) => ApiError::new(StatusCode::FORBIDDEN, "access-denied", detail),
            DriverError::Io(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "storage-unreachable", detail)
            }
            DriverError::Corrupt { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "corrupt-data", detail)
            }
            DriverError::Incompatible(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "incompatible-files", detail)
            }
        }
    }
}

pub fn driver_error_kind(e: &DriverError) -> &'static str {
    match e {
        DriverError::NotFound(_) => "not_found",
        DriverError::BadArg { .. } => "bad_arg",
        DriverError::Unsupported(_) => "unsupported",
        DriverError::Denied(_) => "denied",
        DriverError::Io(_) => "io",
        DriverError::Corrupt { .. } => "corrupt",
        DriverError::Incompatible(_) => "incompatible",
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let detail = e.to_string();
        match e {
            CatalogError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", detail)
            }
            CatalogError::Params(errors) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-parameters",
                detail,
            )
            .with_errors(errors),
            CatalogError::Render(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-parameters",
                detail,
            ),
            CatalogError::Nested { .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "nested-catalog-unavailable",
                detail,
            ),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let detail = e.to_string();
        match e {
            ServiceError::Catalog(c) => c.into(),
            ServiceError::Driver(d) => d.into(),
            ServiceError::NotASource(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not-a-source", detail)
            }
            ServiceError::Unavailable { ref status, .. } if status.starts_with("unsupported") => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "unsupported-driver", detail)
            }
            ServiceError::Unavailable { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "source-unavailable", detail)
            }
        }
    }
}

impl From<TicketError> for ApiError {
    fn from(e: TicketError) -> Self {
        let detail = e.to_string();
        match e {
            TicketError::Forged => ApiError::new(StatusCode::FORBIDDEN, "ticket-invalid", detail),
            TicketError::Expired(_) => ApiError::new(StatusCode::GONE, "ticket-expired", detail),
            TicketError::Stale { .. } => {
                ApiError::new(StatusCode::CONFLICT, "ticket-stale", detail)
            }
        }
    }
}
