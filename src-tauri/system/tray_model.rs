//! What the tray shows, as plain data: a pure function from the engine's models view (the
//! `/api/models` body) to menu labels and the icon's state. The desktop shell only renders
//! this; it must stay free of GUI types so it tests in the default build.

use serde::Deserialize;

/// How many of the `auto-fastest` ranking's rows the menu lists.
pub const TOP_MODELS: usize = 5;

/// The parts of the `/api/models` body the tray needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModelsView {
    pub pinned: Option<PinView>,
    pub models: Vec<RowView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PinView {
    pub provider: String,
    pub model_id: String,
    pub group: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RowView {
    pub id: String,
    pub name: String,
    pub provider_name: String,
    pub status: String,
    /// 1-based place in the `auto-fastest` order; `None` when the row is not a candidate.
    pub rank: Option<usize>,
    pub ttft_ms: Option<f64>,
    pub expected_ms: Option<f64>,
    pub pinned: bool,
}

/// The tray icon's look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconState {
    /// At least one model answered its last request or probe.
    Active,
    /// No model is up: nothing measured yet, no keys, or everything failing.
    Dimmed,
}

/// One clickable model line; clicking it pins `row_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    pub row_id: String,
    pub label: String,
    pub pinned: bool,
}

/// Everything the tray displays that depends on the engine's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayModel {
    pub icon: IconState,
    pub tooltip: String,
    /// A disabled line at the top: version and how many models are up.
    pub header: String,
    pub models: Vec<ModelEntry>,
    /// The "Unpin …" line; `None` disables it.
    pub unpin: Option<String>,
}

/// The shell's updater, as the menu reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UpdateStatus {
    #[default]
    Idle,
    Checking,
    UpToDate,
    /// Downloaded and verified; installed when the app quits or restarts.
    Ready {
        version: String,
    },
    Failed,
    Disabled,
    /// Not installed from a package (a development build): the package manager or the
    /// developer updates it, never the app itself.
    Unmanaged,
}

/// Menu items are mnemonic strings on every platform: `&` marks an access key, `&&` is one `&`.
fn literal(text: &str) -> String {
    text.replace('&', "&&")
}

pub fn latency_label(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms.is_finite() && ms >= 999.5 => format!("{:.1} s", ms / 1000.0),
        Some(ms) if ms.is_finite() && ms >= 0.0 => format!("{} ms", ms.round() as u64),
        _ => "not measured yet".to_string(),
    }
}

/// The tray's content for one models view. `version` is the app's version.
pub fn tray_model(view: &ModelsView, version: &str, top: usize) -> TrayModel {
    let up = view.models.iter().filter(|r| r.status == "up").count();
    // A retired row is never a candidate (so never ranked); the filter says so for any view.
    let mut ranked: Vec<&RowView> = view
        .models
        .iter()
        .filter(|r| r.rank.is_some() && r.status != "retired")
        .collect();
    ranked.sort_by_key(|r| r.rank);
    let models = ranked
        .into_iter()
        .take(top)
        .map(|row| ModelEntry {
            row_id: row.id.clone(),
            label: literal(&format!(
                "{} · {} · {}",
                row.name,
                row.provider_name,
                latency_label(row.ttft_ms.or(row.expected_ms))
            )),
            pinned: row.pinned,
        })
        .collect();
    let summary = match up {
        0 => "no model is up".to_string(),
        1 => "1 model up".to_string(),
        n => format!("{n} models up"),
    };
    TrayModel {
        icon: if up > 0 {
            IconState::Active
        } else {
            IconState::Dimmed
        },
        tooltip: format!("modelrelay {version}: {summary}"),
        header: literal(&format!("modelrelay {version} · {summary}")),
        models,
        unpin: view.pinned.as_ref().map(|pin| {
            let name = if pin.group.is_empty() {
                &pin.model_id
            } else {
                &pin.group
            };
            literal(&format!("Unpin {name}"))
        }),
    }
}

