//! Function sandboxes, instance pools and the Lambda Runtime API.
//!
//! An *instance* is one runtime process in its sandboxes ([`sandbox`], [`cgroup`]) with its
//! own Runtime API endpoint ([`api`]). Instances are pooled per function configuration: a
//! call takes an idle instance (warm) or starts one (cold: the init phase runs first), hands
//! it one event, and returns it to the pool unless it died, timed out or ran out of memory.
//! Idle instances are reaped after a while; shutdown kills them all. A pool may also be
//! *provisioned*: that many instances are initialized ahead of calls, never reaped, and
//! replaced when they die.
//!
//! This crate knows nothing of the Lambda API: `stratus-lambda` describes a function as a
//! [`FunctionSpec`] and turns an [`Outcome`] into an Invoke answer and log lines.

pub mod api;
pub mod cgroup;
pub mod interpreters;
mod logtap;
pub mod sandbox;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use api::{InitSignal, Reply, RuntimeApi, Work};
use interpreters::Language;

/// The init phase may take this long before the instance is abandoned (as AWS).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// First uid handed to sandboxed instances; each instance gets its own.
const UID_BASE: u32 = 200_000;
const UID_SPAN: u32 = 100_000;

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/python.py");
const NODE_BOOTSTRAP: &str = include_str!("bootstrap/node.js");

/// How the runtime manager is set up.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where bootstraps and per-instance scratch directories live (under the data directory).
    pub work_dir: PathBuf,
    /// Directories no function may see (the data directory).
    pub hide: Vec<PathBuf>,
    /// The executable that understands `__sandbox` (the stratus binary).
    pub launcher: PathBuf,
    /// How long an idle instance is kept warm.
    pub idle_timeout: Duration,
}

/// One function configuration, as instances of it are started.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    /// Instances are shared only between calls with the same key (function, version, code and
    /// configuration).
    pub pool_key: String,
    pub function_name: String,
    pub version: String,
    pub runtime: String,
    pub handler: String,
    pub memory_mb: u64,
    pub timeout: Duration,
    pub tmp_mb: u64,
    pub code_dir: PathBuf,
    pub layers_dir: Option<PathBuf>,
    /// The function's environment plus the standard Lambda variables that do not depend on
    /// the instance (region, function name, credentials, endpoint...).
    pub env: Vec<(String, String)>,
    pub log_group: String,
}

/// One synchronous call.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    pub invoked_arn: String,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    /// Where the chunks of a streamed response go as they arrive; `None` gathers them.
    pub stream: Option<tokio::sync::mpsc::UnboundedSender<Bytes>>,
}

/// What became of a call.
#[derive(Debug)]
pub struct Outcome {
    /// The response payload, or the error payload (a JSON object with `errorMessage` and
    /// `errorType`) that Invoke returns with `X-Amz-Function-Error: Unhandled`.
    pub result: Result<Bytes, Bytes>,
    /// The log stream of the instance that ran the call.
    pub log_stream: String,
    /// Output lines of the runtime since the previous call: `(epoch ms, text)`.
    pub lines: Vec<(i64, String)>,
    /// Extra platform lines for the log after the function's own (timeouts...).
    pub platform_lines: Vec<String>,
    /// Present on a cold start.
    pub init_duration: Option<Duration>,
    /// Served by an instance initialized ahead of time (provisioned concurrency).
    pub provisioned: bool,
    pub duration: Duration,
    pub max_memory_mb: u64,
}

/// The pool of instances of every function.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    config: RuntimeConfig,
    isolate: bool,
    cgroups: Option<cgroup::Flavor>,
    runtime_dir: PathBuf,
    idle: Mutex<HashMap<String, Vec<Instance>>>,
    /// Provisioned pools by pool key.
    provisioned: Mutex<HashMap<String, Provisioned>>,
    /// Launcher pids of every live instance, for shutdown.
    live: Mutex<HashMap<String, u32>>,
    /// Init phases that may run at once. A burst of cold starts on a small machine would
    /// otherwise share the CPU so thinly that every init ran past its 10 s limit; queued
    /// starts wait here, and their init clock starts when they leave the queue.
    init_slots: tokio::sync::Semaphore,
    next_uid: AtomicU32,
}

