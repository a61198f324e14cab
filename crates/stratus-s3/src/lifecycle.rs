//! Lifecycle rules applied in the background on the server clock: current objects expire
//! (becoming delete markers in versioned buckets), noncurrent versions are removed, and stale
//! multipart uploads are aborted. One node of a cluster sweeps at a time (a store lease).

use std::time::Duration;

use s3s::dto::*;
use stratus_store::Scan;

use crate::backend::Backend;
use crate::model::{
    BUCKETS, BucketRecord, OBJECTS, ObjectRecord, PARTS, PartRecord, UPLOADS, UploadRecord, VERSIONS,
    decode_object_key, object_prefix, part_prefix,
};

const DAY_MS: i64 = 86_400_000;
/// How often the rules are applied.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
const LEASE: &str = "s3:lifecycle";

/// Why lifecycle removals happen, for event notifications.
fn expired() -> crate::notify::Cause {
    crate::notify::Cause {
        event: "LifecycleExpiration:Delete",
        principal: "s3.amazonaws.com".into(),
        request_id: String::new(),
    }
}

/// When an object made at `made_ms` expires after `days`: S3 rounds up to the next midnight UTC.
fn expiry(made_ms: i64, days: i32) -> i64 {
    let t = made_ms + days as i64 * DAY_MS;
    (t + DAY_MS - 1).div_euclid(DAY_MS) * DAY_MS
}

/// What a rule's filter selects.
struct Filter {
    prefix: String,
    tags: Vec<(String, String)>,
    larger_than: Option<i64>,
    smaller_than: Option<i64>,
}

impl Filter {
    fn of(rule: &LifecycleRule) -> Filter {
        let mut f = Filter {
            prefix: rule.prefix.clone().unwrap_or_default(),
            tags: Vec::new(),
            larger_than: None,
            smaller_than: None,
        };
        if let Some(filter) = &rule.filter {
            if let Some(p) = &filter.prefix {
                f.prefix = p.clone();
            }
            if let Some(t) = &filter.tag {
                f.tags.push((
                    t.key.clone().unwrap_or_default(),
                    t.value.clone().unwrap_or_default(),
                ));
            }
            f.larger_than = filter.object_size_greater_than;
            f.smaller_than = filter.object_size_less_than;
            if let Some(and) = &filter.and {
                if let Some(p) = &and.prefix {
                    f.prefix = p.clone();
                }
                for t in and.tags.iter().flatten() {
                    f.tags.push((
                        t.key.clone().unwrap_or_default(),
                        t.value.clone().unwrap_or_default(),
                    ));
                }
                f.larger_than = and.object_size_greater_than.or(f.larger_than);
                f.smaller_than = and.object_size_less_than.or(f.smaller_than);
            }
        }
        f
    }

    fn selects(&self, rec: &ObjectRecord) -> bool {
        self.tags.iter().all(|t| rec.tags.contains(t))
            && self.larger_than.is_none_or(|n| rec.size as i64 > n)
            && self.smaller_than.is_none_or(|n| (rec.size as i64) < n)
    }
}

