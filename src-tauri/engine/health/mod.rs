//! Row health: measurements, circuit breakers, rate-limit cooldowns and the ranking formula.
//! `book` holds the state; `stats`, `breaker`, `ratelimit`, `scoring` and `team` (peers'
//! numbers merged with this router's) are pure; `pacing` (per-minute windows per provider key)
//! and `hedging` (hedge rules, each provider's hedge spend) keep their own small state and
//! decide by pure rules.

pub mod book;
pub mod breaker;
pub mod hedging;
pub mod pacing;
pub mod ratelimit;
pub mod scoring;
pub mod stats;
pub mod team;

pub use book::{AttemptReport, AttemptResult, HealthBook, Learned, LiveState, RowHealthView};
pub use breaker::Admission;
pub use hedging::{HedgeLedger, HedgeSpend};
pub use pacing::{KeyId, NextFree, PaceKey, Pacer};
pub use ratelimit::{read_rate_limit, RateLimitInfo, Window};
pub use scoring::RowCondition;
pub use stats::SampleSource;
pub use team::{PeerSummary, RowSummary};
