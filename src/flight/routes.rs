//! The Flight service as served: arrow-flight's generated server for every method but `DoGet`,
//! which goes through tonic with [`MessageCodec`] so batches are copied once on their way to
//! the socket (see [`super::encode`]). Same path, same protobuf on the wire.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::Ticket;
use futures::future::BoxFuture;
use tonic::body::Body;
use tonic::codegen::{http, Service};
use tonic::server::{Grpc, NamedService, ServerStreamingService};
use tonic::{Request, Response, Status};

use super::encode::{FlightMessage, MessageCodec};
use super::service::InletFlight;

const DO_GET: &str = "/arrow.flight.protocol.FlightService/DoGet";

/// Requests larger than this are refused (tickets and descriptors are small).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct FlightRoutes {
    generated: FlightServiceServer<InletFlight>,
    flight: Arc<InletFlight>,
}

impl FlightRoutes {
    pub fn new(flight: InletFlight) -> Self {
        let flight = Arc::new(flight);
        FlightRoutes {
            generated: FlightServiceServer::from_arc(flight.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES)
                .max_encoding_message_size(usize::MAX),
            flight,
        }
    }
}

impl NamedService for FlightRoutes {
    const NAME: &'static str = <FlightServiceServer<InletFlight> as NamedService>::NAME;
}

impl Service<http::Request<Body>> for FlightRoutes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != DO_GET {
            return self.generated.call(request);
        }
        let method = DoGet(self.flight.clone());
        Box::pin(async move {
            let mut grpc = Grpc::new(MessageCodec)
                .apply_max_message_size_config(Some(MAX_REQUEST_BYTES), Some(usize::MAX));
            Ok(grpc.server_streaming(method, request).await)
        })
    }
}

struct DoGet(Arc<InletFlight>);

impl ServerStreamingService<Ticket> for DoGet {
    type Response = FlightMessage;
    type ResponseStream = futures::stream::BoxStream<'static, Result<FlightMessage, Status>>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: Request<Ticket>) -> Self::Future {
        let flight = self.0.clone();
        Box::pin(async move { flight.messages(request).await })
    }
}
