//! HTTP to one DAP2 dataset: `.dds`, `.das` and `.dods?<constraint>` GETs with the catalog's
//! `auth`, redirects checked against the server's host rules, transient failures retried, and
//! every failure a typed error naming the URL.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use inlet_driver::storage::{ensure_tls_provider, StorageResolver};
use inlet_driver::{DriverError, Result};
use reqwest::header::{HeaderValue, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use url::Url;

use crate::xdr::dap_error;

/// How requests authenticate (intake-xarray's `auth`, credentials from `DAP_USER` and
/// `DAP_PASSWORD` as it reads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// Basic credentials sent to the dataset's server.
    GenericHttp {
        user: String,
        password: String,
    },
    /// NASA Earthdata Login: basic credentials sent to the login server the data server
    /// redirects to, its session cookies kept for the data server.
    Urs {
        user: String,
        password: String,
    },
}

impl Auth {
    /// `auth` as intake-xarray spells it; `env` reads an environment variable.
    pub fn parse(v: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Auth> {
        let creds = |how: &str| -> Result<(String, String)> {
            match (env("DAP_USER"), env("DAP_PASSWORD")) {
                (Some(u), Some(p)) => Ok((u, p)),
                _ => Err(DriverError::bad_arg(
                    "auth",
                    format!("`{how}` needs the DAP_USER and DAP_PASSWORD environment variables of the server process"),
                )),
            }
        };
        Ok(match v {
            None => Auth::None,
            Some("generic_http") => {
                let (user, password) = creds("generic_http")?;
                Auth::GenericHttp { user, password }
            }
            Some("urs") => {
                let (user, password) = creds("urs")?;
                Auth::Urs { user, password }
            }
            Some("esgf") => {
                return Err(DriverError::Unsupported(
                    "`auth: esgf` (the ESGF OpenID login, retired by ESGF) is not supported; \
                     for a server taking basic credentials use `auth: generic_http`"
                        .into(),
                ))
            }
            Some(other) => {
                return Err(DriverError::bad_arg(
                    "auth",
                    format!("expected null, `esgf`, `urs` or `generic_http`, got `{other}`"),
                ))
            }
        })
    }

    fn hint(&self) -> &'static str {
        match self {
            Auth::None => "the server wants credentials: set `auth: generic_http` (or `urs` for NASA Earthdata) and DAP_USER/DAP_PASSWORD",
            Auth::GenericHttp { .. } | Auth::Urs { .. } => "the credentials in DAP_USER/DAP_PASSWORD were refused",
        }
    }
}

/// The login server of NASA Earthdata (`auth: urs`).
const URS_HOST: &str = "urs.earthdata.nasa.gov";
const REDIRECTS: usize = 10;

pub struct Client {
    http: reqwest::Client,
    /// The dataset's URL without a suffix (`http://host/thredds/dodsC/x.nc`).
    pub base: String,
    auth: Auth,
    storage: Arc<StorageResolver>,
    /// Cookies set by the servers (Earthdata sessions), by name.
    cookies: Mutex<BTreeMap<String, String>>,
    retries: usize,
}

