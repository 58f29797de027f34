//! Who may use the page and `/api`: the access policy an engine is started with, and the pure
//! verdict on one request's method, headers and `?token=`. It must not know axum middleware
//! or `AppState`; `http::guard` applies the verdict.

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, Method, StatusCode};

/// Who may talk to the UI and `/api`.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    /// `host:port` values accepted in `Host`; empty means any (bound to every interface).
    pub hosts: Vec<String>,
    /// Required bearer token (non-loopback binds).
    pub token: Option<String>,
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
        if ip.is_unspecified() {
            hosts.clear();
        } else if !ip.is_loopback() {
            hosts.push(match ip {
                std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
                std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            });
        }
        Self { hosts, token }
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
    if !policy.host_allowed(host) {
        return Verdict::Refuse(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            "this address is not allowed to reach the admin interface; open it through 127.0.0.1 or localhost",
        );
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
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
