//! Flight-style planning: a read split into endpoints, each with a signed ticket that any
//! replica sharing the key redeems, over HTTP or Arrow Flight alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use inlet_driver::{Partition, ReadRequest};
use serde::Deserialize;
use serde_json::Value as J;
use utoipa::ToSchema;

use super::access::{authorize, Caller};
use super::snapshot::Snapshot;
use super::tickets::{now, Claims, TicketError};
use super::{Core, ServiceError};

// What a caller asks to read: the JSON body of `POST /api/v1/sources/{source}/plan`, and (with
// the source) the command of a Flight `CMD` descriptor. Its doc line is the OpenAPI description.
/// A Flight-style plan request.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    pub columns: Option<Vec<String>>,
    #[serde(default, deserialize_with = "whole_number")]
    pub limit: Option<usize>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, J>,
    /// Upper bound on endpoints (default 16); partitions are split evenly between them.
    #[serde(default, deserialize_with = "whole_number")]
    pub max_endpoints: Option<usize>,
    /// The catalog revision to plan at (commit, branch or tag), as `?ref=` elsewhere; the
    /// Flight `CMD` descriptor takes it this way.
    #[serde(default, rename = "ref")]
    pub revision: Option<String>,
}

/// A count written as JSON: `5` or `5.0` (JSON Schema calls both integers), not `5.5` or `-1`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let n: Option<serde_json::Number> = Option::deserialize(d)?;
    let Some(n) = n else { return Ok(None) };
    if let Some(u) = n.as_u64() {
        return usize::try_from(u)
            .map(Some)
            .map_err(serde::de::Error::custom);
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= usize::MAX as f64 => Ok(Some(f as usize)),
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number of at least 0, got {n}"
        ))),
    }
}

/// One part of a plan: a ticket for some partitions. Front ends add where to redeem it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub ticket: String,
    pub partitions: Vec<usize>,
    pub estimated_rows: Option<u64>,
    pub estimated_bytes: Option<u64>,
    /// Unix time (seconds).
    pub expires_at: u64,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub source: String,
    pub schema: SchemaRef,
    pub endpoints: Vec<Endpoint>,
    pub total_records: Option<u64>,
    pub total_bytes: Option<u64>,
    pub revision: String,
}

/// Endpoints planned when the caller does not say.
pub const DEFAULT_ENDPOINTS: usize = 16;

fn sum(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.sum()
}

/// `ids` in `n` contiguous groups whose sizes differ by at most one (one empty group for none).
fn groups(ids: &[usize], n: usize) -> Vec<Vec<usize>> {
    if ids.is_empty() {
        return vec![vec![]];
    }
    let n = n.clamp(1, ids.len());
    (0..n)
        .map(|g| ids[g * ids.len() / n..(g + 1) * ids.len() / n].to_vec())
        .collect()
}

impl Core {
    /// Plans a read of `source`: its schema and endpoints with signed tickets.
    pub async fn plan(
        &self,
        caller: &Caller,
        source: &str,
        req: PlanRequest,
    ) -> Result<Plan, ServiceError> {
        authorize(caller, source)?;
        let snap = match &req.revision {
            Some(name) => self.snapshot_at(name).await?.0,
            None => self.snapshot_for(caller),
        };
        let opened = snap
            .open(source, &req.params)
            .await
            .map_err(|e| caller.conceal(e))?;
        let discovery = opened
            .source
            .discover()
            .await
            .map_err(|e| opened.blame(e))?;
        let probe = ReadRequest {
            projection: req.columns.clone(),
            ..ReadRequest::default()
        };
        let schema = discovery.projected_schema(&probe)?;
        let ids: Vec<usize> = discovery.partitions.iter().map(|p| p.id).collect();
        // A limit cannot be split between endpoints without reading more than asked: one endpoint.
        let n = if req.limit.is_some() {
            1
        } else {
            req.max_endpoints.unwrap_or(DEFAULT_ENDPOINTS)
        };
        let expires_at = now() + self.config.ticket_ttl_secs;
        let data_version = super::resume::data_version(
            &opened.key,
            &discovery.files,
            self.config.batch_size.max(1),
        );
        let endpoints: Vec<Endpoint> = groups(&ids, n)
            .into_iter()
            .map(|parts| {
                let claims = Claims {
                    source: source.to_string(),
                    partitions: Some(parts.clone()),
                    columns: req.columns.clone(),
                    limit: req.limit,
                    params: opened.params.clone(),
                    revision: snap.revision.clone(),
                    expires: expires_at,
                    token: caller.token_id().map(str::to_string),
                    data_version: Some(data_version.clone()),
                };
                let estimate = |f: fn(&Partition) -> Option<u64>| {
                    sum(parts
                        .iter()
                        .map(|&i| discovery.partitions.get(i).and_then(f)))
                };
                Endpoint {
                    ticket: self.tickets.sign(&claims),
                    estimated_rows: estimate(|p| p.estimated_rows),
                    estimated_bytes: estimate(|p| p.estimated_bytes),
                    partitions: parts,
                    expires_at,
                }
            })
            .collect();
        let rows = sum(endpoints.iter().map(|e| e.estimated_rows));
        let total_records = match (rows, req.limit) {
            (Some(r), Some(l)) => Some(r.min(l as u64)),
            (r, _) => r,
        };
        Ok(Plan {
            source: source.to_string(),
            schema,
            total_bytes: sum(endpoints.iter().map(|e| e.estimated_bytes)),
            total_records,
            endpoints,
            revision: snap.revision.clone(),
        })
    }

