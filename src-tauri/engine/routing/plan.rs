//! Turns the rows a request names into the ordered list of candidates to try, and says why
//! each other row was left out. Pure: every input, the clock included, is passed in.

use std::sync::Arc;

use tokio::time::Instant;

use crate::engine::config::Settings;
use crate::engine::health::scoring::{expected_ms, order_best, order_fastest, Ranked};
use crate::engine::health::{Admission, RowCondition, Window};
use crate::engine::providers::{AuthMode, ModelRow, Provider};

/// Why a row was not tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    Banned,
    ProviderDisabled,
    ProviderExcluded,
    NoKey,
    BelowQualityFloor,
    NoToolSupport,
    NoVisionSupport,
    ContextTooSmall,
    /// Failing; its next trial is due at `trial_at` (when known).
    CircuitOpen {
        trial_at: Option<Instant>,
    },
    RateLimited {
        until: Instant,
        window: Window,
    },
    /// The provider no longer offers the model: its list omits it, or it answered that the
    /// model is gone (then until `until`).
    Retired {
        until: Option<Instant>,
    },
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Banned => "banned",
            Self::ProviderDisabled => "provider disabled",
            Self::ProviderExcluded => "provider excluded by filter rules",
            Self::NoKey => "no API key",
            Self::BelowQualityFloor => "below the minimum coding score",
            Self::NoToolSupport => "no tool support",
            Self::NoVisionSupport => "no image input",
            Self::ContextTooSmall => "context window too small",
            Self::CircuitOpen { .. } => "failing, retried shortly",
            Self::RateLimited {
                window: Window::Day,
                ..
            } => "daily quota spent",
            Self::RateLimited { .. } => "rate-limited",
            Self::Retired { .. } => "retired: the provider no longer offers this model",
        }
    }
}

/// How candidates are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankOrder {
    /// Soonest expected answer first (`auto-fastest`, groups, ids).
    Fastest,
    /// Highest coding score among rows that are up and not slow (`auto-best`).
    Best,
}

/// What the planner needs to know about the request, the user's settings and row health.
pub struct PlanInputs<'a> {
    pub settings: &'a Settings,
    pub cli_bans: &'a [String],
    pub has_key: &'a dyn Fn(&Provider) -> bool,
    pub condition: &'a dyn Fn(&ModelRow) -> RowCondition,
    pub now: Instant,
    pub order: RankOrder,
    /// Applied to `auto-*` requests only; rows without a score are never below it.
    pub quality_floor: Option<f64>,
    /// Row ids tried before all others (the pin, for `auto-*` requests).
    pub pinned: &'a [String],
    pub wants_tools: bool,
    pub has_images: bool,
    pub estimated_prompt_tokens: u32,
    /// Keep only the best this many candidates (a request never walks further); `None` keeps
    /// and orders all of them (the rankings view).
    pub limit: Option<usize>,
}

/// A row to try, with what was known about it when the plan was made.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub row: Arc<ModelRow>,
    pub condition: RowCondition,
    pub expected_ms: f64,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub candidates: Vec<Candidate>,
    pub skipped: Vec<(Arc<ModelRow>, SkipReason)>,
}

impl Plan {
    /// The soonest trial of a row whose circuit is open.
    pub fn earliest_trial(&self) -> Option<Instant> {
        self.skipped
            .iter()
            .filter_map(|(_, reason)| match reason {
                SkipReason::CircuitOpen { trial_at } => *trial_at,
                _ => None,
            })
            .min()
    }

    /// The soonest moment a rate-limited row comes back, if every skip is waiting on one.
    pub fn earliest_reset(&self) -> Option<Instant> {
        self.skipped
            .iter()
            .filter_map(|(_, reason)| match reason {
                SkipReason::RateLimited { until, .. } => Some(*until),
                _ => None,
            })
            .min()
    }
}