impl Backend {
    /// Applies lifecycle rules forever (spawned at startup).
    pub async fn lifecycle_loop(self) {
        let holder = uuid::Uuid::new_v4().to_string();
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let now = self.clock.now_ms();
            match self.store.acquire_lease(LEASE, &holder, now, 30_000).await {
                Ok(true) => {}
                _ => continue,
            }
            if let Err(e) = self.sweep(self.clock.now_ms()).await {
                tracing::warn!(error = ?e, "lifecycle sweep failed");
            }
        }
    }

    async fn sweep(&self, now: i64) -> s3s::S3Result<()> {
        let buckets = self
            .store
            .scan(BUCKETS, &Scan::all())
            .await
            .map_err(crate::body::internal)?;
        for (_, raw) in buckets {
            let Ok(bucket) = serde_json::from_slice::<BucketRecord>(&raw) else {
                continue;
            };
            let Some(config) = bucket
                .configs
                .get("lifecycle")
                .and_then(|v| serde_json::from_value::<BucketLifecycleConfiguration>(v.clone()).ok())
            else {
                continue;
            };
            for rule in config.rules.iter().filter(|r| r.status.as_str() == "Enabled") {
                self.apply(&bucket, rule, now).await?;
            }
        }
        Ok(())
    }

    async fn apply(&self, bucket: &BucketRecord, rule: &LifecycleRule, now: i64) -> s3s::S3Result<()> {
        let filter = Filter::of(rule);
        let prefix = object_prefix(&bucket.name, &filter.prefix);
        let internal = crate::body::internal;
        if let Some(exp) = &rule.expiration {
            let due = |rec: &ObjectRecord| match (exp.days, &exp.date) {
                (Some(d), _) => now >= expiry(rec.last_modified_ms, d),
                (None, Some(date)) => now >= time::OffsetDateTime::from(date.clone()).unix_timestamp() * 1000,
                _ => false,
            };
            let rows = self
                .store
                .scan(OBJECTS, &Scan::prefix(&prefix))
                .await
                .map_err(internal)?;
            for (k, v) in rows {
                let (Some(key), Some(rec)) = (decode_object_key(&k), ObjectRecord::decode(&v)) else {
                    continue;
                };
                if !rec.delete_marker && filter.selects(&rec) && due(&rec) {
                    self.delete_one(bucket, &key, None, Some(&expired())).await?;
                }
            }
        }
        if let Some(days) = rule
            .noncurrent_version_expiration
            .as_ref()
            .and_then(|n| n.noncurrent_days)
            && bucket.versioned()
        {
            let rows = self
                .store
                .scan(VERSIONS, &Scan::prefix(&prefix))
                .await
                .map_err(internal)?;
            // Versions come newest first per key: each became noncurrent when the one before
            // it was written.
            let mut newer: Option<(String, i64)> = None;
            for (k, v) in rows {
                let (Some(key), Some(rec)) = (decode_object_key(&k), ObjectRecord::decode(&v)) else {
                    continue;
                };
                let since = match &newer {
                    Some((nk, made)) if *nk == key => Some(*made),
                    _ => None,
                };
                newer = Some((key.clone(), rec.last_modified_ms));
                if let Some(since) = since
                    && now >= expiry(since, days)
                {
                    self.delete_one(bucket, &key, Some(&rec.version_label()), Some(&expired()))
                        .await?;
                }
            }
        }
        if let Some(days) = rule
            .abort_incomplete_multipart_upload
            .as_ref()
            .and_then(|a| a.days_after_initiation)
        {
            let rows = self
                .store
                .scan(UPLOADS, &Scan::prefix(&prefix))
                .await
                .map_err(internal)?;
            for (k, v) in rows {
                let Ok(upload) = serde_json::from_slice::<UploadRecord>(&v) else {
                    continue;
                };
                if now < expiry(upload.initiated_ms, days) {
                    continue;
                }
                let parts = self
                    .store
                    .scan(PARTS, &Scan::prefix(&part_prefix(&upload.upload_id)))
                    .await
                    .map_err(internal)?;
                let txn = stratus_store::Txn::new()
                    .equals(UPLOADS, k.clone(), v.clone())
                    .delete(UPLOADS, k)
                    .delete_prefix(PARTS, part_prefix(&upload.upload_id));
                if self.store.commit(txn).await.is_ok() {
                    let blobs = parts
                        .into_iter()
                        .filter_map(|(_, p)| serde_json::from_slice::<PartRecord>(&p).ok().map(|p| p.blob));
                    crate::body::release(&self.blobs, blobs).await;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rounds_up_to_midnight_utc() {
        // 2026-01-01T10:00Z + 1 day → 2026-01-03T00:00Z.
        let made = 1_767_261_600_000;
        assert_eq!(expiry(made, 1), 1_767_398_400_000);
        // Exactly midnight stays.
        assert_eq!(expiry(1_767_225_600_000, 1), 1_767_312_000_000);
    }
}
