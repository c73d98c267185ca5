//! Durable mode of the binary: the `persistence*` keys of the config file and the
//! `--persistence DIR` flag made into a store directory and a sync policy, and the store
//! opened (with its recovery logged) before the broker is built. Without them the broker
//! runs in memory, as it always did.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use mqlite_store::{Persistence, SyncPolicy};

use crate::config::FileConfig;

/// The store folder used when `persistence = true` names no `persistence_location`,
/// relative to the config file's folder (Mosquitto writes `mosquitto.db` beside its config).
pub(crate) const DEFAULT_LOCATION: &str = "mqlite-data";

/// The default of `persistence_sync_interval_ms`.
const DEFAULT_INTERVAL_MS: u64 = 1000;

/// Where and how the broker keeps its durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PersistenceSettings {
    /// The store's directory (created if missing).
    pub(crate) dir: PathBuf,
    /// When records are fsynced.
    pub(crate) sync: SyncPolicy,
}

/// The durable mode the file and the command line ask for: `None` in memory.
/// `cli_dir` (`--persistence DIR`, relative to the working directory) turns persistence on
/// and overrides the file's `persistence_location`.
///
/// # Errors
/// A `persistence_sync` that is not `commit`, `periodic` or `none`, or an interval of 0.
pub(crate) fn settings(
    file: &FileConfig,
    cli_dir: Option<&Path>,
) -> anyhow::Result<Option<PersistenceSettings>> {
    let sync = sync_policy(
        file.persistence_sync.as_deref(),
        file.persistence_sync_interval_ms,
    )?;
    let dir = match (cli_dir, file.persistence) {
        (Some(dir), _) => dir.to_owned(),
        (None, Some(true)) => file.base_dir.join(
            file.persistence_location
                .as_deref()
                .unwrap_or(Path::new(DEFAULT_LOCATION)),
        ),
        (None, _) => return Ok(None),
    };
    Ok(Some(PersistenceSettings { dir, sync }))
}

/// `persistence_sync` and `persistence_sync_interval_ms` as a [`SyncPolicy`].
fn sync_policy(name: Option<&str>, interval_ms: Option<u64>) -> anyhow::Result<SyncPolicy> {
    let interval_ms = interval_ms.unwrap_or(DEFAULT_INTERVAL_MS);
    if interval_ms == 0 {
        bail!("persistence_sync_interval_ms: must be at least 1 (milliseconds)");
    }
    Ok(match name.unwrap_or("commit") {
        "commit" => SyncPolicy::Commit,
        "periodic" => SyncPolicy::Periodic(Duration::from_millis(interval_ms)),
        "none" => SyncPolicy::None,
        other => bail!("persistence_sync: `{other}`: expected commit, periodic or none"),
    })
}

/// The name of `policy` as the config file writes it, for the log.
fn policy_name(policy: SyncPolicy) -> String {
    match policy {
        SyncPolicy::Commit => "commit".to_owned(),
        SyncPolicy::Periodic(every) => format!("periodic ({} ms)", every.as_millis()),
        _ => "none".to_owned(),
    }
}

