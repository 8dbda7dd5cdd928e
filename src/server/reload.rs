//! Files that the server re-reads while it runs: the serving certificate and the rules config.
//!
//! Both are mounted from Kubernetes objects, whose volumes change by swapping a `..data`
//! symlink: the path's mtime may stay the same, so changes are found by comparing content.
//! Polling every couple of seconds costs a few small reads and needs no inotify support.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use super::tls::CertStore;
use crate::engine::{Implementation, RulesConfig};

/// How often watched files are read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A fingerprint of file contents, to notice a change without keeping the bytes (one of the
/// files is a private key).
pub fn fingerprint(contents: &[Vec<u8>]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    contents.hash(&mut hasher);
    hasher.finish()
}

/// Reads `paths` every `interval` and calls `on_change` with their contents when their
/// [`fingerprint`] differs from the previous one. `loaded` is the fingerprint of what the
/// caller already loaded, so a change made before polling starts is not missed. Returns when
/// `stop` turns true.
pub async fn poll_files(
    paths: Vec<PathBuf>,
    interval: Duration,
    loaded: u64,
    mut stop: watch::Receiver<bool>,
    mut on_change: impl FnMut(&[Vec<u8>]) + Send,
) {
    let mut last = loaded;
    let mut last_error: Option<String> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = async { let _ = stop.wait_for(|stop| *stop).await; } => return,
        }

        let contents: Result<Vec<Vec<u8>>, String> = paths
            .iter()
            .map(|path| std::fs::read(path).map_err(|error| format!("{}: {error}", path.display())))
            .collect();
        match contents {
            Ok(contents) => {
                last_error = None;
                let current = fingerprint(&contents);
                if current != last {
                    on_change(&contents);
                    last = current;
                }
            }
            Err(error) => {
                // Reported once per distinct problem, not every poll.
                if last_error.as_ref() != Some(&error) {
                    tracing::warn!(%error, "Cannot read a watched file; keeping what was loaded");
                    last_error = Some(error);
                }
            }
        }
    }
}

/// Swaps in the new certificate when its files change; a pair that does not load is logged and
/// the previous one keeps serving.
pub async fn reload_certificate(
    store: Arc<CertStore>,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    let paths: Vec<PathBuf> = store
        .files()
        .iter()
        .map(|path| path.to_path_buf())
        .collect();

    poll_files(
        paths,
        interval,
        store.loaded(),
        stop,
        |contents| match store.replace(&contents[0], &contents[1]) {
            Ok(()) => tracing::info!("Reloaded the TLS certificate"),
            Err(error) => {
                tracing::error!(%error, "New TLS certificate refused; serving the previous one")
            }
        },
    )
    .await
}

/// The rules configuration in force, replaced whole when the file changes.
#[derive(Clone, Debug, Default)]
pub struct SharedConfig(Arc<RwLock<Arc<RulesConfig>>>);

impl SharedConfig {
    pub fn new(config: RulesConfig) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(config))))
    }

    pub fn get(&self) -> Arc<RulesConfig> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn set(&self, config: RulesConfig) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(config);
    }
}

/// Where the rules configuration comes from: an optional file, and an implementation profile
/// from the command line that overrides the file's.
#[derive(Clone, Debug)]
pub struct ConfigSource {
    pub file: Option<PathBuf>,
    pub implementation: Option<Implementation>,
}

impl ConfigSource {
    /// Reads the configuration once; also returns the [`fingerprint`] of the file's text for
    /// [`ConfigSource::reload`].
    pub fn load(&self) -> Result<(RulesConfig, u64), String> {
        let text = match &self.file {
            Some(path) => {
                std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?
            }
            None => Vec::new(),
        };
        let config = self.parse(&text)?;
        Ok((config, fingerprint(&[text])))
    }

    fn parse(&self, text: &[u8]) -> Result<RulesConfig, String> {
        let text = std::str::from_utf8(text).map_err(|_| "config file is not UTF-8".to_owned())?;
        let mut config = RulesConfig::from_yaml(text).map_err(|error| error.to_string())?;
        if let Some(implementation) = self.implementation {
            config.implementation = implementation;
        }
        Ok(config)
    }

    /// Re-reads the file when it changes; a file that does not parse is logged and the previous
    /// configuration stays in force.
    /// `loaded` is the fingerprint [`ConfigSource::load`] returned.
    pub async fn reload(
        self,
        shared: SharedConfig,
        loaded: u64,
        interval: Duration,
        stop: watch::Receiver<bool>,
    ) {
        let Some(path) = self.file.clone() else {
            return;
        };

        poll_files(
            vec![path.clone()],
            interval,
            loaded,
            stop,
            |contents| match self.parse(&contents[0]) {
                Ok(config) => {
                    shared.set(config);
                    tracing::info!(file = %path.display(), "Reloaded the rules config");
                }
                Err(error) => tracing::error!(
                    file = %path.display(),
                    %error,
                    "New rules config refused; keeping the previous one"
                ),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_changed_file_is_reported_and_an_unchanged_one_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("file");
        std::fs::write(&path, "one").expect("write");

        let (stop_tx, stop_rx) = watch::channel(false);
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(poll_files(
            vec![path.clone()],
            Duration::from_millis(20),
            fingerprint(&[b"one".to_vec()]),
            stop_rx,
            move |contents| {
                let _ = seen_tx.send(contents[0].clone());
            },
        ));

        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(seen_rx.try_recv().is_err(), "unchanged file reported");

        std::fs::write(&path, "two").expect("write");
        let seen = tokio::time::timeout(Duration::from_secs(5), seen_rx.recv())
            .await
            .expect("change reported in time");
        assert_eq!(seen.as_deref(), Some(&b"two"[..]));

        stop_tx.send(true).expect("poller alive");
        task.await.expect("poller stops");
    }

    #[tokio::test]
    async fn a_changed_config_is_swapped_in_and_a_broken_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "implementation: gateway-api\n").expect("write");
        let source = ConfigSource {
            file: Some(path.clone()),
            implementation: None,
        };
        let (config, loaded) = source.load().expect("initial config");
        let shared = SharedConfig::new(config);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task =
            tokio::spawn(source.reload(shared.clone(), loaded, Duration::from_millis(20), stop_rx));

        let wait_for = |expected: &'static str| {
            let shared = shared.clone();
            async move {
                for _ in 0..250 {
                    if shared.get().implementation.to_string() == expected {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                panic!("config never became {expected}");
            }
        };

        std::fs::write(&path, "implementation: istio@1.25.0\n").expect("write");
        wait_for("istio@1.25.0").await;

        // Broken YAML, then an unknown rule id: both refused, the last good config stays.
        std::fs::write(&path, "implementation: [\n").expect("write");
        tokio::time::sleep(Duration::from_millis(150)).await;
        std::fs::write(&path, "rules:\n  no-such-rule: deny\n").expect("write");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(shared.get().implementation.to_string(), "istio@1.25.0");

        std::fs::write(&path, "implementation: istio@1.26.0\n").expect("write");
        wait_for("istio@1.26.0").await;

        stop_tx.send(true).expect("reloader alive");
        task.await.expect("reloader stops");
    }

    #[test]
    fn the_command_line_profile_overrides_the_file() {
        let source = ConfigSource {
            file: None,
            implementation: Some("istio@1.25.0".parse().expect("valid profile")),
        };
        let config = source
            .parse(b"implementation: gateway-api\n")
            .expect("parses");
        assert_eq!(config.implementation.to_string(), "istio@1.25.0");
        assert!(source.parse(b"rules: [").is_err());
    }
}
