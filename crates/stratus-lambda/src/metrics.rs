//! Function metrics and what they cost.
//!
//! Each invocation is counted in memory and the counts are merged into the store once a
//! second, one record per function, version and hour (`lambda:metrics`,
//! `ACCOUNT/REGION/NAME/VERSION/HOUR_MS`), so that the hot path never waits for a write and
//! several nodes add up. Durations are kept as a histogram with 2 % wide buckets, enough for
//! p50/p99 without keeping every sample. Billing follows AWS: duration rounded up to the
//! millisecond (the init phase included, as AWS bills it since August 2025) times the
//! configured memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use stratus_core::LambdaPrices;
use stratus_store::{Scan, Store, Txn};

use crate::LambdaError;

pub const NS: &str = "lambda:metrics";
const HOUR_MS: i64 = 3_600_000;
/// Bucket `i` holds durations up to `FIRST * GROWTH^i` ms.
const FIRST_MS: f64 = 0.01;
const GROWTH: f64 = 1.02;

/// Counts for one function version over some period. Merging two is adding them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Stats {
    pub invocations: u64,
    pub errors: u64,
    pub throttles: u64,
    pub dead_letter_errors: u64,
    pub destination_delivery_failures: u64,
    pub async_events_received: u64,
    pub async_events_dropped: u64,
    pub async_event_age_max_ms: i64,
    pub cold_starts: u64,
    pub duration_ms_sum: f64,
    pub duration_ms_max: f64,
    /// Histogram of durations: bucket → count.
    pub durations: BTreeMap<u32, u64>,
    pub concurrent_executions_max: u32,
    pub provisioned_invocations: u64,
    pub provisioned_utilization_max: f64,
    /// Billed milliseconds × MB of on-demand invocations.
    pub billed_mb_ms: u64,
    /// Billed milliseconds × MB of invocations served by provisioned instances.
    pub provisioned_billed_mb_ms: u64,
    /// Milliseconds × MB that provisioned instances were kept initialized.
    pub provisioned_mb_ms: u64,
}

impl Stats {
    fn merge(&mut self, o: &Stats) {
        self.invocations += o.invocations;
        self.errors += o.errors;
        self.throttles += o.throttles;
        self.dead_letter_errors += o.dead_letter_errors;
        self.destination_delivery_failures += o.destination_delivery_failures;
        self.async_events_received += o.async_events_received;
        self.async_events_dropped += o.async_events_dropped;
        self.async_event_age_max_ms = self.async_event_age_max_ms.max(o.async_event_age_max_ms);
        self.cold_starts += o.cold_starts;
        self.duration_ms_sum += o.duration_ms_sum;
        self.duration_ms_max = self.duration_ms_max.max(o.duration_ms_max);
        for (b, n) in &o.durations {
            *self.durations.entry(*b).or_default() += n;
        }
        self.concurrent_executions_max = self.concurrent_executions_max.max(o.concurrent_executions_max);
        self.provisioned_invocations += o.provisioned_invocations;
        self.provisioned_utilization_max = self
            .provisioned_utilization_max
            .max(o.provisioned_utilization_max);
        self.billed_mb_ms += o.billed_mb_ms;
        self.provisioned_billed_mb_ms += o.provisioned_billed_mb_ms;
        self.provisioned_mb_ms += o.provisioned_mb_ms;
    }

