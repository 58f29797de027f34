//! Routing decisions: which rows a request's `model` names and in which order to try them.
//! `selector` and `plan` are pure: plain data in, plain data out, no IO and no clock reads;
//! `live` gathers the engine's current inputs for them.

pub mod live;
pub mod plan;
pub mod selector;
pub mod tags;

pub use live::{pinned_rows, plan_request, Needs};
pub use plan::{plan_candidates, Candidate, Plan, PlanInputs, RankOrder, SkipReason};
pub use selector::{parse_selector, resolve_rows, Selector, SelectorError, Target};
