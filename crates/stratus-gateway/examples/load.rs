//! A SigV4-signing load generator for the benchmarks: every request is freshly signed and has
//! its own random key, over persistent HTTP/1.1 connections.
//!
//! `cargo run --release -p stratus-gateway --example load -- URL WORKLOAD CONNS SECS`
//! Workloads: describe_table, get_caller_identity, put_item, get_item, query, batch_write,
//! invoke, s3_put, s3_get, s3_get_1m, file_1m, apigw_mock, apigw_echo, apigw_crud (API id in
//! `BENCH_API`).
//! Prints one JSON line: requests/s, p50/p99 latency (ms), errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use rand::Rng;
use stratus_protocol::sigv4;

struct Work {
    method: Method,
    service: &'static str,
    path: String,
    /// One extra signed header (`x-amz-target`, `x-amz-invocation-type`...).
    header: Option<(&'static str, String)>,
    content_type: &'static str,
    body: Vec<u8>,
}

fn key(rng: &mut impl Rng) -> String {
    (0..16)
        .map(|_| (b'a' + rng.random_range(0..26)) as char)
        .collect()
}

fn bench_api() -> String {
    std::env::var("BENCH_API").unwrap_or_default()
}

fn make(workload: &str, rng: &mut impl Rng) -> Work {
    let ddb = |op: &str, body: String| Work {
        method: Method::POST,
        service: "dynamodb",
        path: "/".into(),
        header: Some(("x-amz-target", format!("DynamoDB_20120810.{op}"))),
        content_type: "application/x-amz-json-1.0",
        body: body.into_bytes(),
    };
    let pad = "x".repeat(150);
    match workload {
        "describe_table" => ddb("DescribeTable", r#"{"TableName":"bench"}"#.into()),
        "get_caller_identity" => Work {
            method: Method::POST,
            service: "sts",
            path: "/".into(),
            header: None,
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            body: b"Action=GetCallerIdentity&Version=2011-06-15".to_vec(),
        },
        "put_item" => ddb(
            "PutItem",
            format!(
                r#"{{"TableName":"bench","Item":{{"pk":{{"S":"{}"}},"n":{{"N":"{}"}},"pad":{{"S":"{pad}"}}}}}}"#,
                key(rng),
                rng.random_range(0..1_000_000)
            ),
        ),
        "get_item" => ddb(
            "GetItem",
            format!(
                r#"{{"TableName":"bench","Key":{{"pk":{{"S":"seed{}"}}}}}}"#,
                rng.random_range(0..1000)
            ),
        ),
        "query" => {
            let a = rng.random_range(0..975);
            ddb(
                "Query",
                format!(
                    r#"{{"TableName":"benchq","KeyConditionExpression":"pk = :p AND sk BETWEEN :a AND :b","ExpressionAttributeValues":{{":p":{{"S":"part"}},":a":{{"N":"{a}"}},":b":{{"N":"{}"}}}}}}"#,
                    a + 24
                ),
            )
        }
        "batch_write" => {
            let reqs: Vec<String> = (0..25)
                .map(|_| {
                    format!(
                        r#"{{"PutRequest":{{"Item":{{"pk":{{"S":"{}"}},"pad":{{"S":"{pad}"}}}}}}}}"#,
                        key(rng)
                    )
                })
                .collect();
            ddb(
                "BatchWriteItem",
                format!(r#"{{"RequestItems":{{"bench":[{}]}}}}"#, reqs.join(",")),
            )
        }
        "fill_q" => {
            // Bulk load for the scale benchmark: other partitions of the Query table.
            let reqs: Vec<String> = (0..25)
                .map(|_| {
                    format!(
                        r#"{{"PutRequest":{{"Item":{{"pk":{{"S":"{}"}},"sk":{{"N":"{}"}},"pad":{{"S":"{pad}"}}}}}}}}"#,
                        key(rng),
                        rng.random_range(0..1_000_000)
                    )
                })
                .collect();
            ddb(
                "BatchWriteItem",
                format!(r#"{{"RequestItems":{{"benchq":[{}]}}}}"#, reqs.join(",")),
            )
        }
        "invoke" => Work {
            // Warm synchronous invocations of the Python echo function `bench-echo`.
            method: Method::POST,
            service: "lambda",
            path: "/2015-03-31/functions/bench-echo/invocations".into(),
            header: None,
            content_type: "application/json",
            body: format!(r#"{{"n":{}}}"#, rng.random_range(0..1_000_000)).into_bytes(),
        },
        "invoke_event" => Work {
            // Asynchronous invocations of the same function: queued durably, answered 202.
            method: Method::POST,
            service: "lambda",
            path: "/2015-03-31/functions/bench-echo/invocations".into(),
            header: Some(("x-amz-invocation-type", "Event".into())),
            content_type: "application/json",
            body: format!(r#"{{"n":{}}}"#, rng.random_range(0..1_000_000)).into_bytes(),
        },
        // S3 (bucket `bench`): 1 KiB PUTs under new keys, GETs of seeded 1 KiB objects and of
        // a 1 MiB object; `file_1m` is the same GET for a plain file server.
        "s3_put" => Work {
            method: Method::PUT,
            service: "s3",
            path: format!("/bench/{}", key(rng)),
            header: None,
            content_type: "application/octet-stream",
            body: vec![b'x'; 1024],
        },
        "s3_get" => Work {
            method: Method::GET,
            service: "s3",
            path: format!("/bench/seed{}", rng.random_range(0..1000)),
            header: None,
            content_type: "application/octet-stream",
            body: Vec::new(),
        },
        "s3_get_1m" | "file_1m" => Work {
            method: Method::GET,
            service: "s3",
            path: if workload == "file_1m" {
                "/big".into()
            } else {
                "/bench/big".into()
            },
            header: None,
            content_type: "application/octet-stream",
            body: Vec::new(),
        },
        // API Gateway (API id in BENCH_API, path form of the invoke URL): a REST API's MOCK
        // method, an HTTP API in front of `bench-echo`, and the CRUD path (PUT then GET of
        // items through an HTTP API whose function writes DynamoDB).
        "apigw_mock" => Work {
            method: Method::GET,
            service: "execute-api",
            path: format!("/_aws/execute-api/{}/prod/mock", bench_api()),
            header: None,
            content_type: "application/json",
            body: Vec::new(),
        },
        "apigw_echo" => Work {
            method: Method::POST,
            service: "execute-api",
            path: format!("/_aws/execute-api/{}/$default/echo", bench_api()),
            header: None,
            content_type: "application/json",
            body: format!(r#"{{"n":{}}}"#, rng.random_range(0..1_000_000)).into_bytes(),
        },
        "apigw_crud" => {
            let id = rng.random_range(0..1000);
            if rng.random_bool(0.5) {
                Work {
                    method: Method::PUT,
                    service: "execute-api",
                    path: format!("/_aws/execute-api/{}/$default/items/{id}", bench_api()),
                    header: None,
                    content_type: "application/json",
                    body: format!(r#"{{"name":"item {id}","pad":"{pad}"}}"#).into_bytes(),
                }
            } else {
                Work {
                    method: Method::GET,
                    service: "execute-api",
                    path: format!("/_aws/execute-api/{}/$default/items/{id}", bench_api()),
                    header: None,
                    content_type: "application/json",
                    body: Vec::new(),
                }
            }
        }
        other => panic!("unknown workload {other}"),
    }
}

fn request(host: &str, w: Work) -> Request<Full<Bytes>> {
    let mut headers = HeaderMap::new();
    headers.insert("host", host.parse().unwrap());
    headers.insert("content-type", w.content_type.parse().unwrap());
    if let Some((name, value)) = &w.header {
        headers.insert(*name, value.parse().unwrap());
    }
    if w.service == "s3" {
        headers.insert(
            "x-amz-content-sha256",
            sigv4::sha256_hex(&w.body).parse().unwrap(),
        );
    }
    sigv4::sign_headers(
        w.method.as_str(),
        &w.path,
        None,
        &mut headers,
        &w.body,
        "test",
        "test",
        "us-east-1",
        w.service,
        SystemTime::now(),
    );
    let mut req = Request::builder()
        .method(w.method.clone())
        .uri(w.path.as_str())
        .body(Full::new(Bytes::from(w.body)))
        .unwrap();
    *req.headers_mut() = headers;
    req
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:4566".into());
    let workload = args.get(2).cloned().unwrap_or_else(|| "describe_table".into());
    let conns: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let secs: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..conns {
        let (host, workload, stop) = (host.clone(), workload.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let connect = |host: String| async move {
                let stream = tokio::net::TcpStream::connect(&host).await.ok()?;
                stream.set_nodelay(true).ok();
                let (send, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .ok()?;
                tokio::spawn(conn);
                Some(send)
            };
            let mut send = connect(host.clone()).await;
            let mut lat = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
            while !stop.load(Ordering::Relaxed) {
                // Servers that close connections after each answer get a new one.
                if send.as_ref().is_none_or(|s| s.is_closed()) {
                    send = connect(host.clone()).await;
                    if send.is_none() {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                }
                let sender = send.as_mut().expect("connected");
                if sender.ready().await.is_err() {
                    send = None;
                    continue;
                }
                let req = request(&host, make(&workload, &mut rng));
                let t = Instant::now();
                match sender.send_request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        if !ok {
                            errors += 1;
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        send = None;
                        continue;
                    }
                }
                lat.push(t.elapsed().as_micros() as u32);
            }
            (lat, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.unwrap();
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "{{\"workload\":\"{workload}\",\"rps\":{:.0},\"p50\":{:.3},\"p99\":{:.3},\"errors\":{errors},\"requests\":{}}}",
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.len()
    );
}