    /// The duration under which a share `q` of the invocations finished.
    fn percentile(&self, q: f64) -> f64 {
        let total: u64 = self.durations.values().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, n) in &self.durations {
            seen += n;
            if seen >= rank {
                return (FIRST_MS * GROWTH.powi(*b as i32)).min(self.duration_ms_max);
            }
        }
        self.duration_ms_max
    }

    /// The JSON a user reads: CloudWatch's metric names.
    fn to_json(&self) -> serde_json::Value {
        let avg = if self.invocations == 0 {
            0.0
        } else {
            self.duration_ms_sum / self.invocations as f64
        };
        serde_json::json!({
            "Invocations": self.invocations,
            "Errors": self.errors,
            "Throttles": self.throttles,
            "DeadLetterErrors": self.dead_letter_errors,
            "DestinationDeliveryFailures": self.destination_delivery_failures,
            "AsyncEventsReceived": self.async_events_received,
            "AsyncEventsDropped": self.async_events_dropped,
            "AsyncEventAgeMax": self.async_event_age_max_ms,
            "ColdStarts": self.cold_starts,
            "Duration": {
                "Average": round2(avg),
                "p50": round2(self.percentile(0.5)),
                "p99": round2(self.percentile(0.99)),
                "Maximum": round2(self.duration_ms_max),
            },
            "ConcurrentExecutions": self.concurrent_executions_max,
            "ProvisionedConcurrencyInvocations": self.provisioned_invocations,
            "ProvisionedConcurrencyUtilization": round2(self.provisioned_utilization_max),
            "GBSeconds": gb_seconds(self.billed_mb_ms + self.provisioned_billed_mb_ms),
            "ProvisionedGBSeconds": gb_seconds(self.provisioned_mb_ms),
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn gb_seconds(mb_ms: u64) -> f64 {
    mb_ms as f64 / 1024.0 / 1000.0
}

fn bucket(ms: f64) -> u32 {
    if ms <= FIRST_MS {
        return 0;
    }
    ((ms / FIRST_MS).ln() / GROWTH.ln()).ceil() as u32
}

/// What one finished invocation adds.
pub struct Invocation<'a> {
    pub function: &'a str,
    pub version: &'a str,
    pub memory_mb: u32,
    pub duration_ms: f64,
    pub init_ms: Option<f64>,
    pub error: bool,
    pub provisioned: bool,
    /// Running invocations of the function when this one started.
    pub concurrent: u32,
    /// Busy share of the provisioned instances when this one started.
    pub provisioned_utilization: Option<f64>,
}

/// Billed duration as the REPORT line prints it: whole ms, init included, at least 1.
pub fn billed_ms(duration_ms: f64, init_ms: Option<f64>) -> u64 {
    (duration_ms + init_ms.unwrap_or(0.0)).ceil().max(1.0) as u64
}

/// `(account, region, function, version)`.
type Key = (String, String, String, String);

/// Counts not yet merged into the store.
#[derive(Default)]
pub struct Metrics {
    pending: Mutex<HashMap<Key, Stats>>,
    /// A flush holds it while its counts are neither pending nor written yet; a read holds it
    /// shared, so that it never sees counts in that state (they would be missing from it).
    flushing: tokio::sync::RwLock<()>,
}

impl Metrics {
    fn add(&self, account: &str, region: &str, function: &str, version: &str, f: impl FnOnce(&mut Stats)) {
        let mut pending = self.pending.lock().unwrap();
        let key = (
            account.to_string(),
            region.to_string(),
            function.to_string(),
            version.to_string(),
        );
        f(pending.entry(key).or_default());
    }

    /// Drops the counts not yet written (the store was wiped).
    pub fn forget(&self) {
        self.pending.lock().unwrap().clear();
    }

    pub fn invoked(&self, account: &str, region: &str, i: &Invocation<'_>) {
        let billed = billed_ms(i.duration_ms, i.init_ms) * i.memory_mb as u64;
        self.add(account, region, i.function, i.version, |s| {
            s.invocations += 1;
            s.errors += i.error as u64;
            s.cold_starts += i.init_ms.is_some() as u64;
            s.duration_ms_sum += i.duration_ms;
            s.duration_ms_max = s.duration_ms_max.max(i.duration_ms);
            *s.durations.entry(bucket(i.duration_ms)).or_default() += 1;
            s.concurrent_executions_max = s.concurrent_executions_max.max(i.concurrent);
            if i.provisioned {
                s.provisioned_invocations += 1;
                s.provisioned_billed_mb_ms += billed;
            } else {
                s.billed_mb_ms += billed;
            }
            if let Some(u) = i.provisioned_utilization {
                s.provisioned_utilization_max = s.provisioned_utilization_max.max(u);
            }
        });
    }

    pub fn throttled(&self, account: &str, region: &str, function: &str, version: &str) {
        self.add(account, region, function, version, |s| s.throttles += 1);
    }

    pub fn async_received(&self, account: &str, region: &str, function: &str, version: &str) {
        self.add(account, region, function, version, |s| {
            s.async_events_received += 1
        });
    }

    pub fn async_age(&self, account: &str, region: &str, function: &str, version: &str, age_ms: i64) {
        self.add(account, region, function, version, |s| {
            s.async_event_age_max_ms = s.async_event_age_max_ms.max(age_ms)
        });
    }

    pub fn async_dropped(&self, account: &str, region: &str, function: &str, version: &str) {
        self.add(account, region, function, version, |s| {
            s.async_events_dropped += 1
        });
    }

    pub fn dead_letter_error(&self, account: &str, region: &str, function: &str, version: &str) {
        self.add(account, region, function, version, |s| s.dead_letter_errors += 1);
    }

    pub fn destination_failure(&self, account: &str, region: &str, function: &str, version: &str) {
        self.add(account, region, function, version, |s| {
            s.destination_delivery_failures += 1
        });
    }

    pub fn provisioned_time(&self, account: &str, region: &str, function: &str, version: &str, mb_ms: u64) {
        if mb_ms > 0 {
            self.add(account, region, function, version, |s| {
                s.provisioned_mb_ms += mb_ms
            });
        }
    }

    /// Merges what accumulated into the store, in the hour `now_ms` falls in. Counts that
    /// cannot be written stay pending for the next round.
    pub async fn flush(&self, store: &Store, now_ms: i64) {
        let _flushing = self.flushing.write().await;
        let batch: Vec<(Key, Stats)> = self.pending.lock().unwrap().drain().collect();
        let hour = now_ms.div_euclid(HOUR_MS) * HOUR_MS;
        for ((account, region, function, version), stats) in batch {
            let key = format!("{account}/{region}/{function}/{version}/{hour:013}");
            if let Err(e) = merge_into(store, &key, &stats).await {
                tracing::warn!(error = %e, function, "could not write function metrics");
                let mut pending = self.pending.lock().unwrap();
                pending
                    .entry((account, region, function, version))
                    .or_default()
                    .merge(&stats);
            }
        }
    }

    /// Everything recorded for an account, by function, version and hour, unflushed counts
    /// included.
    async fn read(
        &self,
        store: &Store,
        account: &str,
        region: &str,
        function: Option<&str>,
    ) -> Result<Vec<((String, String, i64), Stats)>, LambdaError> {
        let prefix = match function {
            Some(f) => format!("{account}/{region}/{f}/"),
            None => format!("{account}/{region}/"),
        };
        let mut out: BTreeMap<(String, String, i64), Stats> = BTreeMap::new();
        let _flushing = self.flushing.read().await;
        for (k, v) in store.scan(NS, &Scan::prefix(prefix.as_bytes())).await? {
            let k = String::from_utf8_lossy(&k).into_owned();
            let parts: Vec<&str> = k.split('/').collect();
            let [_, _, name, version, hour] = parts.as_slice() else {
                continue;
            };
            let Ok(stats) = serde_json::from_slice::<Stats>(&v) else {
                continue;
            };
            out.entry((name.to_string(), version.to_string(), hour.parse().unwrap_or(0)))
                .or_default()
                .merge(&stats);
        }
        let pending = self.pending.lock().unwrap();
        for ((a, r, name, version), stats) in pending.iter() {
            if a == account && r == region && function.is_none_or(|f| f == name) {
                out.entry((name.clone(), version.clone(), i64::MAX))
                    .or_default()
                    .merge(stats);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The metrics JSON: per function, its totals and each version's.
    pub async fn report(
        &self,
        store: &Store,
        account: &str,
        region: &str,
        function: Option<&str>,
    ) -> Result<serde_json::Value, LambdaError> {
        let mut functions: BTreeMap<String, (Stats, BTreeMap<String, Stats>)> = BTreeMap::new();
        for ((name, version, _), stats) in self.read(store, account, region, function).await? {
            let entry = functions.entry(name).or_default();
            entry.0.merge(&stats);
            entry.1.entry(version).or_default().merge(&stats);
        }
        let list: Vec<serde_json::Value> = functions
            .into_iter()
            .map(|(name, (total, versions))| {
                let mut v = total.to_json();
                v["FunctionName"] = name.into();
                v["Versions"] = versions
                    .into_iter()
                    .map(|(ver, s)| (ver, s.to_json()))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
                v
            })
            .collect();
        Ok(serde_json::json!({ "Functions": list }))
    }

    /// What the recorded usage costs under `prices`: per function before the free tier, and
    /// the account total with the monthly free tier taken off each calendar month.
    pub async fn cost(
        &self,
        store: &Store,
        account: &str,
        region: &str,
        prices: &LambdaPrices,
        now_ms: i64,
    ) -> Result<serde_json::Value, LambdaError> {
        let mut functions: BTreeMap<String, Stats> = BTreeMap::new();
        let mut months: BTreeMap<(i32, u8), Stats> = BTreeMap::new();
        for ((name, _, hour), stats) in self.read(store, account, region, None).await? {
            functions.entry(name).or_default().merge(&stats);
            let at = if hour == i64::MAX { now_ms } else { hour };
            let date = time::OffsetDateTime::from_unix_timestamp(at / 1000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            months
                .entry((date.year(), u8::from(date.month())))
                .or_default()
                .merge(&stats);
        }
        let charge = |s: &Stats| Charge::of(s, prices);
        let rows: Vec<serde_json::Value> = functions
            .iter()
            .map(|(name, s)| {
                let c = charge(s);
                serde_json::json!({
                    "FunctionName": name,
                    "Requests": s.invocations,
                    "GBSeconds": gb_seconds(s.billed_mb_ms),
                    "ProvisionedGBSeconds": gb_seconds(s.provisioned_mb_ms),
                    "ProvisionedDurationGBSeconds": gb_seconds(s.provisioned_billed_mb_ms),
                    "RequestCost": c.requests,
                    "DurationCost": c.duration,
                    "ProvisionedCost": c.provisioned,
                    "Cost": c.total(),
                })
            })
            .collect();
        let mut gross = 0.0;
        let mut credit = 0.0;
        for s in months.values() {
            let c = charge(s);
            gross += c.total();
            let free_requests = (s.invocations as f64).min(prices.free_requests as f64);
            let free_gbs = gb_seconds(s.billed_mb_ms).min(prices.free_gb_seconds);
            credit += free_requests / 1e6 * prices.per_million_requests + free_gbs * prices.per_gb_second;
        }
        Ok(serde_json::json!({
            "Currency": "USD",
            "Prices": prices,
            "Functions": rows,
            "Total": {
                "Requests": functions.values().map(|s| s.invocations).sum::<u64>(),
                "GBSeconds": gb_seconds(functions.values().map(|s| s.billed_mb_ms).sum()),
                "Cost": gross,
                "FreeTier": credit,
                "Due": (gross - credit).max(0.0),
            },
        }))
    }
}

struct Charge {
    requests: f64,
    duration: f64,
    provisioned: f64,
}

impl Charge {
    fn of(s: &Stats, p: &LambdaPrices) -> Charge {
        Charge {
            requests: s.invocations as f64 / 1e6 * p.per_million_requests,
            duration: gb_seconds(s.billed_mb_ms) * p.per_gb_second,
            provisioned: gb_seconds(s.provisioned_mb_ms) * p.provisioned_per_gb_second
                + gb_seconds(s.provisioned_billed_mb_ms) * p.provisioned_duration_per_gb_second,
        }
    }

    fn total(&self) -> f64 {
        self.requests + self.duration + self.provisioned
    }
}

/// Adds `stats` to the record at `key`, retrying when another node wrote it meanwhile.
async fn merge_into(store: &Store, key: &str, stats: &Stats) -> Result<(), stratus_store::StoreError> {
    loop {
        let current = store.get(NS, key.as_bytes()).await?;
        let mut merged = current
            .as_deref()
            .and_then(|raw| serde_json::from_slice::<Stats>(raw).ok())
            .unwrap_or_default();
        merged.merge(stats);
        let value = serde_json::to_vec(&merged).expect("stats serialize");
        let txn = match &current {
            Some(raw) => Txn::new().equals(NS, key.as_bytes().to_vec(), raw.clone()),
            None => Txn::new().absent(NS, key.as_bytes().to_vec()),
        }
        .put(NS, key.as_bytes().to_vec(), value);
        match store.commit(txn).await {
            Ok(()) => return Ok(()),
            Err(stratus_store::StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut s = Stats::default();
        for ms in 1..=100 {
            let ms = ms as f64;
            s.invocations += 1;
            s.duration_ms_max = s.duration_ms_max.max(ms);
            *s.durations.entry(bucket(ms)).or_default() += 1;
        }
        let p50 = s.percentile(0.5);
        assert!((49.0..=52.0).contains(&p50), "{p50}");
        let p99 = s.percentile(0.99);
        assert!((98.0..=100.0).contains(&p99), "{p99}");
        assert_eq!(s.percentile(1.0), 100.0);
    }

    #[test]
    fn billed_duration_rounds_up_and_includes_init() {
        assert_eq!(billed_ms(2.1, Some(100.5)), 103);
        assert_eq!(billed_ms(0.2, None), 1);
    }
}
