//! Time to Live (UpdateTimeToLive, DescribeTimeToLive and the background deletion of expired
//! items) and point-in-time recovery settings (UpdateContinuousBackups,
//! DescribeContinuousBackups).
//!
//! Settings take effect at once: AWS reports ENABLING for up to an hour and refuses a second
//! change within it, which only slows down local loops that recreate tables.

use std::collections::HashMap;
use std::time::Duration;

use stratus_core::RequestContext;
use stratus_dynamodb_expr::AttributeValue;
use stratus_protocol::types::Timestamp;
use stratus_store::{Scan, StoreError, Txn};

use super::resolve_table_name;
use crate::generated::*;
use crate::items::{self, TableInfo};
use crate::state::{self, Recovery, TableRecord};
use crate::{DynamoDb, DynamoDbError};

/// How often expired items are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Items of one table looked at per sweep: a large table is gone through over several sweeps
/// (AWS itself deletes expired items "typically within two days").
const ITEMS_PER_SWEEP: usize = 5_000;
/// Items read from the store at once.
const PAGE: usize = 100;
/// Expiry times further back than this are not acted on (AWS's rule: such values are taken
/// for something other than an expiry time).
const FIVE_YEARS_SECS: f64 = 5.0 * 365.0 * 86_400.0;
const LEASE: &str = "dynamodb:ttl";

pub async fn update_time_to_live(
    db: &DynamoDb,
    cx: &RequestContext,
    input: UpdateTimeToLiveInput,
) -> Result<UpdateTimeToLiveOutput, DynamoDbError> {
    let name = resolve_table_name(cx, input.table_name.as_deref().unwrap_or_default())?;
    let spec = input.time_to_live_specification.unwrap_or_default();
    let (enable, attribute) = (
        spec.enabled.unwrap_or_default(),
        spec.attribute_name.clone().unwrap_or_default(),
    );
    state::update(&db.store, &db.tables, cx, name, |rec| {
        match (enable, &rec.ttl_attribute) {
            (true, Some(_)) => {
                return Err(DynamoDbError::Validation("TimeToLive is already enabled".into()));
            }
            (false, None) => {
                return Err(DynamoDbError::Validation("TimeToLive is already disabled".into()));
            }
            (false, Some(current)) if *current != attribute => {
                return Err(DynamoDbError::Validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
                )));
            }
            _ => {}
        }
        rec.ttl_attribute = enable.then(|| attribute.clone());
        Ok(())
    })
    .await?;
    Ok(UpdateTimeToLiveOutput {
        time_to_live_specification: Some(spec),
    })
}

pub async fn describe_time_to_live(
    db: &DynamoDb,
    cx: &RequestContext,
    input: DescribeTimeToLiveInput,
) -> Result<DescribeTimeToLiveOutput, DynamoDbError> {
    let name = resolve_table_name(cx, input.table_name.as_deref().unwrap_or_default())?;
    let (rec, _) = state::require(&db.store, &db.tables, cx, name).await?;
    Ok(DescribeTimeToLiveOutput {
        time_to_live_description: Some(TimeToLiveDescription {
            time_to_live_status: Some(
                if rec.ttl_attribute.is_some() {
                    "ENABLED"
                } else {
                    "DISABLED"
                }
                .into(),
            ),
            attribute_name: rec.ttl_attribute.clone(),
        }),
    })
}

fn backups(rec: &TableRecord, now_ms: i64) -> ContinuousBackupsDescription {
    let pitr = match &rec.recovery {
        None => PointInTimeRecoveryDescription {
            point_in_time_recovery_status: Some("DISABLED".into()),
            ..Default::default()
        },
        Some(r) => {
            let latest = (now_ms - 5 * 60_000).max(r.since_ms);
            PointInTimeRecoveryDescription {
                point_in_time_recovery_status: Some("ENABLED".into()),
                recovery_period_in_days: Some(r.days),
                earliest_restorable_date_time: Some(Timestamp::from_millis(
                    r.since_ms.max(now_ms - r.days as i64 * 86_400_000),
                )),
                latest_restorable_date_time: Some(Timestamp::from_millis(latest)),
            }
        }
    };
    ContinuousBackupsDescription {
        continuous_backups_status: Some("ENABLED".into()),
        point_in_time_recovery_description: Some(pitr),
    }
}

/// The backup operations answer TableNotFoundException where others say ResourceNotFound.
async fn backup_table(
    db: &DynamoDb,
    cx: &RequestContext,
    name: Option<&str>,
) -> Result<String, DynamoDbError> {
    let name = resolve_table_name(cx, name.unwrap_or_default())?;
    match state::load(&db.store, &db.tables, cx, name).await? {
        Some(_) => Ok(name.to_string()),
        None => Err(DynamoDbError::TableNotFound(name.to_string())),
    }
}

