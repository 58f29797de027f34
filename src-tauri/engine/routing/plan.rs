//! Turns the rows a request names into the ordered list of candidates to try, and says why
//! each other row was left out. Pure: every input is passed in.

use std::sync::Arc;

use crate::engine::config::Settings;
use crate::engine::providers::{AuthMode, ModelRow, Provider};

/// Why a row was not tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    Banned,
    ProviderDisabled,
    ProviderExcluded,
    NoKey,
    NoToolSupport,
    NoVisionSupport,
    ContextTooSmall,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Banned => "banned",
            Self::ProviderDisabled => "provider disabled",
            Self::ProviderExcluded => "provider excluded by filter rules",
            Self::NoKey => "no API key",
            Self::NoToolSupport => "no tool support",
            Self::NoVisionSupport => "no image input",
            Self::ContextTooSmall => "context window too small",
        }
    }
}

/// What the planner needs to know about the request and the user's settings.
pub struct PlanInputs<'a> {
    pub settings: &'a Settings,
    pub cli_bans: &'a [String],
    pub has_key: &'a dyn Fn(&Provider) -> bool,
    pub wants_tools: bool,
    pub has_images: bool,
    pub estimated_prompt_tokens: u32,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub candidates: Vec<Arc<ModelRow>>,
    pub skipped: Vec<(Arc<ModelRow>, SkipReason)>,
}

/// A ban entry names a group slug, an upstream id or `provider/id`.
pub fn is_banned(row: &ModelRow, bans: &[String]) -> bool {
    bans.iter().any(|ban| {
        let ban = ban.trim();
        ban.eq_ignore_ascii_case(&row.group)
            || ban.eq_ignore_ascii_case(&row.upstream_id)
            || ban.eq_ignore_ascii_case(&row.row_id())
    })
}

fn skip_reason(row: &ModelRow, inputs: &PlanInputs<'_>) -> Option<SkipReason> {
    let provider = &row.provider;
    if is_banned(row, &inputs.settings.banned_models) || is_banned(row, inputs.cli_bans) {
        return Some(SkipReason::Banned);
    }
    if !provider.enabled {
        return Some(SkipReason::ProviderDisabled);
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
    None
}

/// Filters `rows` and orders the rest by provider priority (lower first), keeping the
/// incoming order among equals.
pub fn plan_candidates(rows: Vec<Arc<ModelRow>>, inputs: &PlanInputs<'_>) -> Plan {
    let mut plan = Plan::default();
    for row in rows {
        match skip_reason(&row, inputs) {
            Some(reason) => plan.skipped.push((row, reason)),
            None => plan.candidates.push(row),
        }
    }
    plan.candidates.sort_by_key(|row| row.provider.priority);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::providers::RowOrigin;
    use serde_json::json;

    fn row(provider: &str, priority: i32, auth: AuthMode, id: &str) -> Arc<ModelRow> {
        Arc::new(ModelRow {
            provider: Arc::new(Provider {
                auth,
                enabled: provider != "disabled",
                priority,
                ..Provider::new(provider, provider, "http://x/v1")
            }),
            upstream_id: id.into(),
            group: "g".into(),
            name: id.into(),
            context: Some(1000),
            tools: Some(id != "no-tools"),
            vision: Some(false),
            score: None,
            score_source: None,
            limits: Default::default(),
            tags: Vec::new(),
            origin: RowOrigin::Builtin,
        })
    }

    fn inputs<'a>(settings: &'a Settings, bans: &'a [String]) -> PlanInputs<'a> {
        PlanInputs {
            settings,
            cli_bans: bans,
            has_key: &|provider: &Provider| provider.key != "keyless",
            wants_tools: false,
            has_images: false,
            estimated_prompt_tokens: 10,
        }
    }

    fn ids(rows: &[Arc<ModelRow>]) -> Vec<String> {
        rows.iter().map(|r| r.row_id()).collect()
    }

    #[test]
    fn lower_priority_goes_first_and_equal_priorities_keep_their_order() {
        let settings = Settings::default();
        let rows = vec![
            row("a", 1, AuthMode::Optional, "m"),
            row("b", 0, AuthMode::Optional, "m"),
            row("c", 1, AuthMode::Optional, "m"),
            row("d", -1, AuthMode::Optional, "m"),
        ];
        let plan = plan_candidates(rows, &inputs(&settings, &[]));
        assert_eq!(ids(&plan.candidates), ["d/m", "b/m", "a/m", "c/m"]);
    }

    #[test]
    fn filters_say_why_a_row_was_left_out() {
        let settings = Settings::from_json(
            json!({"bannedModels": ["banned/m"], "excludedProviders": ["excluded"]})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let cli_bans = vec!["G".to_string()];
        let rows = vec![
            row("ok", 0, AuthMode::Required, "m"),
            row("banned", 0, AuthMode::Optional, "m"),
            row("disabled", 0, AuthMode::Optional, "m"),
            row("excluded", 0, AuthMode::Optional, "m"),
            row("keyless", 0, AuthMode::Required, "m"),
            row("keyless", 0, AuthMode::Optional, "optional-auth"),
        ];
        let settings_only = plan_candidates(rows.clone(), &inputs(&settings, &[]));
        assert_eq!(
            ids(&settings_only.candidates),
            ["ok/m", "keyless/optional-auth"]
        );
        let reasons: Vec<_> = settings_only.skipped.iter().map(|(_, r)| *r).collect();
        assert_eq!(
            reasons,
            [
                SkipReason::Banned,
                SkipReason::ProviderDisabled,
                SkipReason::ProviderExcluded,
                SkipReason::NoKey
            ]
        );
        let with_cli_ban = plan_candidates(rows, &inputs(&settings, &cli_bans));
        assert!(
            with_cli_ban.candidates.is_empty(),
            "a ban on the group slug covers every row"
        );
    }

    #[test]
    fn request_needs_filter_rows_by_capability_and_context() {
        let settings = Settings::default();
        let rows = vec![
            row("a", 0, AuthMode::Optional, "no-tools"),
            row("b", 0, AuthMode::Optional, "m"),
        ];
        let mut needs = inputs(&settings, &[]);
        needs.wants_tools = true;
        assert_eq!(
            ids(&plan_candidates(rows.clone(), &needs).candidates),
            ["b/m"]
        );
        needs.wants_tools = false;
        needs.has_images = true;
        assert!(plan_candidates(rows.clone(), &needs).candidates.is_empty());
        needs.has_images = false;
        needs.estimated_prompt_tokens = 5000;
        let plan = plan_candidates(rows, &needs);
        assert!(plan
            .skipped
            .iter()
            .all(|(_, r)| *r == SkipReason::ContextTooSmall));
    }
}