impl Runtime {
    /// Prepares the bootstraps and probes what isolation the host allows.
    pub fn new(config: RuntimeConfig) -> std::io::Result<Runtime> {
        let runtime_dir = config.work_dir.join("runtime");
        std::fs::create_dir_all(&runtime_dir)?;
        std::fs::write(runtime_dir.join("python.py"), PYTHON_BOOTSTRAP)?;
        std::fs::write(runtime_dir.join("node.js"), NODE_BOOTSTRAP)?;
        set_mode(&runtime_dir, 0o755);
        set_mode(&runtime_dir.join("python.py"), 0o644);
        set_mode(&runtime_dir.join("node.js"), 0o644);
        let root = nix::unistd::geteuid().is_root();
        let isolate = root
            && [sandbox::TASK_ROOT, sandbox::RUNTIME_DIR]
                .iter()
                .all(|d| std::fs::create_dir_all(d).is_ok());
        if !isolate {
            tracing::warn!(
                "function sandboxes need root for namespaces, mounts and uids: functions run as plain child processes"
            );
        }
        let cgroups = if root { cgroup::detect() } else { None };
        if root && cgroups.is_none() {
            tracing::warn!("no writable cgroup hierarchy: function memory limits are not enforced");
        }
        let rt = Runtime {
            inner: Arc::new(Inner {
                config,
                isolate,
                cgroups,
                runtime_dir,
                idle: Mutex::new(HashMap::new()),
                provisioned: Mutex::new(HashMap::new()),
                live: Mutex::new(HashMap::new()),
                init_slots: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2,
                ),
                next_uid: AtomicU32::new(0),
            }),
        };
        let weak = Arc::downgrade(&rt.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(inner) = weak.upgrade() else { return };
                inner.reap();
                Runtime { inner }.replenish();
            }
        });
        Ok(rt)
    }

    /// Whether instances run in namespaces as their own uid.
    pub fn isolated(&self) -> bool {
        self.inner.isolate
    }

    /// Kills every instance (server shutdown).
    pub fn shutdown(&self) {
        self.inner.provisioned.lock().unwrap().clear();
        let idle: Vec<Instance> = self
            .inner
            .idle
            .lock()
            .unwrap()
            .drain()
            .flat_map(|(_, l)| l)
            .collect();
        for (_, pid) in self.inner.live.lock().unwrap().drain() {
            kill(pid);
        }
        // Every instance is signalled before any is waited for, so that their exits overlap
        // and each cgroup is empty by the time it is removed.
        for i in &idle {
            i.kill();
        }
        drop(idle);
    }

    /// Drops every idle instance of one function (its code or configuration changed).
    pub fn retire(&self, key_prefix: &str) {
        self.inner
            .provisioned
            .lock()
            .unwrap()
            .retain(|k, _| !k.starts_with(key_prefix));
        self.inner
            .idle
            .lock()
            .unwrap()
            .retain(|k, _| !k.starts_with(key_prefix));
    }

    /// Keeps `count` instances of `spec` initialized ahead of calls (provisioned concurrency);
    /// 0 releases them. Instances beyond a lowered count are stopped when idle.
    pub fn provision(&self, spec: &FunctionSpec, count: usize) {
        {
            let mut pools = self.inner.provisioned.lock().unwrap();
            if count == 0 {
                pools.remove(&spec.pool_key);
            } else {
                let pool = pools.entry(spec.pool_key.clone()).or_insert_with(|| Provisioned {
                    spec: spec.clone(),
                    target: 0,
                    starting: 0,
                    ready: Arc::new(()),
                    failed: None,
                });
                pool.target = count;
                pool.failed = None;
            }
        }
        self.trim(&spec.pool_key);
        self.replenish();
    }

    /// How far a provisioned pool is.
    pub fn provisioned(&self, pool_key: &str) -> PoolState {
        let pools = self.inner.provisioned.lock().unwrap();
        let idle = self.inner.idle.lock().unwrap();
        pools.get(pool_key).map_or_else(PoolState::default, |p| {
            let ready = (Arc::strong_count(&p.ready) - 1).min(p.target);
            let waiting = idle.get(pool_key).map_or(0, |l| {
                l.iter()
                    .filter(|i| i.provisioned.as_ref().is_some_and(|t| Arc::ptr_eq(t, &p.ready)))
                    .count()
            });
            PoolState {
                target: p.target,
                ready,
                busy: ready.saturating_sub(waiting),
                failed: p.failed.clone(),
            }
        })
    }

    /// Drops idle provisioned instances a pool no longer wants.
    fn trim(&self, pool_key: &str) {
        let pools = self.inner.provisioned.lock().unwrap();
        let mut idle = self.inner.idle.lock().unwrap();
        let Some(list) = idle.get_mut(pool_key) else {
            return;
        };
        let (mut extra, token) = match pools.get(pool_key) {
            Some(p) => (
                (Arc::strong_count(&p.ready) - 1).saturating_sub(p.target),
                Some(p.ready.clone()),
            ),
            None => (usize::MAX, None),
        };
        for i in list.iter_mut() {
            let stale = match (&i.provisioned, &token) {
                (Some(mine), Some(t)) => !Arc::ptr_eq(mine, t),
                (Some(_), None) => true,
                (None, _) => false,
            };
            if stale || (i.provisioned.is_some() && extra > 0) {
                // Demoted to an ordinary warm instance: reaped once idle long enough.
                if !stale {
                    extra -= 1;
                }
                i.provisioned = None;
            }
        }
    }

    /// Starts the instances provisioned pools lack (after a change, a crash or a timeout).
    fn replenish(&self) {
        let mut starts = Vec::new();
        {
            let mut pools = self.inner.provisioned.lock().unwrap();
            for pool in pools.values_mut().filter(|p| p.failed.is_none()) {
                let have = Arc::strong_count(&pool.ready) - 1 + pool.starting;
                for _ in have..pool.target {
                    pool.starting += 1;
                    // A weak handle: only initialized instances count as ready.
                    starts.push((pool.spec.clone(), Arc::downgrade(&pool.ready)));
                }
            }
        }
        for (spec, token) in starts {
            let rt = self.clone();
            tokio::spawn(async move {
                let started = rt.cold_start(&spec, "provisioned-concurrency").await;
                let mut pools = rt.inner.provisioned.lock().unwrap();
                let token = token.upgrade();
                let same = |p: &&mut Provisioned| token.as_ref().is_some_and(|t| Arc::ptr_eq(&p.ready, t));
                if let Some(p) = pools.get_mut(&spec.pool_key).filter(same) {
                    p.starting -= 1;
                }
                match started {
                    Ok((mut instance, _)) => {
                        if pools.get_mut(&spec.pool_key).filter(same).is_some() {
                            instance.provisioned = token;
                        }
                        drop(pools);
                        rt.park(&spec.pool_key, instance);
                    }
                    Err((instance, error)) => {
                        // Retrying code that cannot initialize would only spin: the pool
                        // reports FAILED until its configuration is put again.
                        if let Some(p) = pools.get_mut(&spec.pool_key).filter(same) {
                            p.failed = Some(String::from_utf8_lossy(&error).into_owned());
                        }
                        drop(pools);
                        if let Some(i) = &instance {
                            rt.inner.live.lock().unwrap().remove(&i.id);
                        }
                        tracing::warn!(
                            function = spec.function_name,
                            error = %String::from_utf8_lossy(&error),
                            "a provisioned instance failed to initialize"
                        );
                    }
                }
            });
        }
    }

    /// Puts an instance back among the idle ones of its pool.
    fn park(&self, pool_key: &str, instance: Instance) {
        self.inner
            .idle
            .lock()
            .unwrap()
            .entry(pool_key.to_string())
            .or_default()
            .push(instance);
    }

    /// Number of live instances (idle and busy).
    pub fn live_instances(&self) -> usize {
        self.inner.live.lock().unwrap().len()
    }

    /// Runs one call on a warm instance, or on a new one.
    pub async fn invoke(&self, spec: &FunctionSpec, inv: Invocation) -> Outcome {
        let warm = {
            let mut idle = self.inner.idle.lock().unwrap();
            idle.get_mut(&spec.pool_key).and_then(Vec::pop)
        };
        let (mut instance, init_duration) = match warm {
            Some(i) => (i, None),
            None => match self.cold_start(spec, "on-demand").await {
                Ok(pair) => pair,
                Err((instance, error)) => {
                    if let Some(i) = &instance {
                        self.inner.live.lock().unwrap().remove(&i.id);
                    }
                    return failure(instance, error).await;
                }
            },
        };
        let started = Instant::now();
        let deadline = std::time::SystemTime::now() + spec.timeout;
        let deadline_ms = deadline
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let (reply_tx, reply_rx) = oneshot::channel();
        let work = Work {
            request_id: inv.request_id.clone(),
            payload: inv.payload.clone(),
            deadline_ms,
            invoked_arn: inv.invoked_arn.clone(),
            client_context: inv.client_context.clone(),
            cognito_identity: inv.cognito_identity.clone(),
            reply: reply_tx,
            stream: inv.stream.clone(),
        };
        let _ = instance.work.send(work).await;
        let mut exited = instance.exited.clone();
        let rid = &inv.request_id;
        let mut platform_lines = Vec::new();
        let (result, keep) = tokio::select! {
            r = reply_rx => match r {
                Ok(Reply::Response(body)) => (Ok(body), true),
                Ok(Reply::Error { body, error_type }) => (Err(error_payload(body, error_type)), true),
                Ok(Reply::TooLarge(n)) => (Err(error_json(
                    "Function.ResponseSizeTooLarge",
                    &format!("Response payload size exceeded maximum allowed payload size ({n} bytes)."),
                )), true),
                Err(_) => (Err(instance.exit_error(rid, None)), false),
            },
            code = wait_exit(&mut exited) => (Err(instance.exit_error(rid, code)), false),
            _ = tokio::time::sleep(spec.timeout) => {
                let secs = spec.timeout.as_secs_f64();
                platform_lines.push(format!("{} {rid} Task timed out after {secs:.2} seconds", iso_now()));
                (Err(error_json("Sandbox.Timedout", &format!("RequestId: {rid} Error: Task timed out after {secs:.2} seconds"))), false)
            }
        };
        let duration = started.elapsed();
        let provisioned = instance.provisioned.is_some();
        if !keep {
            instance.kill();
        }
        let lines = instance.logs.drain();
        let max_memory_mb = instance.peak_mb();
        let log_stream = instance.stream.clone();
        if keep {
            instance.last_used = Instant::now();
            self.park(&spec.pool_key, instance);
            if provisioned {
                self.trim(&spec.pool_key);
            }
        } else {
            self.inner.live.lock().unwrap().remove(&instance.id);
            drop(instance);
            if provisioned {
                self.replenish();
            }
        }
        Outcome {
            result,
            log_stream,
            lines,
            platform_lines,
            init_duration,
            provisioned,
            duration,
            max_memory_mb,
        }
    }

    /// Starts an instance and waits for its init phase to end.
    async fn cold_start(
        &self,
        spec: &FunctionSpec,
        init_type: &str,
    ) -> Result<(Instance, Option<Duration>), (Option<Instance>, Bytes)> {
        let _slot = self.inner.init_slots.acquire().await;
        let started = Instant::now();
        let (instance, init_rx) = match self.spawn(spec, init_type).await {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!(function = spec.function_name, error = %e, "cannot start a function instance");
                return Err((
                    None,
                    error_json("Runtime.Unknown", &format!("Could not start the runtime: {e}")),
                ));
            }
        };
        let mut exited = instance.exited.clone();
        let signal = tokio::select! {
            s = init_rx => s.ok(),
            _ = wait_exit(&mut exited) => None,
            _ = tokio::time::sleep(INIT_TIMEOUT) => {
                instance.kill();
                return Err((Some(instance), error_json("Sandbox.Timedout", "INIT_REPORT Init Duration: 10000.00 ms Phase: init Status: timeout")));
            }
        };
        match signal {
            Some(InitSignal::Ready) => Ok((instance, Some(started.elapsed()))),
            Some(InitSignal::Error { body, error_type }) => {
                instance.kill();
                Err((Some(instance), error_payload(body, error_type)))
            }
            None => {
                let code = *instance.exited.borrow();
                let err = instance.exit_error("", code);
                instance.kill();
                Err((Some(instance), err))
            }
        }
    }

    async fn spawn(
        &self,
        spec: &FunctionSpec,
        init_type: &str,
    ) -> std::io::Result<(Instance, oneshot::Receiver<InitSignal>)> {
        let inner = &self.inner;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let uid = UID_BASE + inner.next_uid.fetch_add(1, Ordering::Relaxed) % UID_SPAN;
        let isolate = inner.isolate;
        let (api, work_tx, init_rx) = RuntimeApi::start(isolate.then_some(uid)).await?;
        let cgroup = inner
            .cgroups
            .and_then(|f| cgroup::Cgroup::create(f, &id, spec.memory_mb).ok());
        let scratch = inner.config.work_dir.join("instances").join(&id);
        std::fs::create_dir_all(scratch.join("tmp"))?;
        let (task_root, runtime_dir) = if isolate {
            (
                PathBuf::from(sandbox::TASK_ROOT),
                PathBuf::from(sandbox::RUNTIME_DIR),
            )
        } else {
            (spec.code_dir.clone(), inner.runtime_dir.clone())
        };
        let mut expose = Vec::new();
        let argv = match interpreters::language(&spec.runtime) {
            Some(Language::Python) | Some(Language::Node) => {
                let interp = interpreters::find(&spec.runtime).ok_or_else(|| {
                    std::io::Error::other(format!("no interpreter for {} on this host", spec.runtime))
                })?;
                expose.push(interp.prefix.clone());
                let script = if spec.runtime.starts_with("python") {
                    "python.py"
                } else {
                    "node.js"
                };
                vec![
                    interp.executable.to_string_lossy().into_owned(),
                    runtime_dir.join(script).to_string_lossy().into_owned(),
                ]
            }
            _ => vec![task_root.join("bootstrap").to_string_lossy().into_owned()],
        };
        // A wrapper script runs first with the runtime's command as its arguments (as AWS).
        let mut argv = argv;
        if let Some((_, wrapper)) = spec.env.iter().find(|(k, _)| k == "AWS_LAMBDA_EXEC_WRAPPER")
            && interpreters::language(&spec.runtime) != Some(Language::Provided)
        {
            argv.insert(0, wrapper.clone());
        }
        let stream = log_stream_name(&spec.version, &id);
        let mut env = spec.env.clone();
        env.retain(|(k, _)| k != "AWS_LAMBDA_INITIALIZATION_TYPE");
        env.push(("AWS_LAMBDA_INITIALIZATION_TYPE".into(), init_type.into()));
        let tmp = if isolate {
            "/tmp".to_string()
        } else {
            scratch.join("tmp").to_string_lossy().into_owned()
        };
        env.extend([
            ("AWS_LAMBDA_RUNTIME_API".into(), api.addr.to_string()),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), stream.clone()),
            ("AWS_LAMBDA_LOG_GROUP_NAME".into(), spec.log_group.clone()),
            ("LAMBDA_TASK_ROOT".into(), task_root.to_string_lossy().into_owned()),
            ("LAMBDA_RUNTIME_DIR".into(), runtime_dir.to_string_lossy().into_owned()),
            ("_HANDLER".into(), spec.handler.clone()),
            ("TMPDIR".into(), tmp),
            ("HOME".into(), "/tmp".into()),
            ("TZ".into(), ":UTC".into()),
            ("LANG".into(), "en_US.UTF-8".into()),
            ("PYTHONUNBUFFERED".into(), "1".into()),
            (
                "PATH".into(),
                "/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin".into(),
            ),
            (
                "LD_LIBRARY_PATH".into(),
                "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib".into(),
            ),
        ]);
        if let Some(Language::Python) = interpreters::language(&spec.runtime) {
            env.push((
                "PYTHONPATH".into(),
                format!("{}:/opt/python", task_root.display()),
            ));
        }
        if let Some(Language::Node) = interpreters::language(&spec.runtime) {
            env.push(("NODE_PATH".into(), "/opt/nodejs/node_modules:/opt/nodejs".into()));
        }
        let spec_json = serde_json::to_string(&sandbox::SandboxSpec {
            isolate,
            argv,
            env,
            code_dir: spec.code_dir.clone(),
            runtime_dir: inner.runtime_dir.clone(),
            layers_dir: spec.layers_dir.clone(),
            tmp_mb: spec.tmp_mb,
            hide: inner.config.hide.clone(),
            expose,
            uid,
            cgroup_procs: cgroup.as_ref().map(|c| c.procs_files()).unwrap_or_default(),
        })
        .map_err(std::io::Error::other)?;
        let (reader, writer) = std::io::pipe()?;
        let child = tokio::process::Command::new(&inner.config.launcher)
            .arg(sandbox::SUBCOMMAND)
            .env_clear()
            .env(sandbox::SPEC_VAR, spec_json)
            .stdin(std::process::Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or(0);
        inner.live.lock().unwrap().insert(id.clone(), pid);
        let (exit_tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            let mut child = child;
            let code = child.wait().await.ok().map(|s| {
                use std::os::unix::process::ExitStatusExt;
                s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9))
            });
            let _ = exit_tx.send(Some(code.unwrap_or(-1)));
        });
        let logs = logtap::LogTap::start(reader)?;
        Ok((
            Instance {
                id,
                pid,
                work: work_tx,
                exited,
                cgroup,
                logs,
                _api: api,
                stream,
                last_used: Instant::now(),
                scratch,
                provisioned: None,
            },
            init_rx,
        ))
    }
}

