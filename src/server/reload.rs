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

/// Reads `paths` every `interval` and calls `on_change` with their contents when any of them
/// differs from the previous read. `last` is what the caller already loaded. Returns when
/// `stop` turns true.
pub async fn poll_files(
    paths: Vec<PathBuf>,
    interval: Duration,
    mut last: Vec<Vec<u8>>,
    mut stop: watch::Receiver<bool>,
    mut on_change: impl FnMut(&[Vec<u8>]) + Send,
) {
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
            Ok(contents) if contents != last => {
                last_error = None;
                on_change(&contents);
                last = contents;
            }
            Ok(_) => last_error = None,
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
    let initial = match super::tls::read_pair(&paths[0], &paths[1]) {
        Ok((cert, key)) => vec![cert, key],
        Err(_) => Vec::new(),
    };

    poll_files(paths, interval, initial, stop, |contents| {
        match store.replace(&contents[0], &contents[1]) {
            Ok(()) => tracing::info!("Reloaded the TLS certificate"),
            Err(error) => {
                tracing::error!(%error, "New TLS certificate refused; serving the previous one")
            }
        }
    })
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
    /// Reads the configuration once.
    pub fn load(&self) -> Result<RulesConfig, String> {
        let text = match &self.file {
            Some(path) => {
                std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?
            }
            None => Vec::new(),
        };
        self.parse(&text)
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
    pub async fn reload(
        self,
        shared: SharedConfig,
        interval: Duration,
        stop: watch::Receiver<bool>,
    ) {
        let Some(path) = self.file.clone() else {
            return;
        };
        let initial = std::fs::read(&path)
            .map(|text| vec![text])
            .unwrap_or_default();

        poll_files(
            vec![path.clone()],
            interval,
            initial,
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
            vec![b"one".to_vec()],
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
