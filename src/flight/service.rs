//! `FlightService` over the core: each method parses the request, calls the core and renders the
//! answer as Flight messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_flight::flight_descriptor::DescriptorType;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, Criteria,
    Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, RenewFlightEndpointRequest, SchemaAsIpc, SchemaResult,
    Ticket,
};
use arrow_ipc::writer::IpcWriteOptions;
use arrow_ipc::CompressionType;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use serde::Deserialize;
use serde_json::Value as J;
use tonic::{Request, Response, Status, Streaming};

use super::encode::{FlightEncoder, FlightMessage};
use super::status;
use crate::service::{Caller, Core, Plan, PlanRequest, ServiceError};

type Answer<T> = Result<Response<T>, Status>;
type Streamed<T> = BoxStream<'static, Result<T, Status>>;

const RENEW: &str = "RenewFlightEndpoint";
const CANCEL: &str = "CancelFlightInfo";

/// The `CMD` of a Flight descriptor: the body of `POST /api/v1/sources/{source}/plan` plus the
/// source it plans.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlightCommand {
    pub source: String,
    pub columns: Option<Vec<String>>,
    pub limit: Option<usize>,
    #[serde(default)]
    pub params: BTreeMap<String, J>,
    pub max_endpoints: Option<usize>,
    /// A catalog revision (commit, branch or tag), as `?ref=` over HTTP.
    #[serde(default, rename = "ref")]
    pub revision: Option<String>,
}

pub struct InletFlight {
    core: Arc<Core>,
    /// Flight URIs of the replicas that redeem tickets.
    locations: Vec<String>,
}

impl InletFlight {
    /// The messages of the endpoint a ticket grants. A failure after the first message ends
    /// the stream with an error status, never with a clean end.
    pub async fn messages(&self, request: Request<Ticket>) -> Answer<Streamed<FlightMessage>> {
        let who = self.caller(&request).await?;
        let codec = compression(&request)?;
        let ticket = request.into_inner().ticket;
        let (ticket, from_batch) = resumed_ticket(ticket_text(&ticket)?)?;
        let read = self
            .core
            .redeem(&who, ticket, from_batch)
            .await
            .map_err(status)?;
        let options = IpcWriteOptions::default()
            .try_with_compression(codec)
            .map_err(|e| Status::internal(e.to_string()))?;
        let meter = read.meter();
        let failed =
            |e: &dyn std::fmt::Display| Status::internal(format!("the stream failed: {e}"));
        let encoder =
            FlightEncoder::try_new(&read.schema, options, from_batch).map_err(|e| failed(&e))?;
        let messages = futures::stream::unfold(
            (Some(encoder), read),
            move |(encoder, mut read)| async move {
                let mut encoder = encoder?;
                let next = match read.next().await {
                    Some(Ok(batch)) => encoder.encode(&batch).map_err(|e| failed(&e)),
                    Some(Err(e)) => Err(status(e.into())),
                    None => {
                        let last = encoder.finish().map_err(|e| failed(&e));
                        return Some((last, (None, read)));
                    }
                };
                let carry_on = next.is_ok().then_some(encoder);
                Some((next, (carry_on, read)))
            },
        )
        .map_ok(move |batch| {
            if let Some(m) = &meter {
                m.add_bytes(batch.iter().map(FlightMessage::len).sum::<usize>() as u64);
            }
            stream::iter(batch.into_iter().map(Ok))
        })
        .try_flatten();
        let idle = self.core.stream_idle_timeout();
        let spooled =
            crate::service::spool::spool(messages, 2, idle, |m| Status::aborted(m.to_string()));
        Ok(Response::new(spooled.boxed()))
    }

    pub fn new(core: Arc<Core>, locations: Vec<String>) -> Self {
        InletFlight { core, locations }
    }

    /// What a descriptor asks for: a path `[catalog..., entry]` (or one dotted element), or a
    /// JSON command.
    fn parse_descriptor(d: &FlightDescriptor) -> Result<(String, PlanRequest), Status> {
        match DescriptorType::try_from(d.r#type) {
            Ok(DescriptorType::Path) if !d.path.is_empty() => {
                Ok((d.path.join("."), PlanRequest::default()))
            }
            Ok(DescriptorType::Path) => Err(Status::invalid_argument(
                "an empty descriptor path: give [catalog, entry] or [\"catalog.entry\"]",
            )),
            Ok(DescriptorType::Cmd) => {
                let c: FlightCommand = serde_json::from_slice(&d.cmd).map_err(|e| {
                    Status::invalid_argument(format!(
                        "the command must be JSON like {{\"source\": \"catalog.entry\", \"columns\": [..], \"limit\": N, \"params\": {{..}}, \"max_endpoints\": N, \"ref\": \"v1\"}}: {e}"
                    ))
                })?;
                let req = PlanRequest {
                    columns: c.columns,
                    limit: c.limit,
                    params: c.params,
                    max_endpoints: c.max_endpoints,
                    revision: c.revision,
                };
                Ok((c.source, req))
            }
            _ => Err(Status::invalid_argument(
                "unknown descriptor type: use PATH or CMD",
            )),
        }
    }

