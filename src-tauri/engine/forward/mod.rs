//! Forwarding a chat request: parse it once, try candidates in order with failover, and
//! relay the winner's answer to the client as it arrives.

pub mod attempt;
mod executor;
mod failure;
mod kiro;
mod relay;
pub mod request;
pub mod sse;

pub use executor::{forward_chat, Ending, ForwardContext, Trace};
pub use failure::{classify_status, error_message_from_body, StatusClass};
pub use request::ChatRequest;
