//! `stratus`: the AWS serverless stack as one program.
//!
//! `stratus serve` opens the one endpoint. Settings come from flags, then `STRATUS_*`
//! environment variables, then `stratus.toml`, then defaults. `stratus cost` asks a running
//! server what its functions have cost so far.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use stratus_core::{AccessKeyConfig, Clock, Config, Durability};
use stratus_gateway::Gateway;
use stratus_store::{Store, StoreOptions};

/// mimalloc instead of the system allocator: a request allocates and frees many small buffers
/// across two worker threads, where glibc's malloc cost ~11 % of the server's CPU (S3 GET 1 KiB
/// profile; see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "stratus",
    version,
    about = "The AWS serverless stack as one fast program"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open the endpoint and serve every service.
    Serve(ServeArgs),
    /// Print what each function has cost so far under the server's price table.
    Cost(CostArgs),
}

#[derive(Args)]
struct CostArgs {
    /// The server to ask.
    #[arg(long, env = "STRATUS_ENDPOINT", default_value = "http://127.0.0.1:4566")]
    endpoint: String,
    /// Access key of the account to report on.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = "test")]
    access_key: String,
    /// Its secret.
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "test",
        hide_env_values = true
    )]
    secret_key: String,
    /// Region to report on.
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    region: String,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Configuration file (default: ./stratus.toml when it exists).
    #[arg(long, env = "STRATUS_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4566].
    #[arg(long, env = "STRATUS_LISTEN")]
    listen: Option<String>,
    /// Directory of the embedded store [default: ./.stratus].
    #[arg(long, env = "STRATUS_DATA_DIR")]
    data_dir: Option<String>,
    /// `embedded` or a `postgres://` URL [default: embedded].
    #[arg(long, env = "STRATUS_STORE")]
    store: Option<String>,
    /// Default region [default: us-east-1].
    #[arg(long, env = "STRATUS_REGION")]
    region: Option<String>,
    /// Log filter, e.g. `info`, `debug`, `stratus_gateway=trace` [default: info].
    #[arg(long, env = "STRATUS_LOG_LEVEL")]
    log_level: Option<String>,
    /// `log` (acknowledged writes survive kill -9) or `fsync` (also power loss) [default: log].
    #[arg(long, env = "STRATUS_DURABILITY")]
    durability: Option<Durability>,
    /// Enable test controls: /_stratus/clock and /_stratus/reset.
    #[arg(long, env = "STRATUS_DEV")]
    dev: Option<Option<bool>>,
    /// Concurrent function executions allowed per account and region [default: 1000].
    #[arg(long, env = "STRATUS_LAMBDA_CONCURRENCY")]
    lambda_concurrency: Option<u32>,
    /// Accepted access key, `KEY:SECRET[:ACCOUNT[:PRINCIPAL]]`; repeat for several
    /// (environment: comma separated). Default: test:test in account 000000000000.
    #[arg(long = "access-key", env = "STRATUS_ACCESS_KEYS", value_delimiter = ',')]
    access_keys: Vec<String>,
}

fn load_config(args: &ServeArgs) -> Result<Config> {
    let mut config = match &args.config {
        Some(path) => read_toml(path)?,
        None if Path::new("stratus.toml").exists() => read_toml(Path::new("stratus.toml"))?,
        None => Config::default(),
    };
    if let Some(v) = &args.listen {
        config.listen = v.clone();
    }
    if let Some(v) = &args.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = &args.store {
        config.store = v.clone();
    }
    if let Some(v) = &args.region {
        config.region = v.clone();
    }
    if let Some(v) = &args.log_level {
        config.log_level = v.clone();
    }
    if let Some(v) = args.durability {
        config.durability = v;
    }
    if let Some(v) = args.lambda_concurrency {
        config.lambda_concurrency = v;
    }
    if let Some(v) = args.dev {
        config.dev = v.unwrap_or(true);
    }
    if !args.access_keys.is_empty() {
        config.access_keys = args
            .access_keys
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| AccessKeyConfig::parse(s.trim()).map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?;
    }
    Ok(config)
}

