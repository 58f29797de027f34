//! Forwarding a chat request: parse it once (`request`), plan it and walk the candidates with
//! failover (`route` → `executor`, deciding by the pure `policy`), and hand the winner's answer
//! to the edge as a typed `Routed` (a whole body, the upstream's refusal, or an `AnswerStream`
//! of whole SSE lines whose `progress` says when the answer is complete). One slow attempt
//! per request may be hedged on a second row (`hedge`).

mod attempt;
mod executor;
mod hedge;
pub mod policy;
pub mod progress;
pub mod request;
mod rescue;
mod route;
pub mod splice;
pub mod stream;
mod trace;

pub use attempt::{attempt_result, ForwardContext};
pub use executor::{forward_chat, Answer, Routed, ATTEMPTS_HEADER, MODEL_HEADER, PROVIDER_HEADER};
pub use request::ChatRequest;
pub use route::{route, serves_model};
pub use stream::{AnswerStream, Chunk, StreamFailure, StreamItem};
pub use trace::{Ending, Trace};
