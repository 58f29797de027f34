//! Speaking to upstreams: one adapter per dialect (`openai` for every OpenAI-compatible
//! provider, `kiro` for Kiro's event stream), each owning auth, headers, request encoding,
//! answer decoding and its provider's quirks, behind one call: [`send`]. Sending yields a
//! classified [`Failure`] or a [`Reply`] whose first chunk has been seen. Adapters never
//! choose rows or retry elsewhere; that is `forward`'s job.

pub mod failure;
mod kiro;
mod openai;
pub mod transport;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use secrecy::SecretString;

use crate::engine::health::RateLimitInfo;
use crate::engine::providers::headers::ClientIdentity;
use crate::engine::providers::kiro::auth::KiroAuth;
use crate::engine::providers::{Flavor, ModelRow, Provider, QuotaCheck};

pub use failure::{classify_status, error_message_from_body, Failure, FailureKind, StatusClass};
pub use transport::UpstreamBody;

/// One request to one row.
pub struct Call<'a> {
    pub http: &'a reqwest::Client,
    pub row: &'a ModelRow,
    pub key: Option<SecretString>,
    pub identity: &'a ClientIdentity,
    /// Kiro's token cache (used by the Kiro adapter only).
    pub kiro: &'a KiroAuth,
    /// The OpenAI chat body, `model` already set to the row's upstream id.
    pub body: Bytes,
    pub stream: bool,
    /// Time allowed until the first chunk (streaming) or the whole answer (not streaming).
    pub first_byte_budget: Duration,
    /// Longest gap between chunks while reading a whole answer.
    pub idle: Duration,
}

/// An upstream's answer, in OpenAI chat terms whatever the dialect.
pub enum Reply {
    /// A streamed answer whose first chunk has arrived; `first` and `rest` are OpenAI SSE bytes.
    Stream {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        first: Bytes,
        rest: UpstreamBody,
        rate: RateLimitInfo,
    },
    /// A whole non-streamed answer (an OpenAI `chat.completion`).
    Whole {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
        rate: RateLimitInfo,
    },
    /// The upstream refused the request itself; the client gets this answer unchanged.
    Refused {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
    },
}

impl Reply {
    /// The HTTP status the upstream answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Stream { status, .. }
            | Self::Whole { status, .. }
            | Self::Refused { status, .. } => *status,
        }
    }
}

/// Sends one request through the row's adapter. A key bound to another host than the row's
/// provider points at now is never sent.
pub async fn send(mut call: Call<'_>) -> Result<Reply, Failure> {
    if !call.row.provider.may_send_key() {
        call.key = None;
    }
    match call.row.provider.flavor {
        Flavor::Kiro => kiro::send(call).await,
        Flavor::Standard | Flavor::OpenCode => openai::send(call).await,
    }
}

/// After a 429, what the provider's account endpoint says about its quota, for providers
/// that have one (OpenRouter's key endpoint tells a spent account-wide free pool from one
/// busy model). `None` when the provider has no such endpoint or it did not answer.
pub async fn account_quota(
    http: &reqwest::Client,
    provider: &Provider,
    key: &SecretString,
) -> Option<RateLimitInfo> {
    if !provider.may_send_key() {
        return None;
    }
    match provider.quota_check? {
        QuotaCheck::OpenrouterKey => {
            let now_unix = crate::engine::requestlog::unix_ms() / 1000;
            crate::engine::providers::openrouter::fetch_key_limits(http, provider, key, now_unix)
                .await
        }
    }
}
