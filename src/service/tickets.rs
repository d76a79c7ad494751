//! Signed, stateless tickets: what one plan endpoint reads, redeemable on any replica that shares
//! the key, over HTTP (`GET /api/v1/tickets/{ticket}`) and Arrow Flight (`DoGet`) alike.
//!
//! Format: `base64url(JSON claims) "." base64url(HMAC-SHA256(key, first part))`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use sha2::Sha256;

/// What a ticket grants: one read of `source` with exactly these settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Source name (dotted).
    pub source: String,
    /// Partition ids, or None for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, J>,
    /// The catalog revision the plan was made against.
    pub revision: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires: u64,
    /// The id of the token that planned the read: the ticket stops working when that token is
    /// revoked or expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The version of the source's data when the plan was made (its files' sizes and ETags,
    /// the batch size): a ticket reads that version or is refused with `data-changed`, so a
    /// resumed redemption (`from_batch`) continues the same batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version: Option<String>,
}

/// Why a ticket was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket is malformed: pass the `ticket` string of a plan endpoint unchanged")]
    Malformed,
    #[error("the ticket's signature does not match: it was not issued by a server sharing this key; plan the read again on this server")]
    Forged,
    #[error("the ticket expired at {0} (Unix time): plan the read again")]
    Expired(u64),
    #[error("the ticket was planned against catalog revision `{planned}`, but the catalogs are now at `{current}`: plan the read again")]
    Stale { planned: String, current: String },
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs and checks tickets with one server key.
#[derive(Clone)]
pub struct TicketKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey(***)")
    }
}

/// Shorter keys are refused: HMAC-SHA256 wants at least its output size.
pub const MIN_KEY_BYTES: usize = 32;

