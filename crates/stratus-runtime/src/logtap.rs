//! An instance's output: one pipe shared by stdout and stderr, split into timestamped lines.
//! [`LogTap::drain`] returns everything written so far: bytes the runtime wrote before it
//! answered are in the pipe by then, and the reader only acknowledges a drain once the pipe
//! has nothing more to give.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

/// Longest line kept (AWS truncates log events at 256 KB).
const MAX_LINE: usize = 256 * 1024;

type Lines = Arc<Mutex<Vec<(i64, String)>>>;

pub struct LogTap {
    lines: Lines,
    drain_tx: mpsc::Sender<oneshot::Sender<()>>,
}

impl LogTap {
    pub fn start(reader: std::io::PipeReader) -> std::io::Result<LogTap> {
        let fd = std::os::fd::OwnedFd::from(reader);
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?;
        let lines: Lines = Arc::default();
        let (drain_tx, mut drain_rx) = mpsc::channel::<oneshot::Sender<()>>(4);
        let out = lines.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            let mut partial: Vec<u8> = Vec::new();
            loop {
                tokio::select! {
                    biased;
                    n = pipe.read(&mut buf) => match n {
                        Ok(0) | Err(_) => {
                            flush(&out, &mut partial);
                            // Answer drains until the instance is dropped.
                            while let Some(ack) = drain_rx.recv().await {
                                let _ = ack.send(());
                            }
                            return;
                        }
                        Ok(n) => {
                            partial.extend_from_slice(&buf[..n]);
                            split(&out, &mut partial);
                        }
                    },
                    ack = drain_rx.recv() => match ack {
                        Some(ack) => {
                            flush(&out, &mut partial);
                            let _ = ack.send(());
                        }
                        None => return,
                    },
                }
            }
        });
        Ok(LogTap { lines, drain_tx })
    }

    /// Everything written since the last drain.
    pub async fn drain(&self) -> Vec<(i64, String)> {
        let (tx, rx) = oneshot::channel();
        if self.drain_tx.send(tx).await.is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), rx).await;
        }
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn split(out: &Lines, partial: &mut Vec<u8>) {
    while let Some(pos) = partial.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = partial.drain(..=pos).collect();
        push(out, &line[..line.len() - 1]);
    }
    if partial.len() > MAX_LINE {
        let line: Vec<u8> = std::mem::take(partial);
        push(out, &line);
    }
}

fn flush(out: &Lines, partial: &mut Vec<u8>) {
    if !partial.is_empty() {
        let line = std::mem::take(partial);
        push(out, &line);
    }
}

fn push(out: &Lines, line: &[u8]) {
    let mut text = String::from_utf8_lossy(line).into_owned();
    if text.ends_with('\r') {
        text.pop();
    }
    text.truncate(MAX_LINE);
    out.lock().unwrap().push((now_ms(), text));
}