    fn flight_info(&self, descriptor: FlightDescriptor, plan: Plan) -> Result<FlightInfo, Status> {
        let endpoints = plan
            .endpoints
            .into_iter()
            .map(|e| {
                let mut endpoint = FlightEndpoint::new()
                    .with_ticket(Ticket::new(e.ticket))
                    .with_expiration_time(timestamp(e.expires_at));
                for l in &self.locations {
                    endpoint = endpoint.with_location(l.clone());
                }
                endpoint
            })
            .collect();
        let known = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok()).unwrap_or(-1);
        FlightInfo::new()
            .try_with_schema(&plan.schema)
            .map_err(|e| Status::internal(e.to_string()))
            .map(|info| {
                info.with_descriptor(descriptor)
                    .with_endpoints(endpoints)
                    .with_total_records(known(plan.total_records))
                    .with_total_bytes(known(plan.total_bytes))
                    .with_ordered(true)
            })
    }

    async fn plan_for(
        &self,
        caller: &Caller,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let (source, req) = Self::parse_descriptor(&descriptor)?;
        let plan = self.core.plan(caller, &source, req).await.map_err(status)?;
        self.flight_info(descriptor, plan)
    }
}

fn timestamp(unix_seconds: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::try_from(unix_seconds).unwrap_or(i64::MAX),
        nanos: 0,
    }
}

impl InletFlight {
    /// The caller of a request, resolved by the core from its `authorization` metadata.
    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let value = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        self.core.authenticate(value).await.map_err(status)
    }
}

/// IPC buffer compression asked for with the `x-inlet-compression` header.
fn compression<T>(request: &Request<T>) -> Result<Option<CompressionType>, Status> {
    let Some(v) = request.metadata().get("x-inlet-compression") else {
        return Ok(None);
    };
    match v
        .to_str()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "none" => Ok(None),
        "zstd" => Ok(Some(CompressionType::ZSTD)),
        "lz4" | "lz4_frame" => Ok(Some(CompressionType::LZ4_FRAME)),
        other => Err(Status::invalid_argument(format!(
            "x-inlet-compression `{other}` is not supported: use zstd, lz4 or none"
        ))),
    }
}

fn ticket_text(ticket: &[u8]) -> Result<&str, Status> {
    std::str::from_utf8(ticket).map_err(|_| {
        status(ServiceError::from(
            crate::service::tickets::TicketError::Malformed,
        ))
    })
}

/// A `DoGet` ticket and where it resumes: the ticket of a plan, optionally followed by
/// `?from_batch=N` (as `GET /api/v1/tickets/{ticket}?from_batch=N` takes it).
fn resumed_ticket(ticket: &str) -> Result<(&str, u64), Status> {
    let Some((ticket, suffix)) = ticket.split_once('?') else {
        return Ok((ticket, 0));
    };
    let bad = || {
        status(ServiceError::invalid(
            "from_batch",
            format!("a ticket may be followed by `?from_batch=N` (N: the batches already received, a whole number from 0), not `?{suffix}`"),
        ))
    };
    let n = suffix.strip_prefix("from_batch=").ok_or_else(bad)?;
    Ok((ticket, n.parse().map_err(|_| bad())?))
}

#[tonic::async_trait]
impl FlightService for InletFlight {
    type HandshakeStream = Streamed<HandshakeResponse>;
    type ListFlightsStream = Streamed<FlightInfo>;
    type DoGetStream = Streamed<FlightData>;
    type DoPutStream = Streamed<PutResult>;
    type DoExchangeStream = Streamed<FlightData>;
    type DoActionStream = Streamed<arrow_flight::Result>;
    type ListActionsStream = Streamed<ActionType>;

    /// No authentication handshake: bearer tokens travel in `authorization` metadata.
    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Answer<Self::HandshakeStream> {
        let answers = request.into_inner().map_ok(|r| HandshakeResponse {
            protocol_version: r.protocol_version,
            payload: r.payload,
        });
        Ok(Response::new(answers.boxed()))
    }

    /// One FlightInfo per source (descriptor path `[catalog, entry]`), filtered by the search
    /// text in `Criteria.expression`. Schemas and endpoints come from `GetFlightInfo`: listing
    /// never reads data.
    async fn list_flights(&self, request: Request<Criteria>) -> Answer<Self::ListFlightsStream> {
        let who = self.caller(&request).await?;
        let text = String::from_utf8_lossy(&request.get_ref().expression).into_owned();
        let mut req = crate::service::SearchRequest {
            text,
            page_size: Some(crate::service::search::MAX_PAGE),
            ..Default::default()
        };
        let mut hits = vec![];
        loop {
            let page = self.core.search(&who, &req).await.map_err(status)?;
            hits.extend(page.hits);
            match page.next_page_token {
                Some(t) => req.page_token = Some(t),
                None => break,
            }
        }
        let infos: Vec<Result<FlightInfo, Status>> = hits
            .into_iter()
            .map(|h| {
                let path = match h.name.rsplit_once('.') {
                    Some((catalog, entry)) => vec![catalog.to_string(), entry.to_string()],
                    None => vec![h.name.clone()],
                };
                let mut info = FlightInfo::new()
                    .with_descriptor(FlightDescriptor::new_path(path))
                    .with_total_records(-1)
                    .with_total_bytes(-1);
                info.app_metadata = serde_json::to_vec(&serde_json::json!({
                    "name": h.name,
                    "driver": h.driver,
                    "description": h.summary,
                    "status": crate::catalog::redact::redact_text(&h.status),
                    "rank": h.rank,
                }))
                .unwrap_or_default()
                .into();
                Ok(info)
            })
            .collect();
        Ok(Response::new(stream::iter(infos).boxed()))
    }

