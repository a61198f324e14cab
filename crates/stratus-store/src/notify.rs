//! Wake-up signals: a waiter (long poll, stream consumer) sleeps until a commit names its topic.
//! Local commits wake local waiters directly; engines shared by several nodes forward remote
//! commits' topics into the same hub (PostgreSQL LISTEN/NOTIFY).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

#[derive(Clone, Default)]
pub struct Hub {
    topics: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

/// Resolves [`Watcher::changed`] after the next wake-up of its topic.
pub struct Watcher {
    rx: watch::Receiver<u64>,
}

impl Watcher {
    /// Waits for the next wake-up after this watcher was created (or last woke).
    pub async fn changed(&mut self) {
        // The sender lives in the hub for as long as the store does.
        let _ = self.rx.changed().await;
    }
}

impl Hub {
    pub fn watch(&self, topic: &str) -> Watcher {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        let tx = topics
            .entry(topic.to_string())
            .or_insert_with(|| watch::channel(0).0);
        let mut rx = tx.subscribe();
        rx.mark_unchanged();
        Watcher { rx }
    }

    pub fn wake(&self, topic: &str) {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = topics.get(topic) {
            if tx.receiver_count() == 0 {
                topics.remove(topic);
            } else {
                tx.send_modify(|n| *n += 1);
            }
        }
    }
}
