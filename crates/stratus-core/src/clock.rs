//! The one clock every time-dependent behaviour reads (TTL, schedules, visibility
//! timeouts, retries, credential expiry). In dev mode tests may move it forward
//! instead of waiting; signature checks deliberately use real time instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time plus an adjustable offset, shared by every service.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

fn real_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Milliseconds since the Unix epoch, as Stratus sees it.
    pub fn now_ms(&self) -> i64 {
        real_now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Seconds since the Unix epoch (fractional), as DynamoDB and friends print it.
    pub fn now_secs_f64(&self) -> f64 {
        self.now_ms() as f64 / 1000.0
    }

    /// Current offset from real time, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves the clock forward (or back) by `delta_ms`.
    pub fn advance_ms(&self, delta_ms: i64) {
        self.offset_ms.fetch_add(delta_ms, Ordering::Relaxed);
    }

    /// Sets the clock so that `now_ms()` reads `epoch_ms` at this instant.
    pub fn set_ms(&self, epoch_ms: i64) {
        self.offset_ms.store(epoch_ms - real_now_ms(), Ordering::Relaxed);
    }

    /// Returns the clock to real time.
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_set_move_now() {
        let c = Clock::new();
        let before = c.now_ms();
        c.advance_ms(3_600_000);
        assert!(c.now_ms() >= before + 3_600_000);
        c.set_ms(1_000);
        assert!(c.now_ms() < 10_000);
        c.reset();
        assert!(c.now_ms() >= before);
    }
}
