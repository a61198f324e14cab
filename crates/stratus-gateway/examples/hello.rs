//! The physical limit for benchmarks: a bare hyper server on the same stack as the gateway
//! (hyper-util auto builder, tokio, 2 workers) that answers every request with a fixed body.
//! Run: `cargo run --release -p stratus-gateway --example hello -- 127.0.0.1:4599`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:4599".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("hello listening on {addr}");
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|_req| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                    b"{\"hello\":\"world\"}",
                ))))
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
