//! The URLs a server is reached at, for every front end that writes absolute URLs: plan
//! locations, the web page's "load it" snippets.

use crate::config::ServeConfig;

/// `host[:port]` with a DNS name or an IP address: no user info, path, query or spaces.
pub fn plain_authority(h: &str) -> bool {
    let (host, port) = if h.starts_with('[') {
        match h.find(']') {
            Some(end) => (&h[..=end], h[end + 1..].strip_prefix(':')),
            None => return false,
        }
    } else {
        match h.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    if !h.starts_with('[') && port.is_none() && h.contains(':') {
        return false;
    }
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = match host.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
    };
    // `[::1]x` (text after the bracket that is not a port) is not an authority either.
    let tail_ok = !h.starts_with('[') || h.len() == host.len() || port.is_some();
    port_ok && host_ok && tail_ok
}

/// Base URLs of this server (`http://host:port`, no trailing slash): the advertised ones
/// (`--advertise`), else this server as the client reached it (the `Host` header when it is a
/// plain `host[:port]`: the header is the client's to write), else the listen address.
pub fn public_bases(config: &ServeConfig, host: Option<&str>) -> Vec<String> {
    if config.advertise.is_empty() {
        let host = host
            .filter(|h| plain_authority(h))
            .map_or_else(|| config.http.to_string(), str::to_string);
        vec![format!("http://{host}")]
    } else {
        config
            .advertise
            .iter()
            .map(|b| b.trim_end_matches('/').to_string())
            .collect()
    }
}

/// The first of [`public_bases`]: the URL snippets and links use.
pub fn public_base(config: &ServeConfig, host: Option<&str>) -> String {
    public_bases(config, host)
        .into_iter()
        .next()
        .unwrap_or_else(|| format!("http://{}", config.http))
}

/// Whether the public URL is https (cookies are then `Secure`).
pub fn public_is_https(config: &ServeConfig) -> bool {
    config
        .advertise
        .first()
        .is_some_and(|b| b.to_ascii_lowercase().starts_with("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_host_and_port_pass() {
        for ok in [
            "localhost",
            "127.0.0.1:8080",
            "data.example.com",
            "[::1]:9",
            "h-1.x:65535",
        ] {
            assert!(plain_authority(ok), "{ok}");
        }
        for bad in [
            "a@evil.example.com",
            "evil.com/x",
            "h:p",
            "",
            "h:123456",
            "a b",
            "[zz]:1",
            "h?x",
        ] {
            assert!(!plain_authority(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod base_tests {
    use super::*;

    #[test]
    fn advertised_urls_win_then_a_plain_host_then_the_listen_address() {
        let mut c = ServeConfig::default();
        assert_eq!(
            public_base(&c, Some("data.example.com:80")),
            "http://data.example.com:80"
        );
        assert_eq!(public_base(&c, Some("a@evil")), "http://127.0.0.1:8080");
        assert_eq!(public_base(&c, None), "http://127.0.0.1:8080");
        assert!(!public_is_https(&c));
        c.advertise = vec!["https://inlet.example.org/".into()];
        assert_eq!(public_base(&c, Some("x")), "https://inlet.example.org");
        assert!(public_is_https(&c));
    }
}