/// A ban entry names a group slug, an upstream id or `provider/id`.
pub fn is_banned(row: &ModelRow, bans: &[String]) -> bool {
    bans.iter().any(|ban| {
        let ban = ban.trim();
        ban.eq_ignore_ascii_case(&row.group)
            || ban.eq_ignore_ascii_case(&row.upstream_id)
            || row.is_row_id_ignoring_case(ban)
    })
}

fn skip_reason(
    row: &ModelRow,
    condition: &RowCondition,
    inputs: &PlanInputs<'_>,
) -> Option<SkipReason> {
    let provider = &row.provider;
    if is_banned(row, &inputs.settings.banned_models) || is_banned(row, inputs.cli_bans) {
        return Some(SkipReason::Banned);
    }
    if !provider.enabled {
        return Some(SkipReason::ProviderDisabled);
    }
    if row.is_unlisted() || condition.retired_until.is_some() {
        return Some(SkipReason::Retired {
            until: condition.retired_until,
        });
    }
    if inputs
        .settings
        .excluded_providers
        .iter()
        .any(|p| p == &provider.key)
    {
        return Some(SkipReason::ProviderExcluded);
    }
    if provider.auth == AuthMode::Required && !(inputs.has_key)(provider) {
        return Some(SkipReason::NoKey);
    }
    if let (Some(floor), Some(score)) = (inputs.quality_floor, row.score) {
        if score < floor {
            return Some(SkipReason::BelowQualityFloor);
        }
    }
    if inputs.wants_tools && row.tools == Some(false) {
        return Some(SkipReason::NoToolSupport);
    }
    if inputs.has_images && row.vision == Some(false) {
        return Some(SkipReason::NoVisionSupport);
    }
    if row
        .context
        .is_some_and(|context| context < inputs.estimated_prompt_tokens)
    {
        return Some(SkipReason::ContextTooSmall);
    }
    if let Some((until, window)) = condition.cooling(inputs.now) {
        return Some(SkipReason::RateLimited { until, window });
    }
    if condition.admission == Admission::No {
        return Some(SkipReason::CircuitOpen {
            trial_at: condition.trial_at,
        });
    }
    None
}