impl TicketKey {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        TicketKey { key: key.into() }
    }

    /// A key given as base64url text (`INLET_TICKET_KEY`), checked for length.
    pub fn from_base64(text: &str) -> Result<TicketKey, String> {
        let key = B64.decode(text.trim()).map_err(|e| {
            format!("the ticket key is not base64url ({e}): make one with `head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='`")
        })?;
        Self::checked(key)
    }

    fn checked(key: Vec<u8>) -> Result<TicketKey, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the ticket key has {} bytes; at least {MIN_KEY_BYTES} are needed: delete the key file to have a new one made, or set a longer INLET_TICKET_KEY",
                key.len()
            ));
        }
        Ok(TicketKey::new(key))
    }

    /// The key in `path`; a new random one is written there (mode 0600, its directory 0700)
    /// when the file is absent. A key that is too short, readable by group or others, or
    /// tracked by git is refused with what to do.
    pub fn load_or_create(path: &Path) -> Result<TicketKey, String> {
        let shown = path.display();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(path)
                        .map_err(|e| format!("ticket key file `{shown}`: {e}"))?
                        .permissions()
                        .mode();
                    if mode & 0o077 != 0 {
                        return Err(format!(
                            "ticket key file `{shown}` is readable by others (mode {:o}): run `chmod 600 {shown}`, and replace the key if others may have read it",
                            mode & 0o777
                        ));
                    }
                }
                if super::state_dir::tracked_by_git(path) {
                    return Err(format!(
                        "ticket key file `{shown}` is tracked by git, so anyone with the repository can forge tickets: `git rm --cached {shown}`, delete the file (a new key is made) and keep the state directory out of the repository (--state-dir)"
                    ));
                }
                let key = B64
                    .decode(text.trim())
                    .map_err(|e| format!("ticket key file `{shown}` is not a base64url key ({e}): delete it to have a new one made"))?;
                Self::checked(key).map_err(|e| format!("ticket key file `{shown}`: {e}"))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; MIN_KEY_BYTES];
                getrandom::fill(&mut key).map_err(|e| e.to_string())?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    super::state_dir::ensure_private(dir)?;
                }
                write_private(path, B64.encode(&key).as_bytes())
                    .map_err(|e| format!("cannot write the ticket key `{shown}`: {e}"))?;
                Ok(TicketKey::new(key))
            }
            Err(e) => Err(format!("ticket key file `{shown}`: {e}")),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    pub fn sign(&self, claims: &Claims) -> String {
        self.sign_any(claims)
    }

    /// Signs any claims (read tickets, file tickets: see `super::files`).
    pub fn sign_any<T: Serialize>(&self, claims: &T) -> String {
        let body = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        format!("{body}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// The claims of a ticket this key signed, not yet checked for expiry. Claims of another
    /// kind (a read ticket where a file ticket is expected) do not decode: malformed.
    pub fn open<T: DeserializeOwned>(&self, ticket: &str) -> Result<T, TicketError> {
        let (body, sig) = ticket.split_once('.').ok_or(TicketError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| TicketError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TicketError::Forged)?;
        // Signed by a key we share, so the claims are ours; a decoding failure is a version skew.
        let bytes = B64.decode(body).map_err(|_| TicketError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| TicketError::Malformed)
    }

    /// The claims of a genuine, unexpired ticket of the current revision.
    pub fn verify(&self, ticket: &str, current_revision: &str) -> Result<Claims, TicketError> {
        let claims: Claims = self.open(ticket)?;
        if claims.expires < now() {
            return Err(TicketError::Expired(claims.expires));
        }
        if claims.revision != current_revision {
            return Err(TicketError::Stale {
                planned: claims.revision,
                current: current_revision.to_string(),
            });
        }
        Ok(claims)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires: u64) -> Claims {
        Claims {
            source: "example.trips".into(),
            partitions: Some(vec![1, 2]),
            columns: Some(vec!["a".into()]),
            limit: None,
            params: [("month".to_string(), J::from(2))].into(),
            revision: "r1".into(),
            expires,
            token: None,
            data_version: None,
        }
    }

    #[test]
    fn round_trip_and_every_refusal() {
        let key = TicketKey::new(b"k".to_vec());
        let c = claims(now() + 60);
        let t = key.sign(&c);
        assert_eq!(key.verify(&t, "r1"), Ok(c.clone()));
        // Tampering with the claims (more partitions) breaks the signature.
        let (_, sig) = t.split_once('.').expect("dot");
        let mut more = c.clone();
        more.partitions = Some(vec![0, 1, 2, 3]);
        let body = B64.encode(serde_json::to_vec(&more).expect("json"));
        assert_eq!(
            key.verify(&format!("{body}.{sig}"), "r1"),
            Err(TicketError::Forged)
        );
        assert_eq!(
            TicketKey::new(b"other".to_vec()).verify(&t, "r1"),
            Err(TicketError::Forged)
        );
        assert_eq!(key.verify("garbage", "r1"), Err(TicketError::Malformed));
        let old = key.sign(&claims(now() - 1));
        assert!(matches!(
            key.verify(&old, "r1"),
            Err(TicketError::Expired(_))
        ));
        assert!(matches!(
            key.verify(&t, "r2"),
            Err(TicketError::Stale { .. })
        ));
    }

    #[test]
    fn short_open_or_malformed_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let empty = dir.path().join("empty.key");
        write_private(&empty, b"").expect("write");
        let err = TicketKey::load_or_create(&empty).expect_err("an empty key");
        assert!(
            err.contains("0 bytes") && err.contains("at least 32"),
            "{err}"
        );
        let short = B64.encode([1u8; 16]);
        assert!(TicketKey::from_base64(&short).is_err());
        assert!(TicketKey::from_base64("not base64!").is_err());
        assert!(TicketKey::from_base64(&B64.encode([1u8; 32])).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let open = dir.path().join("open.key");
            write_private(&open, B64.encode([1u8; 32]).as_bytes()).expect("write");
            std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = TicketKey::load_or_create(&open).expect_err("group/other readable");
            assert!(err.contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn key_is_created_once_and_persisted() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state/ticket.key");
        let a = TicketKey::load_or_create(&path).expect("create");
        let b = TicketKey::load_or_create(&path).expect("load");
        let t = a.sign(&claims(now() + 60));
        assert!(
            b.verify(&t, "r1").is_ok(),
            "the persisted key verifies tickets of the first start"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
