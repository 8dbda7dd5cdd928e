//! The admission webhook server (`refguard serve`).
//!
//! Two listeners: the admission endpoint over TLS (`--listen`: `POST /validate`, plus
//! `/healthz` and `/readyz`), and a plain-HTTP admin endpoint (`--admin-listen`: `/healthz`,
//! `/readyz`, `/metrics`). The admin port exists so kubelet probes and Prometheus scrapes need
//! neither the webhook's CA nor a TLS handshake each time, and so the webhook port only ever
//! sees the API server.
//!
//! - [`admission`]: the AdmissionReview wire format and how findings become a reply.
//! - [`review`]: which writes are reviewed and how their objects are read.
//! - [`http`]: routers, limits, handlers.
//! - [`serve`]: accept loop, TLS handshakes, timeouts, graceful shutdown.
//! - [`tls`] and [`reload`]: the serving certificate and the rules config, reloaded on change.

pub mod admission;
pub mod http;
mod metrics;
pub mod reload;
pub mod review;
pub mod serve;
pub mod tls;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use http::{admin_router, router, AppState, Limits};
pub use review::Policy;
pub use serve::{ConnectionLimits, Server};

use crate::cache::{self, Cache, CacheMetrics};
use crate::cli::{LogFormat, ServeArgs};
use reload::{ConfigSource, SharedConfig, POLL_INTERVAL};

/// Runs the webhook until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> ExitCode {
    init_logging(args.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "Cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "Serve failed");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;

    let certificate = tls::CertStore::load(&args.tls_cert_file, &args.tls_key_file)
        .context("loading the serving certificate")?;
    let certificate = Arc::new(certificate);
    let tls_config = tls::server_config(certificate.clone())?;

    let (config_source, config, config_loaded) = load_rules_config(&args)?;

    let mut registry = Registry::default();
    let cache = Cache::new(CacheMetrics::register(&mut registry));
    let limits = Limits {
        review_timeout: Duration::from_millis(args.review_timeout_ms),
        max_concurrent: args.max_concurrent_reviews,
        body_bytes_in_flight: args.max_body_mib_in_flight.saturating_mul(1024 * 1024),
        ..Limits::default()
    };
    let policy = Policy {
        unsynced: args.unsynced,
    };
    let state = AppState::new(cache.clone(), config.clone(), policy, limits, registry);

    let connection_limits = ConnectionLimits {
        handshake_timeout: Duration::from_millis(args.handshake_timeout_ms),
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
    };
    let webhook = Server {
        listener: bind(args.listen).await?,
        tls: Some(TlsAcceptor::from(Arc::new(tls_config))),
        app: router(state.clone()),
        limits: connection_limits,
    };
    let admin = Server {
        listener: bind(args.admin_listen).await?,
        tls: None,
        app: admin_router(state),
        limits: connection_limits,
    };
    tracing::info!(listen = %args.listen, admin_listen = %args.admin_listen, "Serving");

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(reload::reload_certificate(
        certificate,
        POLL_INTERVAL,
        stop_rx.clone(),
    ));
    tokio::spawn(config_source.reload(config, config_loaded, POLL_INTERVAL, stop_rx.clone()));
    let mut cache_task = tokio::spawn(run_cache(cache, watch_inputs(&args)));

    let drain = limits.review_timeout + Duration::from_secs(2);
    let webhook = tokio::spawn(webhook.run(stop_rx.clone(), drain));
    let admin = tokio::spawn(admin.run(stop_rx, drain));

    // A restart is asked for by the cache (a watch task ended, or CRDs were installed since
    // startup): the same graceful shutdown as SIGTERM, then a non-zero exit so the kubelet
    // starts the pod again with fresh watches.
    let restart = tokio::select! {
        () = shutdown_signal() => None,
        ended = &mut cache_task => Some(match ended {
            Ok(reason) => reason,
            Err(error) => anyhow::anyhow!("the cache task ended: {error}"),
        }),
    };
    tracing::info!(
        delay_secs = args.shutdown_delay_secs,
        restart = restart.is_some(),
        "Shutting down: serving on for the delay, then draining"
    );
    tokio::time::sleep(Duration::from_secs(args.shutdown_delay_secs)).await;
    let _ = stop_tx.send(true);
    let _ = webhook.await;
    let _ = admin.await;
    // The watch tasks end with the runtime; they hold no state that needs flushing.
    cache_task.abort();
    tracing::info!("Stopped");
    match restart {
        None => Ok(()),
        Some(reason) => Err(reason.context("restarting for fresh watches")),
    }
}

/// Reads the rules config once; a file that does not load stops startup (later, on reload, it
/// only keeps the previous config).
fn load_rules_config(args: &ServeArgs) -> anyhow::Result<(ConfigSource, SharedConfig, u64)> {
    use anyhow::Context as _;

    let implementation = args
        .implementation
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--implementation")?;
    let source = ConfigSource {
        file: args.config.clone(),
        implementation,
    };
    let (config, loaded) = source
        .load()
        .map_err(anyhow::Error::msg)
        .context("loading the rules config")?;
    Ok((source, SharedConfig::new(config), loaded))
}