/// Filters `rows`, then orders the rest: pinned rows first, then by provider priority, then
/// by `inputs.order` (see `health::scoring` for the formula).
pub fn plan_candidates(rows: &[Arc<ModelRow>], inputs: &PlanInputs<'_>) -> Plan {
    let mut plan = Plan::default();
    let mut pinned: Vec<Ranked<Candidate>> = Vec::new();
    let mut rest: Vec<Ranked<Candidate>> = Vec::new();
    for row in rows {
        let condition = (inputs.condition)(row);
        if let Some(reason) = skip_reason(row, &condition, inputs) {
            plan.skipped.push((row.clone(), reason));
            continue;
        }
        let expected = expected_ms(&condition);
        let ranked = Ranked {
            priority: row.provider.priority,
            score: row.score,
            expected_ms: expected,
            item: Candidate {
                row: row.clone(),
                condition,
                expected_ms: expected,
            },
        };
        if inputs.pinned.iter().any(|id| ranked.item.row.is_row_id(id)) {
            pinned.push(ranked);
        } else {
            rest.push(ranked);
        }
    }
    for list in [&mut pinned, &mut rest] {
        match inputs.order {
            RankOrder::Fastest => order_fastest(list, inputs.limit),
            RankOrder::Best => order_best(list),
        }
    }
    let limit = inputs.limit.unwrap_or(usize::MAX);
    plan.candidates = pinned
        .into_iter()
        .chain(rest)
        .take(limit)
        .map(|r| r.item)
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::health::Admission;
    use crate::engine::providers::RowOrigin;
    use serde_json::json;
    use std::collections::HashMap;
    use std::time::Duration;

    fn row(provider: &str, priority: i32, auth: AuthMode, id: &str) -> Arc<ModelRow> {
        let provider = Provider {
            auth,
            enabled: provider != "disabled",
            priority,
            ..Provider::new(provider, provider, "http://x/v1")
        };
        Arc::new(ModelRow {
            context: Some(1000),
            tools: Some(id != "no-tools"),
            vision: Some(false),
            score: Some(if id == "weak" { 0.1 } else { 0.5 }),
            ..ModelRow::new(Arc::new(provider), id, "g", RowOrigin::Builtin)
        })
    }

    struct World {
        settings: Settings,
        conditions: HashMap<String, RowCondition>,
        now: Instant,
        pinned: Vec<String>,
        cli_bans: Vec<String>,
    }

    impl World {
        fn new() -> Self {
            Self {
                settings: Settings::default(),
                conditions: HashMap::new(),
                now: Instant::now(),
                pinned: Vec::new(),
                cli_bans: Vec::new(),
            }
        }

        fn measured(mut self, row_id: &str, ttft: f64) -> Self {
            self.conditions.insert(
                row_id.into(),
                RowCondition {
                    ttft_ms: Some(ttft),
                    tokens_per_second: Some(100.0),
                    ..RowCondition::default()
                },
            );
            self
        }

        fn with(mut self, row_id: &str, condition: RowCondition) -> Self {
            self.conditions.insert(row_id.into(), condition);
            self
        }

        fn plan(&self, rows: Vec<Arc<ModelRow>>, adjust: impl FnOnce(&mut PlanInputs<'_>)) -> Plan {
            let condition = |row: &ModelRow| {
                self.conditions
                    .get(&row.row_id())
                    .cloned()
                    .unwrap_or_default()
            };
            let has_key = |provider: &Provider| provider.key != "keyless";
            let mut inputs = PlanInputs {
                settings: &self.settings,
                cli_bans: &self.cli_bans,
                has_key: &has_key,
                condition: &condition,
                now: self.now,
                order: RankOrder::Fastest,
                quality_floor: None,
                pinned: &self.pinned,
                wants_tools: false,
                has_images: false,
                estimated_prompt_tokens: 10,
                limit: None,
            };
            adjust(&mut inputs);
            plan_candidates(&rows, &inputs)
        }
    }

    fn ids(plan: &Plan) -> Vec<String> {
        plan.candidates.iter().map(|c| c.row.row_id()).collect()
    }

    fn reasons(plan: &Plan) -> Vec<SkipReason> {
        plan.skipped.iter().map(|(_, r)| *r).collect()
    }

    #[test]
    fn the_fastest_measured_row_goes_first_and_unmeasured_rows_last() {
        let world = World::new().measured("a/m", 2000.0).measured("b/m", 300.0);
        let rows = vec![
            row("new", 0, AuthMode::Optional, "m"),
            row("a", 0, AuthMode::Optional, "m"),
            row("b", 0, AuthMode::Optional, "m"),
        ];
        assert_eq!(ids(&world.plan(rows, |_| {})), ["b/m", "a/m", "new/m"]);
    }

    #[test]
    fn priority_beats_speed_and_speed_orders_equal_priorities() {
        let world = World::new()
            .measured("slow/m", 3000.0)
            .measured("fast/m", 100.0)
            .measured("fallback/m", 50.0);
        let rows = vec![
            row("fallback", 1, AuthMode::Optional, "m"),
            row("slow", 0, AuthMode::Optional, "m"),
            row("fast", 0, AuthMode::Optional, "m"),
        ];
        assert_eq!(
            ids(&world.plan(rows, |_| {})),
            ["fast/m", "slow/m", "fallback/m"]
        );
    }

    #[test]
    fn pinned_rows_go_first() {
        let mut world = World::new().measured("a/m", 100.0).measured("b/m", 900.0);
        world.pinned = vec!["b/m".to_string()];
        let rows = vec![
            row("a", 0, AuthMode::Optional, "m"),
            row("b", 0, AuthMode::Optional, "m"),
        ];
        assert_eq!(ids(&world.plan(rows, |_| {})), ["b/m", "a/m"]);
    }

    #[test]
    fn a_rate_limited_row_is_skipped_until_its_reset_and_an_open_circuit_too() {
        let now = Instant::now();
        let until = now + Duration::from_secs(30);
        let world = World {
            now,
            ..World::new()
        }
        .with(
            "limited/m",
            RowCondition {
                cooling_until: Some((until, Window::Minute)),
                ..RowCondition::default()
            },
        )
        .with(
            "broken/m",
            RowCondition {
                admission: Admission::No,
                ..RowCondition::default()
            },
        );
        let rows = vec![
            row("limited", 0, AuthMode::Optional, "m"),
            row("broken", 0, AuthMode::Optional, "m"),
            row("ok", 0, AuthMode::Optional, "m"),
        ];
        let plan = world.plan(rows.clone(), |_| {});
        assert_eq!(ids(&plan), ["ok/m"]);
        assert_eq!(
            reasons(&plan),
            [
                SkipReason::RateLimited {
                    until,
                    window: Window::Minute
                },
                SkipReason::CircuitOpen { trial_at: None }
            ]
        );
        assert_eq!(plan.earliest_reset(), Some(until));
        let after_reset = World {
            now: until,
            ..World::new()
        }
        .with(
            "limited/m",
            RowCondition {
                cooling_until: Some((until, Window::Minute)),
                ..RowCondition::default()
            },
        );
        assert!(ids(&after_reset.plan(rows, |_| {})).contains(&"limited/m".to_string()));
    }

    #[test]
    fn filters_say_why_a_row_was_left_out() {
        let mut world = World::new();
        world.settings = Settings::from_json(
            json!({"bannedModels": ["banned/m"], "excludedProviders": ["excluded"]})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let rows = vec![
            row("ok", 0, AuthMode::Required, "m"),
            row("banned", 0, AuthMode::Optional, "m"),
            row("disabled", 0, AuthMode::Optional, "m"),
            row("excluded", 0, AuthMode::Optional, "m"),
            row("keyless", 0, AuthMode::Required, "m"),
            row("keyless", 0, AuthMode::Optional, "optional-auth"),
            row("floor", 0, AuthMode::Optional, "weak"),
        ];
        let plan = world.plan(rows.clone(), |inputs| inputs.quality_floor = Some(0.3));
        assert_eq!(ids(&plan).len(), 2);
        assert_eq!(
            reasons(&plan),
            [
                SkipReason::Banned,
                SkipReason::ProviderDisabled,
                SkipReason::ProviderExcluded,
                SkipReason::NoKey,
                SkipReason::BelowQualityFloor
            ]
        );
        world.cli_bans = vec!["G".to_string()];
        let banned = world.plan(rows, |_| {});
        assert!(
            banned.candidates.is_empty(),
            "a ban on the group slug covers every row"
        );
    }

    #[test]
    fn request_needs_filter_rows_by_capability_and_context() {
        let world = World::new();
        let rows = vec![
            row("a", 0, AuthMode::Optional, "no-tools"),
            row("b", 0, AuthMode::Optional, "m"),
        ];
        assert_eq!(
            ids(&world.plan(rows.clone(), |i| i.wants_tools = true)),
            ["b/m"]
        );
        assert!(world
            .plan(rows.clone(), |i| i.has_images = true)
            .candidates
            .is_empty());
        let plan = world.plan(rows, |i| i.estimated_prompt_tokens = 5000);
        assert!(reasons(&plan)
            .iter()
            .all(|r| *r == SkipReason::ContextTooSmall));
    }

    #[test]
    fn auto_best_puts_quality_first_among_rows_that_are_up() {
        let world = World::new()
            .measured("fast/weak", 100.0)
            .measured("good/m", 800.0);
        let rows = vec![
            row("fast", 0, AuthMode::Optional, "weak"),
            row("good", 0, AuthMode::Optional, "m"),
        ];
        assert_eq!(
            ids(&world.plan(rows.clone(), |_| {})),
            ["fast/weak", "good/m"]
        );
        assert_eq!(
            ids(&world.plan(rows, |i| i.order = RankOrder::Best)),
            ["good/m", "fast/weak"]
        );
    }
}
