//! Row health: measurements, circuit breakers, rate-limit cooldowns and the ranking formula.
//! `book` holds the state; `stats`, `breaker`, `ratelimit`, `scoring` and `team` (peers'
//! numbers merged with this router's) are pure.

pub mod book;
pub mod breaker;
pub mod ratelimit;
pub mod scoring;
pub mod stats;
pub mod team;

pub use book::{AttemptReport, AttemptResult, HealthBook, Learned, LiveState, RowHealthView};
pub use breaker::Admission;
pub use ratelimit::{read_rate_limit, RateLimitInfo, Window};
pub use scoring::RowCondition;
pub use stats::SampleSource;
pub use team::{PeerSummary, RowSummary};