impl Inner {
    fn reap(&self) {
        let timeout = self.config.idle_timeout;
        let mut reaped = Vec::new();
        {
            let mut idle = self.idle.lock().unwrap();
            for list in idle.values_mut() {
                let (old, keep): (Vec<Instance>, Vec<Instance>) = list
                    .drain(..)
                    .partition(|i| i.provisioned.is_none() && i.last_used.elapsed() >= timeout);
                *list = keep;
                reaped.extend(old);
            }
            idle.retain(|_, l| !l.is_empty());
        }
        let mut live = self.live.lock().unwrap();
        for i in &reaped {
            live.remove(&i.id);
        }
        drop(live);
        drop(reaped);
    }
}

struct Instance {
    id: String,
    pid: u32,
    work: mpsc::Sender<Work>,
    exited: watch::Receiver<Option<i32>>,
    cgroup: Option<cgroup::Cgroup>,
    logs: logtap::LogTap,
    _api: RuntimeApi,
    stream: String,
    last_used: Instant,
    scratch: PathBuf,
    /// The pool token of a provisioned instance (its count is the pool's initialized size).
    provisioned: Option<Arc<()>>,
}

/// A provisioned pool as callers see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolState {
    /// Instances wanted.
    pub target: usize,
    /// Instances initialized.
    pub ready: usize,
    /// Initialized instances running a call.
    pub busy: usize,
    /// Why instances could not be started, if they could not.
    pub failed: Option<String>,
}

