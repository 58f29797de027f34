//! Routing decisions: which rows a request's `model` names and in which order to try them.
//! Everything here is pure: plain data in, plain data out, no IO and no clock reads.

pub mod plan;
pub mod selector;

pub use plan::{plan_candidates, Candidate, Plan, PlanInputs, RankOrder, SkipReason};
pub use selector::{parse_selector, resolve_rows, Selector, Target};
