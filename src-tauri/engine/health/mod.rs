//! Row health: measurements, circuit breakers, rate-limit cooldowns and the ranking formula.
//! `book` holds the state; `stats`, `breaker`, `ratelimit` and `scoring` are pure.

pub mod book;
pub mod breaker;
pub mod ratelimit;
pub mod scoring;
pub mod stats;

pub use book::{AttemptReport, AttemptResult, HealthBook, RowHealthView};
pub use breaker::Admission;
pub use ratelimit::{read_rate_limit, RateLimitInfo, Window};
pub use scoring::RowCondition;
pub use stats::SampleSource;
