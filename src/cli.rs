//! Command-line interface: `refguard check`, `refguard serve` and `refguard rules`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "refguard",
    version,
    about = "Stops Gateway API writes whose TLS references the gateway could not read"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifest files offline; the files are the whole world.
    Check(CheckArgs),
    /// Run the admission webhook.
    Serve(ServeArgs),
    /// Print the rule catalogue.
    Rules(RulesArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A file, a directory (searched for .yaml, .yml and .json) or `-` for standard input.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Implementation profile: gateway-api or istio@<version>. Overrides the config file.
    #[arg(long, value_name = "PROFILE")]
    pub implementation: Option<String>,
    /// Rules configuration file (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Namespace for objects that do not set one.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Print the catalogue as the Markdown of docs/rules.md.
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UnsyncedPolicy {
    /// Admit with a warning that the object was not checked.
    Allow,
    /// Refuse until the cache has synced.
    Deny,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTPS admission endpoint (POST /validate, also /healthz and /readyz).
    #[arg(long, env = "REFGUARD_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Address of the plain-HTTP admin endpoint (/healthz, /readyz, /metrics).
    #[arg(long, env = "REFGUARD_ADMIN_LISTEN", default_value = "0.0.0.0:9090")]
    pub admin_listen: SocketAddr,
    /// PEM certificate chain served to the API server; reloaded when the file changes.
    #[arg(long, env = "REFGUARD_TLS_CERT_FILE", value_name = "FILE")]
    pub tls_cert_file: PathBuf,
    /// PEM private key for the certificate; reloaded when the file changes.
    #[arg(long, env = "REFGUARD_TLS_KEY_FILE", value_name = "FILE")]
    pub tls_key_file: PathBuf,
    /// Rules configuration file (YAML); reloaded when it changes.
    #[arg(long, env = "REFGUARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Implementation profile; overrides the config file's.
    #[arg(long, env = "REFGUARD_IMPLEMENTATION", value_name = "PROFILE")]
    pub implementation: Option<String>,
    /// What to answer before every watch has finished its initial list.
    #[arg(long, env = "REFGUARD_UNSYNCED", value_enum, default_value_t = UnsyncedPolicy::Allow)]
    pub unsynced: UnsyncedPolicy,
    /// Watch Secrets only in these namespaces (comma separated) instead of cluster-wide, for
    /// clusters that grant refguard Secret access per namespace.
    #[arg(long, env = "REFGUARD_SECRET_NAMESPACES", value_delimiter = ',')]
    pub secret_namespaces: Vec<String>,
    /// Deadline for answering one review, below the webhook's timeoutSeconds.
    #[arg(long, env = "REFGUARD_REVIEW_TIMEOUT_MS", default_value_t = 8000)]
    pub review_timeout_ms: u64,
    /// Reviews answered at once; more wait.
    #[arg(long, env = "REFGUARD_MAX_CONCURRENT_REVIEWS", default_value_t = 32)]
    pub max_concurrent_reviews: usize,
    /// MiB of request bodies (by Content-Length) answered at once; more wait. With the parsed
    /// objects, this bounds the memory of reviews in flight (docs/webhook.md, Limits). At
    /// least one 7 MiB body always fits.
    #[arg(long, env = "REFGUARD_MAX_BODY_MIB_IN_FLIGHT", default_value_t = 16)]
    pub max_body_mib_in_flight: usize,
    /// Seconds between checks for Gateway API resources installed since startup; when one
    /// appears, refguard shuts down gracefully (exit 1) so it restarts with a watch for it.
    #[arg(long, env = "REFGUARD_REDISCOVERY_INTERVAL_SECS", default_value_t = crate::cache::watch::REDISCOVERY_INTERVAL.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub rediscovery_interval_secs: u64,
    /// Log format.
    #[arg(long, env = "REFGUARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Path to a kubeconfig; default: in-cluster config, then KUBECONFIG.
    #[arg(long, env = "REFGUARD_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Time a client has to complete the TLS handshake.
    #[arg(long, env = "REFGUARD_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Time a client has to send a request's headers.
    #[arg(
        long,
        env = "REFGUARD_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub header_read_timeout_ms: u64,
    /// Seconds to keep serving after SIGTERM before closing, so endpoints can drain.
    #[arg(long, env = "REFGUARD_SHUTDOWN_DELAY_SECS", default_value_t = 0)]
    pub shutdown_delay_secs: u64,
}
