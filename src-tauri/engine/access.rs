//! Who may use the router: the access policy an engine is started with, and the pure verdicts
//! on one request's method, headers and `?token=` (the page and `/api`) or `Origin` (`/v1`).
//! It must not know axum middleware or `AppState`; `http::guard` applies the verdicts.

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, Method, StatusCode};

/// Who may talk to the router.
#[derive(Clone)]
pub struct AccessPolicy {
    /// `host:port` values accepted in `Host`; empty means any (bound to every interface).
    pub hosts: Vec<String>,
    /// Required bearer token for the page and `/api` (non-loopback binds).
    pub token: Option<String>,
    /// The key `/v1` requires when the config sets no `routerApiKey` (non-loopback binds).
    pub router_key: Option<String>,
}

// Tokens never reach a log through `{:?}`.
impl std::fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("hosts", &self.hosts)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("router_key", &self.router_key.as_ref().map(|_| "…"))
            .finish()
    }
}

pub const TOKEN_COOKIE: &str = "modelrelay_token";

impl AccessPolicy {
    pub fn for_bind(addr: SocketAddr, token: Option<String>) -> Self {
        let port = addr.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        let ip = addr.ip();
        let bound = match ip {
            std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
            std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        if ip.is_unspecified() {
            hosts.clear();
        } else if !hosts.contains(&bound) {
            // Another loopback address (127.0.0.2) or a LAN address: its own page must open.
            hosts.push(bound);
        }
        Self {
            hosts,
            token,
            router_key: None,
        }
    }

    fn host_allowed(&self, host: Option<&str>) -> bool {
        if self.hosts.is_empty() {
            return true;
        }
        host.is_some_and(|host| {
            self.hosts
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(host))
        })
    }

    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let Some(rest) = origin.strip_prefix("http://") else {
            return false;
        };
        if self.hosts.is_empty() {
            return host.is_some_and(|h| h.eq_ignore_ascii_case(rest));
        }
        self.hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(rest))
    }
}

/// A fresh random token (64 hex digits) for the admin interface or `/v1`.
pub fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// `allowedOrigins` entries match an `Origin` without regard to case or a trailing `/`.
fn listed(origin: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|entry| {
        entry
            .trim()
            .trim_end_matches('/')
            .eq_ignore_ascii_case(origin)
    })
}

/// The request's `Origin` when the config opts it in (`allowedOrigins`): it gets CORS headers.
pub fn opted_in_origin<'a>(headers: &'a HeaderMap, allowed: &[String]) -> Option<&'a str> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    listed(origin, allowed).then_some(origin)
}

/// `Host` alone: every route but `/health` refuses names other than the bound address's, so a
/// DNS-rebinding page cannot reach the router under its own name.
pub fn judge_host(policy: &AccessPolicy, headers: &HeaderMap) -> Verdict {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if policy.host_allowed(host) {
        Verdict::Allow
    } else {
        Verdict::Refuse(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            "this address is not allowed to reach the router; use 127.0.0.1 or localhost (or the address it is bound to)",
        )
    }
}

/// `/v1` from a web page: agents, SDKs and curl send no `Origin` and no `Sec-Fetch-Site`; a
/// browser marks what another site sends, and only origins in `allowedOrigins` may do that.
/// Any method: even a "simple" `text/plain` POST spends the user's provider keys.
pub fn judge_router(policy: &AccessPolicy, headers: &HeaderMap, allowed: &[String]) -> Verdict {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("null"));
    if let Some(origin) = origin {
        if listed(origin, allowed) {
            return Verdict::Allow;
        }
        if !policy.origin_allowed(origin, host) {
            return cross_origin();
        }
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|site| site != "same-origin" && site != "none") {
        return cross_origin();
    }
    Verdict::Allow
}

fn cross_origin() -> Verdict {
    Verdict::Refuse(
        StatusCode::FORBIDDEN,
        "cross_origin",
        "requests from other web sites are refused; list the site's origin in `allowedOrigins` in the config file to let it use /v1",
    )
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The decision, separated from axum for tests.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Allowed, and the response should set the token cookie (first visit with `?token=`).
    AllowAndRemember,
    Refuse(StatusCode, &'static str, &'static str),
}