/// The "Check for updates" line, which doubles as the update notice.
pub fn update_label(status: &UpdateStatus) -> String {
    match status {
        UpdateStatus::Idle => "Check for updates".to_string(),
        UpdateStatus::Checking => "Checking for updates…".to_string(),
        UpdateStatus::UpToDate => "Up to date · check again".to_string(),
        UpdateStatus::Ready { version } => {
            literal(&format!("Update {version} ready · restart to install"))
        }
        UpdateStatus::Failed => "Update check failed · try again".to_string(),
        UpdateStatus::Disabled => "Check for updates (automatic checks off)".to_string(),
        UpdateStatus::Unmanaged => "Updates: not installed from a package".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(value: serde_json::Value) -> ModelsView {
        serde_json::from_value(value).unwrap()
    }

    fn row(id: &str, rank: Option<usize>, status: &str, ttft: Option<f64>) -> serde_json::Value {
        json!({
            "id": id, "name": id.to_uppercase(), "providerName": "Groq", "status": status,
            "rank": rank, "ttftMs": ttft, "expectedMs": null, "pinned": false,
            "samples": [], "unusedField": true,
        })
    }

    #[test]
    fn lists_the_top_ranked_rows_in_rank_order_with_latency() {
        let models = view(json!({"models": [
            row("c", Some(3), "up", Some(1500.0)),
            row("x", None, "no_key", None),
            row("a", Some(1), "up", Some(212.4)),
            row("b", Some(2), "pending", None),
        ]}));
        let tray = tray_model(&models, "0.1.0", 5);
        let labels: Vec<&str> = tray.models.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "A · Groq · 212 ms",
                "B · Groq · not measured yet",
                "C · Groq · 1.5 s"
            ]
        );
        assert_eq!(tray.models[0].row_id, "a");
        assert_eq!(tray.icon, IconState::Active);
        assert_eq!(tray.header, "modelrelay 0.1.0 · 2 models up");
        assert_eq!(tray.unpin, None);
    }

    #[test]
    fn never_lists_a_retired_row() {
        let models = view(json!({"models": [
            row("gone", Some(1), "retired", Some(50.0)),
            row("a", Some(2), "up", Some(212.4)),
        ]}));
        let tray = tray_model(&models, "0.1.0", 5);
        let ids: Vec<&str> = tray.models.iter().map(|m| m.row_id.as_str()).collect();
        assert_eq!(ids, ["a"]);
    }

    #[test]
    fn keeps_only_the_top_n() {
        let rows: Vec<_> = (1..=8)
            .map(|i| row(&format!("m{i}"), Some(i), "up", Some(100.0 * i as f64)))
            .collect();
        let tray = tray_model(&view(json!({ "models": rows })), "1.2.3", TOP_MODELS);
        assert_eq!(tray.models.len(), 5);
        assert_eq!(tray.models[4].row_id, "m5");
    }

    #[test]
    fn dims_the_icon_when_no_model_is_up() {
        let tray = tray_model(
            &view(
                json!({"models": [row("a", Some(1), "down", Some(90.0)), row("b", None, "rate_limited", None)]}),
            ),
            "0.1.0",
            5,
        );
        assert_eq!(tray.icon, IconState::Dimmed);
        assert_eq!(tray.tooltip, "modelrelay 0.1.0: no model is up");
        let empty = tray_model(&ModelsView::default(), "0.1.0", 5);
        assert!(empty.models.is_empty());
        assert_eq!(empty.icon, IconState::Dimmed);
    }

    #[test]
    fn marks_the_pin_and_offers_to_unpin_its_group() {
        let mut pinned = row("groq/kimi", Some(1), "up", Some(300.0));
        pinned["pinned"] = json!(true);
        let tray = tray_model(
            &view(json!({
                "pinned": {"provider": "groq", "modelId": "moonshotai/kimi-k2", "group": "kimi-k2"},
                "models": [pinned, row("b", Some(2), "up", None)],
            })),
            "0.1.0",
            5,
        );
        assert!(tray.models[0].pinned);
        assert!(!tray.models[1].pinned);
        assert_eq!(tray.unpin.as_deref(), Some("Unpin kimi-k2"));
    }

    #[test]
    fn escapes_ampersands_so_provider_text_never_becomes_an_access_key() {
        let mut odd = row("a", Some(1), "up", Some(5.0));
        odd["name"] = json!("R&D_model");
        let tray = tray_model(&view(json!({ "models": [odd] })), "0.1.0", 5);
        assert_eq!(tray.models[0].label, "R&&D_model · Groq · 5 ms");
    }

    #[test]
    fn the_same_view_gives_the_same_model_so_the_shell_can_skip_redraws() {
        let models = view(json!({"models": [row("a", Some(1), "up", Some(5.0))]}));
        assert_eq!(
            tray_model(&models, "0.1.0", 5),
            tray_model(&models, "0.1.0", 5)
        );
    }

    #[test]
    fn latency_labels_round_and_switch_to_seconds() {
        assert_eq!(latency_label(Some(0.4)), "0 ms");
        assert_eq!(latency_label(Some(999.4)), "999 ms");
        assert_eq!(latency_label(Some(999.6)), "1.0 s");
        assert_eq!(latency_label(Some(12_345.0)), "12.3 s");
        assert_eq!(latency_label(Some(f64::NAN)), "not measured yet");
        assert_eq!(latency_label(None), "not measured yet");
    }

    #[test]
    fn update_labels_tell_what_happens_next() {
        assert_eq!(update_label(&UpdateStatus::Idle), "Check for updates");
        assert_eq!(
            update_label(&UpdateStatus::Ready {
                version: "0.2.0".into()
            }),
            "Update 0.2.0 ready · restart to install"
        );
        assert!(update_label(&UpdateStatus::Failed).contains("failed"));
    }
}