impl Client {
    pub fn new(base: String, auth: Auth, storage: Arc<StorageResolver>) -> Result<Client> {
        ensure_tls_provider();
        let http = reqwest::Client::builder()
            // Redirects are followed here, one hop at a time, so each host is checked.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| DriverError::Io(format!("`{base}`: cannot build an HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            auth,
            storage,
            cookies: Mutex::new(BTreeMap::new()),
            retries: 3,
        })
    }

    /// GETs `<base><suffix>` (`.dds`, `.dods?air.air%5B0:1:3%5D`): the body, or a typed error.
    pub async fn get(&self, suffix: &str) -> Result<Bytes> {
        let url = format!("{}{suffix}", self.base);
        let mut attempt = 0;
        loop {
            match self.get_once(&url).await {
                Err(Retry::Transient(_)) if attempt < self.retries => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                Err(Retry::Transient(why)) => {
                    return Err(DriverError::Io(format!(
                        "`{url}`: {why} (after {attempt} retries)"
                    )))
                }
                Err(Retry::Final(e)) => return Err(e),
                Ok(b) => return Ok(b),
            }
        }
    }

    async fn get_once(&self, url: &str) -> std::result::Result<Bytes, Retry> {
        let mut at = Url::parse(url)
            .map_err(|e| Retry::Final(DriverError::bad_arg("urlpath", format!("`{url}`: {e}"))))?;
        for _ in 0..=REDIRECTS {
            let host = at.host_str().unwrap_or_default().to_string();
            self.storage
                .check_host(&host, "host")
                .map_err(Retry::Final)?;
            let mut req = self.http.get(at.clone());
            let cookie = self.cookie_header();
            if !cookie.is_empty() {
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    req = req.header(COOKIE, v);
                }
            }
            match &self.auth {
                Auth::GenericHttp { user, password } if Some(host.as_str()) == self.host() => {
                    req = req.basic_auth(user, Some(password));
                }
                Auth::Urs { user, password } if host == URS_HOST => {
                    req = req.basic_auth(user, Some(password));
                }
                _ => {}
            }
            let resp = req.send().await.map_err(|e| {
                if e.is_builder() {
                    Retry::Final(DriverError::bad_arg("urlpath", format!("`{url}`: {e}")))
                } else {
                    Retry::Transient(e.to_string())
                }
            })?;
            self.keep_cookies(&resp);
            let status = resp.status();
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| at.join(l).ok())
                    .ok_or_else(|| {
                        Retry::Final(DriverError::Io(format!(
                            "`{url}`: a redirect ({status}) without a usable Location"
                        )))
                    })?;
                at = next;
                continue;
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| Retry::Transient(format!("reading the response: {e}")))?;
            if status.is_success() {
                // Servers send DAP errors with status 200 too.
                if let Some((code, message)) = dap_error(&body) {
                    return Err(Retry::Final(dap_failure(url, code, &message)));
                }
                return Ok(body);
            }
            return Err(self.failure(url, status, &body));
        }
        Err(Retry::Final(DriverError::Io(format!(
            "`{url}`: more than {REDIRECTS} redirects"
        ))))
    }

    fn host(&self) -> Option<&str> {
        self.base
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', ':', '?']).next())
    }

    fn failure(&self, url: &str, status: StatusCode, body: &[u8]) -> Retry {
        let dap = dap_error(body);
        let detail = dap
            .as_ref()
            .map(|(_, m)| format!(": {m}"))
            .unwrap_or_default();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Retry::Final(DriverError::Io(format!(
                    "`{url}`: access denied ({status}): {}{detail}",
                    self.auth.hint()
                )))
            }
            StatusCode::NOT_FOUND => Retry::Final(DriverError::NotFound(format!(
                "`{url}` does not exist (404){detail}: check the urlpath"
            ))),
            // A DAP error body says what failed (a file it cannot read): asking again won't help.
            s if (s.is_server_error() && dap.is_none()) || s == StatusCode::TOO_MANY_REQUESTS => {
                Retry::Transient(format!("the server answered {status}{detail}"))
            }
            _ => Retry::Final(match dap {
                Some((code, m)) => dap_failure(url, code, &m),
                None => DriverError::Io(format!("`{url}`: the server answered {status}")),
            }),
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().map(|j| j.clone()).unwrap_or_default();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&self, resp: &reqwest::Response) {
        let Ok(mut jar) = self.cookies.lock() else {
            return;
        };
        for v in resp.headers().get_all(SET_COOKIE) {
            let Some(pair) = v.to_str().ok().and_then(|s| s.split(';').next()) else {
                continue;
            };
            if let Some((k, v)) = pair.split_once('=') {
                jar.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
}

enum Retry {
    Transient(String),
    Final(DriverError),
}

/// A DAP2 error body as a typed error (codes of the DAP2 specification).
pub fn dap_failure(url: &str, code: Option<i64>, message: &str) -> DriverError {
    let code_text = code.map(|c| format!(" {c}")).unwrap_or_default();
    // Long messages are tracebacks: their end says what failed.
    let chars: Vec<char> = message.trim().chars().collect();
    let message = match chars.len() {
        n if n > 400 => format!("...{}", chars[n - 400..].iter().collect::<String>()),
        _ => chars.iter().collect(),
    };
    let what = format!("`{url}`: the DAP server answered error{code_text}: {message}");
    match code {
        Some(1003) | Some(1004) => DriverError::NotFound(what),
        Some(1005) => DriverError::bad_arg("urlpath", what),
        Some(1006) => DriverError::Io(format!("{what} (set `auth` and DAP_USER/DAP_PASSWORD)")),
        _ => DriverError::Io(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_reads_intake_xarray_spellings_and_env() {
        let env = |k: &str| match k {
            "DAP_USER" => Some("u".to_string()),
            "DAP_PASSWORD" => Some("p".to_string()),
            _ => None,
        };
        assert_eq!(Auth::parse(None, env).expect("none"), Auth::None);
        assert_eq!(
            Auth::parse(Some("generic_http"), env).expect("basic"),
            Auth::GenericHttp {
                user: "u".into(),
                password: "p".into()
            }
        );
        let no_env = |_: &str| None;
        let e = Auth::parse(Some("generic_http"), no_env).expect_err("no creds");
        assert!(e.to_string().contains("DAP_USER"), "{e}");
        assert!(matches!(
            Auth::parse(Some("esgf"), env),
            Err(DriverError::Unsupported(_))
        ));
        assert!(matches!(
            Auth::parse(Some("kerberos"), env),
            Err(DriverError::BadArg { .. })
        ));
    }

    #[test]
    fn dap_error_codes_map_to_kinds() {
        let e = dap_failure("http://h/x.nc.dods", Some(1004), "no such variable");
        assert!(matches!(&e, DriverError::NotFound(m) if m.contains("http://h/x.nc.dods")));
        let e = dap_failure("http://h/x.nc.dods", None, "boom");
        assert!(matches!(e, DriverError::Io(_)));
    }
}