    /// Starts the read a ticket grants, holding a stream slot; from batch `from_batch` when the
    /// client resumes it. The data must still be the version the plan saw.
    pub async fn redeem(
        &self,
        caller: &Caller,
        ticket: &str,
        from_batch: u64,
    ) -> Result<super::Read, ServiceError> {
        let (claims, snap) = self.verify_ticket(ticket).await?;
        authorize(caller, &claims.source)?;
        self.check_ticket_token(claims.token.as_deref()).await?;
        let permit = self
            .admission
            .admit()
            .inspect_err(|e| self.noted(&claims.source, e))?;
        let meter = self.usage.meter(&claims.source, caller.token_id());
        let request = ReadRequest {
            partitions: claims.partitions,
            projection: claims.columns,
            limit: claims.limit,
            batch_size: self.config.batch_size.max(1),
        };
        let resume = super::Resume {
            from_batch,
            data_version: claims.data_version,
        };
        self.first_batch(snap.read(
            &claims.source,
            &claims.params,
            request,
            Some(permit),
            &resume,
        ))
        .await
        .inspect_err(|e| self.noted(&claims.source, e))
        .map(|r| r.metered(meter).reporting(self.errors.clone()))
    }

    /// A ticket's claims and the snapshot it reads: the revision it was planned at, which is
    /// the current one or, for a plan made at a commit, that commit's catalogs.
    pub(super) async fn verify_ticket(
        &self,
        ticket: &str,
    ) -> Result<(Claims, Arc<Snapshot>), ServiceError> {
        let current = self.snapshot();
        match self.tickets.verify(ticket, &current.revision) {
            Err(TicketError::Stale { planned, current }) => {
                match self.snapshot_of_revision(&planned).await? {
                    Some(snap) => Ok((self.tickets.verify(ticket, &snap.revision)?, snap)),
                    None => Err(TicketError::Stale { planned, current }.into()),
                }
            }
            verified => Ok((verified?, current)),
        }
    }

    /// The same grant with a new expiry (`ttl` from now), for clients that plan far ahead.
    pub async fn renew(
        &self,
        caller: &Caller,
        ticket: &str,
    ) -> Result<(String, u64), ServiceError> {
        let (mut claims, _) = self.verify_ticket(ticket).await?;
        authorize(caller, &claims.source)?;
        self.check_ticket_token(claims.token.as_deref()).await?;
        claims.expires = now() + self.config.ticket_ttl_secs;
        Ok((self.tickets.sign(&claims), claims.expires))
    }
}

#[cfg(test)]
mod tests {
    use super::groups;

    #[test]
    fn groups_are_contiguous_and_balanced() {
        assert_eq!(groups(&[], 4), vec![Vec::<usize>::new()]);
        assert_eq!(groups(&[0, 1, 2], 16), vec![vec![0], vec![1], vec![2]]);
        assert_eq!(groups(&[0, 1, 2, 3, 4], 2), vec![vec![0, 1], vec![2, 3, 4]]);
        assert_eq!(groups(&[0, 1], 0), vec![vec![0, 1]]);
    }
}
