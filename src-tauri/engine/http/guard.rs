//! The router's gatekeeper, as axum middleware over `access`'s verdicts: the Host allow-list
//! (DNS rebinding) on every route but `/health`; for the page and `/api` the same-origin rule
//! for state changes, JSON-only bodies and a bearer token when the router is reachable from
//! other machines; for `/v1` no other web site (unless `allowedOrigins` lists it, which alone
//! gets CORS headers) and a key on a network bind.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::engine::access::{
    bearer, judge, judge_host, judge_router, opted_in_origin, same_secret, Verdict, TOKEN_COOKIE,
};
use crate::engine::error::error_body;
use crate::engine::state::AppState;

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let error_type = if status == StatusCode::UNAUTHORIZED {
        "authentication_error"
    } else {
        "permission_error"
    };
    (
        status,
        axum::Json(error_body(message, error_type, None, code)),
    )
        .into_response()
}

fn query_token(request: &Request) -> Option<String> {
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token=").map(|t| t.to_string()))
}

/// Middleware for every route: `Host` everywhere but `/health`, and `Origin` on `/v1`.
pub async fn guard_edge(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/health" {
        return next.run(request).await;
    }
    if let Verdict::Refuse(status, code, message) = judge_host(&state.access, request.headers()) {
        return refuse(status, code, message);
    }
    if path != "/v1" && !path.starts_with("/v1/") {
        return next.run(request).await;
    }
    let settings = state.config.settings();
    let allowed = &settings.allowed_origins;
    if let Verdict::Refuse(status, code, message) =
        judge_router(&state.access, request.headers(), allowed)
    {
        return refuse(status, code, message);
    }
    let Some(origin) = opted_in_origin(request.headers(), allowed)
        .and_then(|origin| HeaderValue::from_str(origin).ok())
    else {
        return next.run(request).await;
    };
    let mut response = if request.method() == Method::OPTIONS {
        preflight(&request)
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}

/// The CORS preflight answer for an origin listed in `allowedOrigins`.
fn preflight(request: &Request) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    if let Some(asked) = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    // Chrome asks before a public page may reach a loopback address.
    headers.insert(
        "access-control-allow-private-network",
        HeaderValue::from_static("true"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

/// Middleware for `/` and `/api`.
pub async fn guard_admin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let token = query_token(&request);
    match judge(
        &state.access,
        request.method(),
        request.headers(),
        token.as_deref(),
    ) {
        Verdict::Refuse(status, code, message) => refuse(status, code, message),
        Verdict::Allow => next.run(request).await,
        Verdict::AllowAndRemember => {
            let mut response = next.run(request).await;
            if let Some(token) = &state.access.token {
                let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
                if let Ok(value) = cookie.parse() {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
    }
}

/// JSON bodies only on state changes: a plain HTML form cannot send one.
pub async fn require_json(request: Request, next: Next) -> Response {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
    );
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|len| len != "0");
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if changes_state && has_body && !is_json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json_required",
            "send the body as application/json",
        );
    }
    next.run(request).await
}

/// `/v1` requires `routerApiKey` as a bearer token when the config sets one, and on a network
/// bind always (the key made at startup when the config has none).
pub async fn guard_router(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let settings = state.config.settings();
    let configured = settings.router_api_key.as_deref().filter(|k| !k.is_empty());
    if let Some(expected) = configured.or(state.access.router_key.as_deref()) {
        // Anthropic clients send the key as `x-api-key`.
        let token = bearer(request.headers()).or_else(|| {
            request
                .headers()
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
        });
        if !token.is_some_and(|token| same_secret(token, expected)) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "this router requires an API key: send `Authorization: Bearer <routerApiKey>` (or `x-api-key`)",
            );
        }
    }
    next.run(request).await
}