fn read_toml(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let config = load_config(&args)?;
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .with_context(|| format!("invalid log level '{}'", config.log_level))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let addr: SocketAddr = config
        .listen
        .parse()
        .with_context(|| format!("invalid --listen '{}'", config.listen))?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening beyond loopback: anyone who can reach this address and holds a configured key can use it");
    }
    let data_dir = PathBuf::from(&config.data_dir);
    let store = Store::open(StoreOptions {
        spec: &config.store,
        data_dir: &data_dir,
        fsync: config.durability == Durability::Fsync,
    })
    .await
    .context("opening the store")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    if config.access_keys.iter().any(|k| k.account_id.len() != 12) {
        bail!("account ids must have 12 digits");
    }
    tracing::info!(
        address = %local,
        store = store.engine_name(),
        durability = ?config.durability,
        dev = config.dev,
        "stratus listening on http://{local}"
    );
    let gateway = Gateway::new(config, store, Clock::new(), local).context("starting services")?;
    gateway.serve(listener, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

/// A signed GET to the server; the JSON it answers.
async fn signed_get(args: &CostArgs, path: &str) -> Result<serde_json::Value> {
    let uri: http::Uri = format!("{}{path}", args.endpoint.trim_end_matches('/'))
        .parse()
        .with_context(|| format!("invalid --endpoint '{}'", args.endpoint))?;
    let host = uri.authority().context("--endpoint needs a host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let addr = format!("{}:{port}", uri.host().unwrap_or("127.0.0.1"));
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, host.parse()?);
    stratus_protocol::sigv4::sign_headers(
        "GET",
        uri.path(),
        uri.query(),
        &mut headers,
        b"",
        &args.access_key,
        &args.secret_key,
        &args.region,
        "lambda",
        std::time::SystemTime::now(),
    );
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .with_context(|| format!("connecting to {addr}: is `stratus serve` running?"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = http::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    *req.headers_mut() = headers;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("the server answered {status}: {}", String::from_utf8_lossy(&body)))?;
    if !status.is_success() {
        bail!(
            "the server answered {status}: {}",
            value["message"].as_str().unwrap_or_default()
        );
    }
    Ok(value)
}

async fn cost(args: CostArgs) -> Result<()> {
    let report = signed_get(&args, "/_stratus/lambda/cost").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let num = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    println!(
        "{:<32} {:>12} {:>14} {:>16} {:>14}",
        "FUNCTION", "REQUESTS", "GB-SECONDS", "PROVISIONED GB-S", "COST (USD)"
    );
    for f in report["Functions"].as_array().into_iter().flatten() {
        println!(
            "{:<32} {:>12} {:>14.4} {:>16.4} {:>14.8}",
            f["FunctionName"].as_str().unwrap_or_default(),
            f["Requests"].as_u64().unwrap_or(0),
            num(f, "GBSeconds") + num(f, "ProvisionedDurationGBSeconds"),
            num(f, "ProvisionedGBSeconds"),
            num(f, "Cost"),
        );
    }
    let total = &report["Total"];
    println!(
        "{:<32} {:>12} {:>14.4} {:>16} {:>14.8}",
        "TOTAL",
        total["Requests"].as_u64().unwrap_or(0),
        num(total, "GBSeconds"),
        "",
        num(total, "Cost")
    );
    println!(
        "{:<32} {:>12} {:>14} {:>16} {:>14.8}",
        "free tier",
        "",
        "",
        "",
        -num(total, "FreeTier")
    );
    println!(
        "{:<32} {:>12} {:>14} {:>16} {:>14.8}",
        "DUE",
        "",
        "",
        "",
        num(total, "Due")
    );
    Ok(())
}

fn main() -> Result<()> {
    // Function sandboxes are started by re-executing this binary.
    if std::env::args().nth(1).as_deref() == Some(stratus_runtime::sandbox::SUBCOMMAND) {
        stratus_runtime::sandbox::launcher_main();
    }
    let cli = Cli::parse();
    // Request parsers recurse as deep as their inputs' limits allow (300 levels of nesting
    // in a DynamoDB expression): 8 MiB of stack (reserved, not resident) leaves room for that
    // in a debug build too.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Cost(args) => runtime.block_on(cost(args)),
    }
}
