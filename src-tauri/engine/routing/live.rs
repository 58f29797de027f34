//! The plan as this engine would make it now: gathers the live inputs (keys, row health, the
//! pin, the quality floor) from the engine's state and hands them to the pure planner. It
//! reads state, never changes it, and does no IO.

use std::sync::Arc;

use tokio::time::Instant;

use crate::engine::catalog::Catalog;
use crate::engine::config::{PinningMode, Settings};
use crate::engine::providers::{ModelRow, Provider};
use crate::engine::state::AppState;

use super::plan::{plan_candidates, Plan, PlanInputs, RankOrder};
use super::selector::{Selector, Target};

/// What a request needs from a row, beyond being named by its selector.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub wants_tools: bool,
    pub has_images: bool,
    pub estimated_prompt_tokens: u32,
}

/// The pinned rows, which go first for `auto-*` requests.
pub fn pinned_rows(settings: &Settings, catalog: &Catalog) -> Vec<String> {
    let Some(pin) = &settings.pinned else {
        return Vec::new();
    };
    match settings.pinning_mode {
        PinningMode::Exact => vec![format!("{}/{}", pin.provider, pin.model_id)],
        PinningMode::Canonical => catalog
            .group_rows(&pin.group)
            .map(|row| row.row_id())
            .collect(),
    }
}

/// The plan for `rows` as this engine would make it at `now`: health, pin, floor and order
/// applied; with `limit`, only that many best candidates are kept.
#[allow(clippy::too_many_arguments)] // the planner's inputs, gathered in one place
pub fn plan_request(
    state: &AppState,
    settings: &Settings,
    catalog: &Catalog,
    selector: &Selector,
    needs: Needs,
    rows: &[Arc<ModelRow>],
    now: Instant,
    limit: Option<usize>,
) -> Plan {
    // Rows come grouped by provider: ask the key store once per provider, not once per row.
    let last_answer: std::cell::Cell<Option<(*const Provider, bool)>> = std::cell::Cell::new(None);
    let has_key = |provider: &Provider| {
        let this = provider as *const Provider;
        if let Some((seen, answer)) = last_answer.get() {
            if std::ptr::eq(seen, this) {
                return answer;
            }
        }
        let answer = provider.may_send_key() && state.credentials.has_key(settings, &provider.key);
        last_answer.set(Some((this, answer)));
        answer
    };
    let health = state.health.reader();
    let condition = |row: &ModelRow| health.condition(row, now);
    let pinned = if selector.is_auto() {
        pinned_rows(settings, catalog)
    } else {
        Vec::new()
    };
    plan_candidates(
        rows,
        &PlanInputs {
            settings,
            cli_bans: &state.cli_bans,
            has_key: &has_key,
            condition: &condition,
            now,
            order: if selector.target == Target::AutoBest {
                RankOrder::Best
            } else {
                RankOrder::Fastest
            },
            quality_floor: if selector.is_auto() {
                settings.quality_floor()
            } else {
                None
            },
            pinned: &pinned,
            wants_tools: needs.wants_tools,
            has_images: needs.has_images,
            estimated_prompt_tokens: needs.estimated_prompt_tokens,
            limit,
        },
    )
}
