//! Watches the config file for hand edits and loads each valid one into the running engine.
//! It never writes the file: an edit that does not parse is reported and the running settings
//! stay until the file is fixed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::file::link_target;
use super::ConfigStore;

/// Editors save in several steps (truncate, write, rename); reload once they are done.
const QUIET: Duration = Duration::from_millis(150);

/// Runs until the engine drops it at shutdown (spawn it through `AppState::spawn`).
pub async fn watch_file(store: Arc<ConfigStore>) {
    let path = store.path();
    let target = link_target(&path).unwrap_or_else(|_| path.clone());
    let (sender, events) = mpsc::unbounded_channel();
    let first_look = sender.clone();
    let names: Vec<_> = [&path, &target]
        .iter()
        .filter_map(|p| p.file_name().map(ToOwned::to_owned))
        .collect();
    let watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let relevant = event.is_ok_and(|event| {
            touches_content(&event.kind)
                && event
                    .paths
                    .iter()
                    .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n)))
        });
        if relevant {
            let _ = sender.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(
                "cannot watch `{}` for edits ({error}); restart modelrelay after editing it",
                path.display()
            );
            return;
        }
    };
    // The directories, not the file: a save by rename replaces the file the watch was on.
    for directory in directories(&path, &target) {
        if let Err(error) = watcher.watch(&directory, RecursiveMode::NonRecursive) {
            tracing::warn!(
                "cannot watch `{}` for edits ({error}); restart modelrelay after editing it",
                path.display()
            );
            return;
        }
    }
    // An edit made after the engine read the file but before the watch began is seen too.
    let _ = first_look.send(());
    drop(first_look);
    reload_on_events(&store, events).await;
}

/// Our own reads open the file: only events that can change what it holds count.
fn touches_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

fn directories(path: &Path, target: &Path) -> Vec<PathBuf> {
    let parent = |p: &Path| match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut directories = vec![parent(path)];
    if parent(target) != directories[0] {
        directories.push(parent(target));
    }
    directories
}

/// Each burst of events becomes one reload after `QUIET` without events. The engine's own
/// saves reload to the same document and publish nothing.
async fn reload_on_events(store: &ConfigStore, mut events: mpsc::UnboundedReceiver<()>) {
    let mut last_error = None;
    while events.recv().await.is_some() {
        while let Ok(Some(())) = tokio::time::timeout(QUIET, events.recv()).await {}
        match store.reload() {
            Ok(true) => {
                last_error = None;
                tracing::info!("loaded the edited config file `{}`", store.path().display());
            }
            Ok(false) => last_error = None,
            Err(error) => {
                let message = error.to_string();
                if last_error.as_ref() != Some(&message) {
                    tracing::warn!("{message}; the router keeps its current settings and refuses changes from the page until then");
                }
                last_error = Some(message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::ConfigFile;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_events_becomes_one_reload_after_a_quiet_spell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"bannedModels": []}"#).unwrap();
        let store = ConfigStore::new(ConfigFile::load(&path).unwrap());
        let mut settings = store.subscribe();
        let (sender, events) = mpsc::unbounded_channel();
        let edits = async move {
            std::fs::write(&path, r#"{"bannedModels": ["x"]}"#).unwrap();
            sender.send(()).unwrap();
            tokio::time::sleep(QUIET / 2).await;
            assert!(!settings.has_changed().unwrap(), "reloaded mid-burst");
            sender.send(()).unwrap();
            settings.changed().await.unwrap();
            assert_eq!(settings.borrow().banned_models, vec!["x".to_string()]);
            // The engine's own save reads back as the same document: nothing is published.
            sender.send(()).unwrap();
            tokio::time::sleep(QUIET * 2).await;
            assert!(!settings.has_changed().unwrap());
        };
        tokio::join!(reload_on_events(&store, events), edits);
    }
}