/// Opens (creating and recovering) the store of `settings`, logging what recovery found:
/// one info line, or a warning when damage was moved aside.
///
/// # Errors
/// The store is locked by another broker, was written by a newer mqlite, or cannot be
/// created or read; the message names the directory.
pub(crate) fn open(settings: &PersistenceSettings) -> anyhow::Result<Persistence> {
    let store = Persistence::open(&settings.dir, settings.sync)
        .with_context(|| format!("cannot open the store in {}", settings.dir.display()))?;
    let dir = settings.dir.display();
    let sync = policy_name(settings.sync);
    if store.found_damage() {
        tracing::warn!(%dir, sync, "store recovered with damage: {}", store.recovery_summary());
    } else {
        tracing::info!(%dir, sync, "store opened: {}", store.recovery_summary());
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, base: &str) -> FileConfig {
        let mut file: FileConfig = toml::from_str(text).unwrap();
        file.base_dir = PathBuf::from(base);
        file
    }

    fn resolved(text: &str, cli: Option<&str>) -> Option<PersistenceSettings> {
        settings(&file(text, "/etc/mqlite"), cli.map(Path::new)).unwrap()
    }

    fn error(text: &str) -> String {
        format!("{:#}", settings(&file(text, ""), None).unwrap_err())
    }

    #[test]
    fn without_persistence_the_broker_is_in_memory() {
        assert_eq!(resolved("", None), None);
        assert_eq!(resolved("persistence = false\n", None), None);
        // A location alone does not turn it on (as in Mosquitto).
        assert_eq!(resolved("persistence_location = \"/d\"\n", None), None);
    }

    #[test]
    fn the_location_is_relative_to_the_config_file() {
        let on = resolved("persistence = true\n", None).unwrap();
        assert_eq!(on.dir, Path::new("/etc/mqlite/mqlite-data"));
        assert_eq!(on.sync, SyncPolicy::Commit);
        let text = "persistence = true\npersistence_location = \"state\"\n";
        assert_eq!(
            resolved(text, None).unwrap().dir,
            Path::new("/etc/mqlite/state")
        );
        let text = "persistence = true\npersistence_location = \"/var/lib/mqlite\"\n";
        assert_eq!(
            resolved(text, None).unwrap().dir,
            Path::new("/var/lib/mqlite")
        );
    }

    #[test]
    fn the_command_line_turns_it_on_and_wins() {
        let cli = resolved("", Some("data")).unwrap();
        assert_eq!(
            cli.dir,
            Path::new("data"),
            "relative to the working directory"
        );
        let text = "persistence = false\npersistence_location = \"state\"\n";
        assert_eq!(resolved(text, Some("/x")).unwrap().dir, Path::new("/x"));
        // The file's sync policy still applies.
        let text = "persistence_sync = \"none\"\n";
        assert_eq!(resolved(text, Some("/x")).unwrap().sync, SyncPolicy::None);
    }

    #[test]
    fn sync_policies_parse() {
        let on = "persistence = true\n";
        let sync = |rest: &str| resolved(&format!("{on}{rest}"), None).unwrap().sync;
        assert_eq!(sync("persistence_sync = \"commit\"\n"), SyncPolicy::Commit);
        assert_eq!(sync("persistence_sync = \"none\"\n"), SyncPolicy::None);
        assert_eq!(
            sync("persistence_sync = \"periodic\"\n"),
            SyncPolicy::Periodic(Duration::from_millis(1000))
        );
        assert_eq!(
            sync("persistence_sync = \"periodic\"\npersistence_sync_interval_ms = 250\n"),
            SyncPolicy::Periodic(Duration::from_millis(250))
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(
            error("persistence_sync = \"always\"\n"),
            "persistence_sync: `always`: expected commit, periodic or none"
        );
        let err = error("persistence_sync = \"periodic\"\npersistence_sync_interval_ms = 0\n");
        assert!(err.starts_with("persistence_sync_interval_ms"), "{err}");
        // Wrong types and misspelled keys are refused by the parser, naming the key.
        let err = toml::from_str::<FileConfig>("persistence = \"yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("persistence"), "{err}");
        assert!(toml::from_str::<FileConfig>("persistence_dir = \"d\"\n").is_err());
    }

    /// The commented persistence keys of the example file, uncommented, parse as documented.
    #[test]
    fn the_example_persistence_keys_parse() {
        let text: String = include_str!("../mqlite.example.toml")
            .lines()
            .filter_map(|line| line.strip_prefix("# persistence"))
            .map(|rest| format!("persistence{rest}\n"))
            .collect();
        assert_eq!(text.lines().count(), 4, "{text}");
        let on = resolved(&text, None).unwrap();
        assert_eq!(on.dir, Path::new("/var/lib/mqlite"));
        assert_eq!(on.sync, SyncPolicy::Commit);
    }

    #[test]
    fn opening_a_locked_store_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let settings = PersistenceSettings {
            dir: dir.path().join("store"),
            sync: SyncPolicy::None,
        };
        let _held = open(&settings).unwrap();
        let err = format!("{:#}", open(&settings).unwrap_err());
        assert!(
            err.contains("cannot open the store") && err.contains("locked"),
            "{err}"
        );
    }
}
