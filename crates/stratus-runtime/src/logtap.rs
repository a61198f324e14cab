//! An instance's output: one pipe shared by stdout and stderr, split into timestamped lines.
//! A background task reads the pipe as output arrives, so that a chatty function never blocks
//! on a full pipe; [`LogTap::drain`] reads whatever is still in the pipe itself, under the same
//! lock, and returns everything written so far: bytes the runtime wrote before it answered are
//! in the pipe by then. Draining costs no task switch.

use std::io::ErrorKind;
use std::sync::{Arc, Mutex};

use tokio::net::unix::pipe::Receiver;

/// Longest line kept (AWS truncates log events at 256 KB).
const MAX_LINE: usize = 256 * 1024;

/// Most bytes read from the pipe in one go (a pipe holds 64 KiB unless enlarged, 1 MiB at most
/// for an unprivileged process).
const READ_BUDGET: usize = 1024 * 1024;

/// What has been read and not yet drained.
#[derive(Default)]
struct Tap {
    lines: Vec<(i64, String)>,
    partial: Vec<u8>,
    closed: bool,
}

impl Tap {
    /// Reads the pipe until it has nothing more to give now, or [`READ_BUDGET`] bytes (more
    /// than a pipe holds, so that a function writing without pause cannot keep a reader here
    /// for ever); false once it is closed.
    fn read_available(&mut self, pipe: &Receiver) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let mut budget = READ_BUDGET;
        while !self.closed && budget > 0 {
            budget = budget.saturating_sub(buf.len());
            match pipe.try_read(&mut buf) {
                Ok(0) => {
                    self.flush();
                    self.closed = true;
                }
                Ok(n) => {
                    self.partial.extend_from_slice(&buf[..n]);
                    self.split();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.flush();
                    self.closed = true;
                }
            }
        }
        !self.closed
    }

    fn split(&mut self) {
        while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            self.push(&line[..line.len() - 1]);
        }
        if self.partial.len() > MAX_LINE {
            let line = std::mem::take(&mut self.partial);
            self.push(&line);
        }
    }

    fn flush(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.push(&line);
        }
    }

    fn push(&mut self, line: &[u8]) {
        let mut text = String::from_utf8_lossy(line).into_owned();
        if text.ends_with('\r') {
            text.pop();
        }
        text.truncate(MAX_LINE);
        self.lines.push((now_ms(), text));
    }
}

pub struct LogTap {
    pipe: Arc<Receiver>,
    tap: Arc<Mutex<Tap>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for LogTap {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl LogTap {
    pub fn start(reader: std::io::PipeReader) -> std::io::Result<LogTap> {
        let fd = std::os::fd::OwnedFd::from(reader);
        let pipe = Arc::new(Receiver::from_owned_fd(fd)?);
        let tap: Arc<Mutex<Tap>> = Arc::default();
        let (p, t) = (pipe.clone(), tap.clone());
        let reader = tokio::spawn(async move {
            while p.readable().await.is_ok() {
                if !t.lock().unwrap().read_available(&p) {
                    return;
                }
                // A pipe that is still full gets its next turn after other tasks.
                tokio::task::yield_now().await;
            }
        });
        Ok(LogTap { pipe, tap, reader })
    }

    /// Everything written since the last drain.
    pub fn drain(&self) -> Vec<(i64, String)> {
        let mut tap = self.tap.lock().unwrap();
        tap.read_available(&self.pipe);
        tap.flush();
        std::mem::take(&mut tap.lines)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