pub async fn describe_continuous_backups(
    db: &DynamoDb,
    cx: &RequestContext,
    input: DescribeContinuousBackupsInput,
) -> Result<DescribeContinuousBackupsOutput, DynamoDbError> {
    let name = backup_table(db, cx, input.table_name.as_deref()).await?;
    let (rec, _) = state::require(&db.store, &db.tables, cx, &name).await?;
    Ok(DescribeContinuousBackupsOutput {
        continuous_backups_description: Some(backups(&rec, db.clock.now_ms())),
    })
}

pub async fn update_continuous_backups(
    db: &DynamoDb,
    cx: &RequestContext,
    input: UpdateContinuousBackupsInput,
) -> Result<UpdateContinuousBackupsOutput, DynamoDbError> {
    let name = backup_table(db, cx, input.table_name.as_deref()).await?;
    let spec = input.point_in_time_recovery_specification.unwrap_or_default();
    let days = spec.recovery_period_in_days.unwrap_or(35);
    if !(1..=35).contains(&days) {
        return Err(DynamoDbError::Validation(format!(
            "1 validation error detected: Value '{days}' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value between 1 and 35"
        )));
    }
    let now = db.clock.now_ms();
    let rec = state::update(&db.store, &db.tables, cx, &name, |rec| {
        rec.recovery = match (
            spec.point_in_time_recovery_enabled.unwrap_or_default(),
            &rec.recovery,
        ) {
            (true, Some(r)) => Some(Recovery { days, ..r.clone() }),
            (true, None) => Some(Recovery { since_ms: now, days }),
            (false, _) => None,
        };
        Ok(())
    })
    .await?;
    Ok(UpdateContinuousBackupsOutput {
        continuous_backups_description: Some(backups(&rec, now)),
    })
}

/// Whether an item is expired under Time to Live on `attribute` at `now_secs`.
fn expired(item: &stratus_dynamodb_expr::Item, attribute: &str, now_secs: f64) -> bool {
    let Some(AttributeValue::N(n)) = item.get(attribute) else {
        return false;
    };
    let Ok(at) = n.to_string().parse::<f64>() else {
        return false;
    };
    at < now_secs && at >= now_secs - FIVE_YEARS_SECS
}

impl DynamoDb {
    /// Deletes expired items forever (spawned at startup). One node of a cluster sweeps at a
    /// time (a store lease); each sweep goes on where the last one stopped in every table.
    pub async fn expiry_loop(self) {
        let holder = uuid::Uuid::new_v4().to_string();
        let mut cursors: HashMap<String, Vec<u8>> = HashMap::new();
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let now = self.clock.now_ms();
            if !matches!(
                self.store.acquire_lease(LEASE, &holder, now, 30_000).await,
                Ok(true)
            ) {
                continue;
            }
            if let Err(e) = self.sweep(&mut cursors).await {
                tracing::warn!(error = %e, "expired item sweep failed");
            }
        }
    }

    async fn sweep(&self, cursors: &mut HashMap<String, Vec<u8>>) -> Result<(), DynamoDbError> {
        let tables = self.store.scan(state::TABLES, &Scan::all()).await?;
        let mut live = Vec::new();
        for (_, raw) in tables {
            let Ok(rec) = serde_json::from_slice::<TableRecord>(&raw) else {
                continue;
            };
            let Some(attribute) = rec.ttl_attribute.clone() else {
                continue;
            };
            let table = TableInfo::from(&rec.description);
            live.push(table.id.clone());
            let cursor = cursors.remove(&table.id);
            if let Some(next) = self.sweep_table(&table, &attribute, cursor).await? {
                cursors.insert(table.id.clone(), next);
            }
        }
        cursors.retain(|id, _| live.contains(id));
        Ok(())
    }

    /// Deletes the expired items among the next `ITEMS_PER_SWEEP` after `cursor`; returns where
    /// to go on from, or None once the end of the table is reached. Items are read a page at a
    /// time, so a sweep holds at most a page of (up to 400 KB) items in memory.
    async fn sweep_table(
        &self,
        table: &TableInfo,
        attribute: &str,
        mut cursor: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, DynamoDbError> {
        let now_secs = self.clock.now_ms() as f64 / 1000.0;
        let mut seen = 0;
        while seen < ITEMS_PER_SWEEP {
            let mut scan = Scan::all().limit(PAGE);
            if let Some(c) = &cursor {
                scan = scan.after(c);
            }
            let rows = self.store.scan(table.ns(), &scan).await?;
            let full = rows.len() == PAGE;
            seen += rows.len();
            cursor = rows.last().map(|(k, _)| k.clone());
            for (key, raw) in rows {
                let Ok(item) = items::decode_item(&raw) else {
                    continue;
                };
                if !expired(&item, attribute, now_secs) {
                    continue;
                }
                // Deleted only if still as read: a write since then is looked at next time.
                let txn = items::stage_write(Txn::new(), table, &key, Some((&item, &raw)), None)?;
                match self.commit_items(txn).await {
                    Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if !full {
                return Ok(None);
            }
        }
        Ok(cursor)
    }
}