pub fn judge(
    policy: &AccessPolicy,
    method: &Method,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Verdict {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let refused @ Verdict::Refuse(..) = judge_host(policy, headers) {
        return refused;
    }
    let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            if !policy.origin_allowed(origin, host) {
                return Verdict::Refuse(
                    StatusCode::FORBIDDEN,
                    "cross_origin",
                    "requests from other web sites are refused",
                );
            }
        }
        if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            if site != "same-origin" && site != "none" {
                return Verdict::Refuse(
                    StatusCode::FORBIDDEN,
                    "cross_origin",
                    "requests from other web sites are refused",
                );
            }
        }
    }
    let Some(expected) = &policy.token else {
        return Verdict::Allow;
    };
    let presented = bearer(headers).or_else(|| cookie(headers, TOKEN_COOKIE));
    if presented.is_some_and(|token| same_secret(token, expected)) {
        return Verdict::Allow;
    }
    if method == Method::GET && query_token.is_some_and(|token| same_secret(token, expected)) {
        return Verdict::AllowAndRemember;
    }
    Verdict::Refuse(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this router is reachable from the network, so the admin interface needs its token: open the address printed at startup (it ends in ?token=…) or send `Authorization: Bearer <token>`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn loopback() -> AccessPolicy {
        AccessPolicy::for_bind("127.0.0.1:7352".parse().unwrap(), None)
    }

    #[test]
    fn only_local_host_names_with_the_right_port_pass() {
        let policy = loopback();
        for host in [
            "127.0.0.1:7352",
            "localhost:7352",
            "LOCALHOST:7352",
            "[::1]:7352",
        ] {
            assert_eq!(
                judge(&policy, &Method::GET, &headers(&[("host", host)]), None),
                Verdict::Allow,
                "{host}"
            );
        }
        for host in [
            "evil.example:7352",
            "127.0.0.1:80",
            "localhost",
            "127.0.0.1.nip.io:7352",
        ] {
            assert!(
                matches!(
                    judge(&policy, &Method::GET, &headers(&[("host", host)]), None),
                    Verdict::Refuse(StatusCode::FORBIDDEN, "forbidden_host", _)
                ),
                "{host}"
            );
        }
        assert!(matches!(
            judge(&policy, &Method::GET, &HeaderMap::new(), None),
            Verdict::Refuse(..)
        ));
    }

    #[test]
    fn state_changes_from_other_origins_are_refused() {
        let policy = loopback();
        let same = headers(&[
            ("host", "127.0.0.1:7352"),
            ("origin", "http://127.0.0.1:7352"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(judge(&policy, &Method::POST, &same, None), Verdict::Allow);
        let cases = [
            headers(&[
                ("host", "127.0.0.1:7352"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[("host", "127.0.0.1:7352"), ("origin", "null")]),
            headers(&[("host", "127.0.0.1:7352"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "127.0.0.1:7352"), ("sec-fetch-site", "same-site")]),
        ];
        for case in cases {
            assert!(matches!(
                judge(&policy, &Method::POST, &case, None),
                Verdict::Refuse(StatusCode::FORBIDDEN, "cross_origin", _)
            ));
        }
        let cross_read = headers(&[
            ("host", "127.0.0.1:7352"),
            ("origin", "http://evil.example"),
        ]);
        assert_eq!(
            judge(&policy, &Method::GET, &cross_read, None),
            Verdict::Allow,
            "reads are safe: no CORS header lets a page see them"
        );
    }

    #[test]
    fn a_network_bind_needs_the_token() {
        let policy =
            AccessPolicy::for_bind("0.0.0.0:7352".parse().unwrap(), Some("s3cret-token".into()));
        let host = ("host", "192.168.1.5:7352");
        assert!(matches!(
            judge(&policy, &Method::GET, &headers(&[host]), None),
            Verdict::Refuse(StatusCode::UNAUTHORIZED, ..)
        ));
        assert!(matches!(
            judge(
                &policy,
                &Method::GET,
                &headers(&[host, ("authorization", "Bearer wrong")]),
                None
            ),
            Verdict::Refuse(..)
        ));
        assert_eq!(
            judge(
                &policy,
                &Method::GET,
                &headers(&[host, ("authorization", "Bearer s3cret-token")]),
                None
            ),
            Verdict::Allow
        );
        assert_eq!(
            judge(
                &policy,
                &Method::GET,
                &headers(&[host, ("cookie", "a=b; modelrelay_token=s3cret-token")]),
                None
            ),
            Verdict::Allow
        );
        assert_eq!(
            judge(
                &policy,
                &Method::GET,
                &headers(&[host]),
                Some("s3cret-token")
            ),
            Verdict::AllowAndRemember
        );
        assert!(
            matches!(
                judge(
                    &policy,
                    &Method::POST,
                    &headers(&[host]),
                    Some("s3cret-token")
                ),
                Verdict::Refuse(..)
            ),
            "the query token only opens the page"
        );
    }

    #[test]
    fn another_loopback_address_accepts_its_own_name() {
        let policy = AccessPolicy::for_bind("127.0.0.2:7352".parse().unwrap(), None);
        for host in ["127.0.0.2:7352", "127.0.0.1:7352", "localhost:7352"] {
            assert_eq!(
                judge_host(&policy, &headers(&[("host", host)])),
                Verdict::Allow,
                "{host}"
            );
        }
        assert!(matches!(
            judge_host(&policy, &headers(&[("host", "127.0.0.3:7352")])),
            Verdict::Refuse(StatusCode::FORBIDDEN, "forbidden_host", _)
        ));
    }

    #[test]
    fn v1_refuses_what_a_browser_marks_as_another_site_unless_opted_in() {
        let policy = loopback();
        let host = ("host", "127.0.0.1:7352");
        let none: &[String] = &[];
        for allowed in [
            headers(&[host]),
            headers(&[host, ("sec-fetch-site", "none")]),
            headers(&[
                host,
                ("origin", "http://127.0.0.1:7352"),
                ("sec-fetch-site", "same-origin"),
            ]),
        ] {
            assert_eq!(judge_router(&policy, &allowed, none), Verdict::Allow);
        }
        let listed = ["https://app.example/".to_string()];
        for refused in [
            headers(&[host, ("origin", "http://evil.example")]),
            headers(&[host, ("origin", "null")]),
            headers(&[host, ("sec-fetch-site", "cross-site")]),
            headers(&[host, ("sec-fetch-site", "same-site")]),
            headers(&[
                host,
                ("origin", "https://app.example.evil"),
                ("sec-fetch-site", "cross-site"),
            ]),
        ] {
            assert!(matches!(
                judge_router(&policy, &refused, &listed),
                Verdict::Refuse(StatusCode::FORBIDDEN, "cross_origin", _)
            ));
        }
        let opted_in = headers(&[
            host,
            ("origin", "https://APP.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert_eq!(judge_router(&policy, &opted_in, &listed), Verdict::Allow);
        assert_eq!(
            opted_in_origin(&opted_in, &listed),
            Some("https://APP.example")
        );
        assert_eq!(opted_in_origin(&opted_in, none), None);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