/// A provisioned pool: how many instances it wants and how many it has.
struct Provisioned {
    spec: FunctionSpec,
    target: usize,
    /// Instances in their init phase.
    starting: usize,
    /// Held by every initialized instance of this pool.
    ready: Arc<()>,
    /// Set when an instance could not initialize.
    failed: Option<String>,
}

impl Instance {
    fn kill(&self) {
        kill(self.pid);
        if let Some(c) = &self.cgroup {
            c.kill_all();
        }
    }

    fn peak_mb(&self) -> u64 {
        let bytes = self.cgroup.as_ref().and_then(|c| c.peak_bytes()).unwrap_or(0);
        bytes.div_ceil(1024 * 1024)
    }

    /// The error of a runtime process that died.
    fn exit_error(&self, request_id: &str, code: Option<i32>) -> Bytes {
        let prefix = if request_id.is_empty() {
            String::new()
        } else {
            format!("RequestId: {request_id} ")
        };
        if self.cgroup.as_ref().is_some_and(|c| c.oom_killed()) {
            return error_json(
                "Runtime.OutOfMemory",
                &format!("{prefix}Error: Runtime exited with error: signal: killed"),
            );
        }
        if code == Some(sandbox::EXEC_FAILED) {
            return error_json(
                "Runtime.InvalidEntrypoint",
                &format!(
                    "{prefix}Error: fork/exec: the runtime could not be started (is the bootstrap executable?)"
                ),
            );
        }
        let how = match code {
            Some(c) if c > 128 => format!("signal: {}", signal_name(c - 128)),
            Some(c) => format!("exit status {c}"),
            None => "signal: killed".into(),
        };
        error_json(
            "Runtime.ExitError",
            &format!("{prefix}Error: Runtime exited with error: {how}"),
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// A call that never reached the function; what the runtime printed while it failed to start
/// still goes to the log.
async fn failure(instance: Option<Instance>, error: Bytes) -> Outcome {
    let lines = match &instance {
        Some(i) => i.logs.drain(),
        None => Vec::new(),
    };
    Outcome {
        result: Err(error),
        log_stream: instance.as_ref().map(|i| i.stream.clone()).unwrap_or_default(),
        lines,
        platform_lines: Vec::new(),
        init_duration: None,
        provisioned: false,
        duration: Duration::ZERO,
        max_memory_mb: instance.as_ref().map_or(0, |i| i.peak_mb()),
    }
}

async fn wait_exit(rx: &mut watch::Receiver<Option<i32>>) -> Option<i32> {
    loop {
        if let Some(code) = *rx.borrow() {
            return Some(code);
        }
        if rx.changed().await.is_err() {
            return None;
        }
    }
}

fn kill(pid: u32) {
    if pid > 0 {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n)
        .map(|s| match s {
            nix::sys::signal::Signal::SIGKILL => "killed".to_string(),
            nix::sys::signal::Signal::SIGSEGV => "segmentation fault".to_string(),
            nix::sys::signal::Signal::SIGABRT => "aborted".to_string(),
            other => other.as_str().trim_start_matches("SIG").to_lowercase(),
        })
        .unwrap_or_else(|_| n.to_string())
}

/// An error payload as AWS writes it for platform errors.
pub fn error_json(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

/// The runtime's error body, passed through; one that is not JSON is wrapped.
fn error_payload(body: Bytes, error_type: Option<String>) -> Bytes {
    if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.is_object()) {
        return body;
    }
    error_json(
        error_type.as_deref().unwrap_or("Runtime.Unknown"),
        &String::from_utf8_lossy(&body),
    )
}

/// `2026/11/29/[$LATEST]0123456789abcdef0123456789abcdef`, as AWS names a function's streams.
pub fn log_stream_name(version: &str, id: &str) -> String {
    let date = time::OffsetDateTime::now_utc();
    format!(
        "{:04}/{:02}/{:02}/[{version}]{id}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn iso_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Sets a file's permission bits (code and bootstraps must be readable by instance uids).
pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
}
