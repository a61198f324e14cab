//! The physical limit for function invocation: the shipped runtime clients fed by a bare
//! in-process Runtime API, with no HTTP front door, no signature, no store, no sandbox and no
//! logs. `bench/lambda.py` compares Stratus's Invoke against it.
//!
//!     runtime_limit warm <python3.12|nodejs20.x> <callers> <secs>
//!     runtime_limit cold <python3.12|nodejs20.x> <runs>
//!
//! Prints one JSON line; `warm` also reports the CPU time each call cost this process (the
//! Runtime API side) and the runtime processes, in microseconds.

use std::time::{Duration, Instant};

use bytes::Bytes;
use stratus_runtime::api::{InitSignal, Reply, RuntimeApi, Work};
use tokio::sync::oneshot;

const PY: &str = "def handler(event, context):\n    return event\n";
const JS: &str = "exports.handler = async (event) => event;\n";

struct Proc {
    work: tokio::sync::mpsc::Sender<Work>,
    _api: RuntimeApi,
    _child: tokio::process::Child,
}

async fn start(runtime: &str, dir: &std::path::Path) -> (Proc, Duration) {
    let t0 = Instant::now();
    let (api, work, init) = RuntimeApi::start(None).await.unwrap();
    let interp = stratus_runtime::interpreters::find(runtime).expect("interpreter on this host");
    let script = if runtime.starts_with("python") {
        "python.py"
    } else {
        "node.js"
    };
    let child = tokio::process::Command::new(&interp.executable)
        .arg(dir.join(script))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env(
            "_HANDLER",
            if runtime.starts_with("python") {
                "app.handler"
            } else {
                "index.handler"
            },
        )
        .env("LAMBDA_TASK_ROOT", dir)
        .env("PYTHONUNBUFFERED", "1")
        .current_dir(dir)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    match init.await {
        Ok(InitSignal::Ready) => {}
        other => panic!("init failed: {other:?}"),
    }
    (
        Proc {
            work,
            _api: api,
            _child: child,
        },
        t0.elapsed(),
    )
}

async fn call(p: &Proc, n: u64) -> Duration {
    let t0 = Instant::now();
    let (tx, rx) = oneshot::channel();
    p.work
        .send(Work {
            request_id: uuid::Uuid::new_v4().to_string(),
            payload: Bytes::from(format!(r#"{{"n":{n}}}"#)),
            deadline_ms: i64::MAX / 2,
            invoked_arn: "arn:aws:lambda:us-east-1:000000000000:function:limit".into(),
            client_context: None,
            cognito_identity: None,
            reply: tx,
            stream: None,
        })
        .await
        .unwrap();
    match rx.await {
        Ok(Reply::Response(_)) => t0.elapsed(),
        other => panic!("call failed: {other:?}"),
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat` (100 ticks/s).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("warm");
    let runtime = args.get(2).cloned().unwrap_or_else(|| "python3.12".into());
    let dir = std::env::temp_dir().join(format!("stratus-limit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.py"), PY).unwrap();
    std::fs::write(dir.join("index.js"), JS).unwrap();
    std::fs::write(dir.join("python.py"), include_str!("../src/bootstrap/python.py")).unwrap();
    std::fs::write(dir.join("node.js"), include_str!("../src/bootstrap/node.js")).unwrap();
    if mode == "cold" {
        let runs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
        let mut ms = Vec::new();
        for i in 0..runs {
            let t0 = Instant::now();
            let (p, _) = start(&runtime, &dir).await;
            call(&p, i as u64).await;
            ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let p50 = pct(&mut ms, 0.5);
        println!(r#"{{"mode":"cold","runtime":"{runtime}","runs":{runs},"p50_ms":{p50:.2}}}"#);
    } else {
        let callers: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
        let secs: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(5);
        let mut procs = Vec::new();
        for _ in 0..callers {
            procs.push(start(&runtime, &dir).await.0);
        }
        let pids: Vec<u32> = procs.iter().filter_map(|p| p._child.id()).collect();
        let cpu_before = (
            cpu_secs("self"),
            pids.iter().map(|p| cpu_secs(&p.to_string())).sum::<f64>(),
        );
        let stop = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for (i, p) in procs.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut n = i as u64;
                while Instant::now() < stop {
                    lat.push(call(&p, n).await.as_secs_f64() * 1000.0);
                    n += 1;
                }
                // Kept alive until its CPU time has been read.
                (lat, p)
            }));
        }
        let mut all = Vec::new();
        let mut done = Vec::new();
        for t in tasks {
            let (lat, p) = t.await.unwrap();
            all.extend(lat);
            done.push(p);
        }
        let count = all.len();
        let per_call = |before: f64, after: f64| (after - before) * 1e6 / count.max(1) as f64;
        let api_us = per_call(cpu_before.0, cpu_secs("self"));
        let runtime_us = per_call(cpu_before.1, pids.iter().map(|p| cpu_secs(&p.to_string())).sum());
        drop(done);
        let (p50, p99) = (pct(&mut all, 0.5), pct(&mut all, 0.99));
        println!(
            r#"{{"mode":"warm","runtime":"{runtime}","rps":{:.0},"p50":{p50:.3},"p99":{p99:.3},"requests":{count},"api_cpu_us":{api_us:.0},"runtime_cpu_us":{runtime_us:.0}}}"#,
            count as f64 / secs as f64
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