    async fn get_flight_info(&self, request: Request<FlightDescriptor>) -> Answer<FlightInfo> {
        let who = self.caller(&request).await?;
        let info = self.plan_for(&who, request.into_inner()).await?;
        Ok(Response::new(info))
    }

    /// Plans are made at once, so a poll answers complete.
    async fn poll_flight_info(&self, request: Request<FlightDescriptor>) -> Answer<PollInfo> {
        let who = self.caller(&request).await?;
        let info = self.plan_for(&who, request.into_inner()).await?;
        let poll = PollInfo::new()
            .with_info(info)
            .try_with_progress(1.0)
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(poll))
    }

    async fn get_schema(&self, request: Request<FlightDescriptor>) -> Answer<SchemaResult> {
        let who = self.caller(&request).await?;
        let info = self.plan_for(&who, request.into_inner()).await?;
        let schema = info
            .try_decode_schema()
            .map_err(|e| Status::internal(e.to_string()))?;
        let result = SchemaResult::try_from(SchemaAsIpc::new(&schema, &IpcWriteOptions::default()))
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(result))
    }

    /// Streams the endpoint a ticket grants (the served route takes [`InletFlight::messages`]
    /// without this copy into `FlightData`; see [`super::routes`]).
    async fn do_get(&self, request: Request<Ticket>) -> Answer<Self::DoGetStream> {
        let messages = self.messages(request).await?.into_inner();
        Ok(Response::new(
            messages.map_ok(FlightMessage::into_flight_data).boxed(),
        ))
    }

    async fn do_put(&self, _request: Request<Streaming<FlightData>>) -> Answer<Self::DoPutStream> {
        Err(Status::unimplemented(
            "Inlet serves catalogs read-only: DoPut is not offered",
        ))
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Answer<Self::DoExchangeStream> {
        Err(Status::unimplemented(
            "Inlet serves catalogs read-only: DoExchange is not offered",
        ))
    }

    async fn do_action(&self, request: Request<Action>) -> Answer<Self::DoActionStream> {
        let who = self.caller(&request).await?;
        let action = request.into_inner();
        let body = match action.r#type.as_str() {
            RENEW => {
                let req = RenewFlightEndpointRequest::decode(action.body).map_err(|e| {
                    Status::invalid_argument(format!(
                        "the body must be a RenewFlightEndpointRequest: {e}"
                    ))
                })?;
                let endpoint = req.endpoint.unwrap_or_default();
                let old = endpoint.ticket.clone().unwrap_or_default().ticket;
                let (ticket, expires) = self
                    .core
                    .renew(&who, ticket_text(&old)?)
                    .await
                    .map_err(status)?;
                let renewed = FlightEndpoint {
                    ticket: Some(Ticket::new(ticket)),
                    expiration_time: Some(timestamp(expires)),
                    ..endpoint
                };
                renewed.encode_to_vec()
            }
            CANCEL => {
                CancelFlightInfoRequest::decode(action.body).map_err(|e| {
                    Status::invalid_argument(format!(
                        "the body must be a CancelFlightInfoRequest: {e}"
                    ))
                })?;
                // Plans hold nothing on the server (tickets are stateless): there is nothing to
                // cancel, and a stream ends when its client drops it.
                CancelFlightInfoResult::new(CancelStatus::NotCancellable).encode_to_vec()
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "unknown action `{other}`: ListActions lists {RENEW} and {CANCEL}"
                )))
            }
        };
        let result = arrow_flight::Result::new(body);
        Ok(Response::new(stream::iter([Ok(result)]).boxed()))
    }

    async fn list_actions(&self, _request: Request<Empty>) -> Answer<Self::ListActionsStream> {
        let actions = [
            (
                RENEW,
                "Extends an endpoint's expiry: body RenewFlightEndpointRequest, result FlightEndpoint with a re-signed ticket",
            ),
            (
                CANCEL,
                "Body CancelFlightInfoRequest; plans hold no server state, so the answer is NOT_CANCELLABLE",
            ),
        ]
        .map(|(t, d)| {
            Ok(ActionType {
                r#type: t.to_string(),
                description: d.to_string(),
            })
        });
        Ok(Response::new(stream::iter(actions).boxed()))
    }
}