async fn bind(address: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {address}: {error}"))
}

/// What the cache needs from the command line.
#[derive(Clone, Debug)]
struct WatchInputs {
    kubeconfig: Option<std::path::PathBuf>,
    options: cache::watch::WatchOptions,
    rediscovery_interval: Duration,
}

fn watch_inputs(args: &ServeArgs) -> WatchInputs {
    WatchInputs {
        kubeconfig: args.kubeconfig.clone(),
        rediscovery_interval: Duration::from_secs(args.rediscovery_interval_secs),
        options: cache::watch::WatchOptions {
            secret_namespaces: args.secret_namespaces.clone(),
        },
    }
}

/// Connects, discovers what the cluster serves, and starts the watches, retrying with backoff
/// until the API server answers (reviews are answered as not checked meanwhile). Then watches
/// over the watches: returns, with the reason, only when the process should restart.
async fn run_cache(cache: Cache, inputs: WatchInputs) -> anyhow::Error {
    let (client, served) = connect(&inputs).await;
    tracing::info!(?served, "Discovered the Gateway API resources served");

    let tasks = cache::watch::start(&client, &cache, &served, &inputs.options);
    tokio::select! {
        reason = first_ended(tasks) => reason,
        reason = rediscover(&client, served, inputs.rediscovery_interval) => reason,
    }
}

async fn connect(inputs: &WatchInputs) -> (kube::Client, cache::watch::Served) {
    let mut delay = Duration::from_millis(500);
    loop {
        let attempt = async {
            let client = cache::watch::client(inputs.kubeconfig.as_deref()).await?;
            let served = cache::watch::discover(&client).await?;
            anyhow::Ok((client, served))
        };
        match attempt.await {
            Ok(found) => return found,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "Cannot reach the API server to start the cache"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Waits for the first watch task to end. They never end by design (a broken watch retries
/// with backoff), so one that does has panicked or hit a bug, and its kind would silently go
/// stale: the server restarts instead.
async fn first_ended(tasks: Vec<cache::watch::WatchTask>) -> anyhow::Error {
    if tasks.is_empty() {
        return std::future::pending().await;
    }
    let (kinds, handles): (Vec<_>, Vec<_>) = tasks.into_iter().unzip();

    let (result, index, _running) = futures::future::select_all(handles).await;
    let kind = kinds[index];
    let how = match &result {
        Ok(()) => "returned",
        Err(error) if error.is_panic() => "panicked",
        Err(_) => "was cancelled",
    };
    tracing::error!(
        %kind,
        how,
        "Watch task ended; shutting down so the pod restarts with fresh watches"
    );
    anyhow::anyhow!("the {kind} watch task {how}")
}

/// Runs discovery every `interval` and returns when the cluster serves something the running
/// watches do not follow ([`cache::watch::served_change`]). A failed discovery is retried at
/// the next interval; the watches go on meanwhile.
async fn rediscover(
    client: &kube::Client,
    watched: cache::watch::Served,
    interval: Duration,
) -> anyhow::Error {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        ticker.tick().await;
        let now = match cache::watch::discover(client).await {
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(%error, "Rediscovery failed; trying again at the next interval");
                continue;
            }
        };
        let Some(change) = cache::watch::served_change(&watched, &now) else {
            continue;
        };

        let newly_served: Vec<&str> = change
            .newly_served
            .iter()
            .map(|kind| kind.as_str())
            .collect();
        let (grant_watched, grant_served) = change.grant_version.unzip();
        tracing::warn!(
            newly_served = newly_served.join(","),
            grant_version_watched = grant_watched.flatten(),
            grant_version_served = grant_served,
            "Gateway API resources served since startup are not watched; shutting down so the pod restarts with watches for them"
        );
        return anyhow::anyhow!(
            "the cluster now serves Gateway API resources that are not watched: {change:?}"
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "Cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "Cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    #[tokio::test]
    async fn a_watch_task_that_panics_is_reported_with_its_kind() {
        let forever = tokio::spawn(std::future::pending::<()>());
        let panics = tokio::spawn(async {
            tokio::task::yield_now().await;
            panic!("a bug in a watch");
        });
        let tasks = vec![(Kind::Secret, forever), (Kind::ReferenceGrant, panics)];

        let reason = first_ended(tasks).await;
        assert_eq!(reason.to_string(), "the ReferenceGrant watch task panicked");
    }

    #[tokio::test]
    async fn a_watch_task_that_returns_is_reported_with_its_kind() {
        let forever = tokio::spawn(std::future::pending::<()>());
        let returns = tokio::spawn(async {});
        let tasks = vec![(Kind::Gateway, forever), (Kind::ConfigMap, returns)];

        let reason = first_ended(tasks).await;
        assert_eq!(reason.to_string(), "the ConfigMap watch task returned");
    }
}
