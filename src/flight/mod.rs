//! The Arrow Flight (gRPC) front end: the same core, plans and tickets as HTTP, spoken as
//! Flight. A ticket planned over HTTP is redeemed by `DoGet` and the other way round.

mod encode;
mod routes;
mod service;

use std::net::SocketAddr;
use std::sync::Arc;

use tonic::Code;

use crate::service::{Core, ErrorKind, ServiceError};

pub use service::{FlightCommand, InletFlight};

/// The one table from error kinds to gRPC codes.
pub fn code_of(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::NotFound | ErrorKind::NotASource | ErrorKind::NotACatalog => Code::NotFound,
        ErrorKind::InvalidRequest | ErrorKind::InvalidParameters | ErrorKind::TicketMalformed => {
            Code::InvalidArgument
        }
        ErrorKind::CatalogArgsInvalid | ErrorKind::Internal => Code::Internal,
        ErrorKind::DataNotFound
        | ErrorKind::StorageUnreachable
        | ErrorKind::NestedCatalogUnavailable
        | ErrorKind::SourceUnavailable => Code::Unavailable,
        ErrorKind::CorruptData | ErrorKind::IncompatibleFiles => Code::DataLoss,
        ErrorKind::Unsupported | ErrorKind::UnsupportedDriver => Code::Unimplemented,
        ErrorKind::AccessDenied | ErrorKind::TicketForged => Code::PermissionDenied,
        ErrorKind::TicketExpired => Code::Unauthenticated,
        ErrorKind::TicketStale | ErrorKind::NoDirectFiles => Code::FailedPrecondition,
        ErrorKind::RangeNotSatisfiable => Code::OutOfRange,
        ErrorKind::UnknownRevision => Code::NotFound,
        ErrorKind::NotVersioned => Code::FailedPrecondition,
        ErrorKind::DataChanged => Code::Aborted,
        ErrorKind::Busy | ErrorKind::DatabaseUnavailable => Code::Unavailable,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::Timeout => Code::DeadlineExceeded,
    }
}

/// A service error as a gRPC status: the code from [`code_of`], the message with the problem
/// slug first so clients can tell kinds apart without parsing prose.
pub fn status(e: ServiceError) -> tonic::Status {
    let kind = e.kind();
    let message = crate::catalog::redact::redact_text(&e.to_string()).into_owned();
    tonic::Status::new(code_of(kind), format!("{}: {message}", kind.slug()))
}

/// Binds the Flight listener (before the server announces itself, so the port is known).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for Flight on {addr}: {e}"))
}

/// Serves Flight on `listener` until `shutdown` resolves.
pub async fn serve(
    core: Arc<Core>,
    listener: tokio::net::TcpListener,
    locations: Vec<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let service = routes::FlightRoutes::new(InletFlight::new(core, locations));
    // Nagle off, as gRPC servers set it (tonic only sets it on listeners it binds itself):
    // with it, the last small frames of a message wait for the client's delayed ACK.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| format!("Flight server: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_refusals_have_distinct_codes() {
        use crate::service::tickets::TicketError;
        let code = |e: TicketError| status(ServiceError::from(e)).code();
        assert_eq!(code(TicketError::Malformed), Code::InvalidArgument);
        assert_eq!(code(TicketError::Forged), Code::PermissionDenied);
        assert_eq!(code(TicketError::Expired(1)), Code::Unauthenticated);
        let s = status(ServiceError::Busy("all busy".into()));
        assert_eq!(s.code(), Code::Unavailable);
        assert!(s.message().starts_with("busy: "), "{}", s.message());
    }
}
