//! Event notifications: when an object is created or removed, the bucket's notification
//! configuration decides who hears of it, and each destination gets S3's event JSON
//! (`Records[]` with `eventName`, `s3.bucket`, `s3.object` key/size/eTag/sequencer).
//!
//! The notices are written to an outbox (`s3:outbox`) in the same store commit as the object
//! change, so an acknowledged write is never left unannounced; a pump (one node at a time, a
//! store lease) hands them to the event dispatcher and deletes them once delivered. Lambda
//! destinations are delivered; queues, topics and EventBridge wait for their services.

use std::sync::Arc;
use std::time::Duration;

use s3s::dto::{FilterRule, NotificationConfiguration, NotificationConfigurationFilter};
use serde::{Deserialize, Serialize};
use stratus_store::{Scan, Txn};

use crate::backend::Backend;
use crate::model::{BucketRecord, ObjectRecord};

pub const OUTBOX: &str = "s3:outbox";
const TOPIC: &str = "s3:outbox";
const LEASE: &str = "s3:notify";

/// Hands one event to a destination ARN: `(arn, event JSON)`.
pub type Deliver = Arc<
    dyn Fn(String, String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Delivery> + Send>>
        + Send
        + Sync,
>;

/// What became of one delivery.
pub enum Delivery {
    Done,
    /// It never can be (no such destination): the notice is dropped.
    Refused(String),
    /// Not now (the store failed): the notice stays in the outbox for the next round.
    Later(String),
}

/// Why an object changed, and who changed it.
#[derive(Clone, Debug)]
pub struct Cause {
    /// `ObjectCreated:Put`, `ObjectRemoved:Delete`...
    pub event: &'static str,
    pub principal: String,
    pub request_id: String,
}

/// Marks a PutObject that is really a browser POST upload (`ObjectCreated:Post`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Posted;

/// The request id of an S3 request, for the events it causes.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub String);

impl Cause {
    /// The same removal when it leaves a delete marker (a versioned bucket).
    pub fn marker_created(&self) -> Cause {
        let event = match self.event {
            "ObjectRemoved:Delete" => "ObjectRemoved:DeleteMarkerCreated",
            "LifecycleExpiration:Delete" => "LifecycleExpiration:DeleteMarkerCreated",
            other => other,
        };
        Cause {
            event,
            ..self.clone()
        }
    }

    /// The cause of a change made by the request with these extensions.
    pub fn of(extensions: &http::Extensions, event: &'static str) -> Cause {
        let principal = extensions
            .get::<crate::Caller>()
            .and_then(|c| c.0.as_ref())
            .map(|i| format!("AWS:{}", i.user_id))
            .unwrap_or_else(|| "ANONYMOUS".into());
        let request_id = extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        Cause {
            event,
            principal,
            request_id,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Notice {
    destination: String,
    event: serde_json::Value,
}

/// Event types S3 accepts in a notification configuration.
const EVENTS: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
];

/// Checks a configuration as S3 does before storing it: known events, at most one prefix
/// and one suffix rule per filter, ARNs of the right service.
pub fn validate(n: &NotificationConfiguration) -> Result<(), s3s::S3Error> {
    let invalid = |m: String| s3s::s3_error!(InvalidArgument, "{m}");
    let mut all: Vec<(
        &[s3s::dto::Event],
        &Option<NotificationConfigurationFilter>,
        &str,
        &str,
    )> = Vec::new();
    for c in n.lambda_function_configurations.iter().flatten() {
        all.push((&c.events, &c.filter, &c.lambda_function_arn, "lambda"));
    }
    for c in n.queue_configurations.iter().flatten() {
        all.push((&c.events, &c.filter, &c.queue_arn, "sqs"));
    }
    for c in n.topic_configurations.iter().flatten() {
        all.push((&c.events, &c.filter, &c.topic_arn, "sns"));
    }
    for (events, filter, arn, service) in all {
        if arn.split(':').nth(2) != Some(service) || !arn.starts_with("arn:") {
            return Err(invalid(format!(
                "Unable to validate the following destination configurations: {arn}"
            )));
        }
        if events.is_empty() {
            return Err(invalid(
                "A notification configuration must name at least one event".into(),
            ));
        }
        for e in events {
            if !EVENTS.contains(&e.as_ref()) {
                return Err(invalid("The event is not supported for notifications".into()));
            }
        }
        let rules = rules(filter);
        for name in ["prefix", "suffix"] {
            if rules.iter().filter(|(n, _)| n == name).count() > 1 {
                return Err(invalid(
                    "Cannot specify more than one prefix rule in a filter.".replace("prefix", name),
                ));
            }
        }
        if rules.iter().any(|(n, _)| n != "prefix" && n != "suffix") {
            return Err(invalid("filter rule name must be either prefix or suffix".into()));
        }
    }
    Ok(())
}

fn rules(filter: &Option<NotificationConfigurationFilter>) -> Vec<(String, String)> {
    filter
        .as_ref()
        .and_then(|f| f.key.as_ref())
        .and_then(|k| k.filter_rules.as_ref())
        .map(|rules: &Vec<FilterRule>| {
            rules
                .iter()
                .map(|r| {
                    (
                        r.name.as_ref().map_or("", |n| n.as_str()).to_ascii_lowercase(),
                        r.value.clone().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a configured event (`s3:ObjectCreated:*`) covers an event (`ObjectCreated:Put`).
fn covers(configured: &str, event: &str) -> bool {
    let configured = configured.strip_prefix("s3:").unwrap_or(configured);
    match configured.strip_suffix('*') {
        Some(prefix) => event.starts_with(prefix),
        None => configured == event,
    }
}

/// S3's form of a key in events: URL-encoded with spaces as `+`, slashes kept.
fn event_key(key: &str) -> String {
    key.split('/')
        .map(|seg| form_urlencoded::byte_serialize(seg.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join("/")
}

/// Adds the notices an object change causes to the commit that makes it.
pub fn announce(
    txn: Txn,
    backend: &Backend,
    bucket: &BucketRecord,
    key: &str,
    object: &ObjectRecord,
    cause: Option<&Cause>,
) -> Txn {
    let Some(cause) = cause else { return txn };
    let Some(config) = bucket.configs.get("notification") else {
        return txn;
    };
    let Ok(n) = serde_json::from_value::<NotificationConfiguration>(config.clone()) else {
        return txn;
    };
    let mut targets: Vec<(&str, &str)> = Vec::new();
    for c in n.lambda_function_configurations.iter().flatten() {
        let applies = c.events.iter().any(|e| covers(e.as_ref(), cause.event))
            && rules(&c.filter).iter().all(|(name, value)| match name.as_str() {
                "prefix" => key.starts_with(value.as_str()),
                "suffix" => key.ends_with(value.as_str()),
                _ => true,
            });
        if applies {
            targets.push((
                c.lambda_function_arn.as_str(),
                c.id.as_deref().unwrap_or_default(),
            ));
        }
    }
    let mut txn = txn;
    for (arn, config_id) in targets {
        let seq = backend.next_seq();
        let mut object_json = serde_json::json!({
            "key": event_key(key),
            "sequencer": format!("{seq:016X}"),
        });
        if cause.event.starts_with("ObjectCreated") {
            object_json["size"] = object.size.into();
            object_json["eTag"] = object.etag.trim_matches('"').into();
        }
        if let Some(v) = &object.version_id {
            object_json["versionId"] = v.clone().into();
        }
        let event = serde_json::json!({ "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": bucket.region,
            "eventTime": stratus_core::ids::iso8601_ms(backend.clock.now_ms()),
            "eventName": cause.event,
            "userIdentity": { "principalId": cause.principal },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {
                "x-amz-request-id": cause.request_id,
                "x-amz-id-2": cause.request_id,
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": config_id,
                "bucket": {
                    "name": bucket.name,
                    "ownerIdentity": { "principalId": bucket.account },
                    "arn": format!("arn:aws:s3:::{}", bucket.name),
                },
                "object": object_json,
            },
        }]});
        let notice = Notice {
            destination: arn.to_string(),
            event,
        };
        txn = txn
            .put(
                OUTBOX,
                format!("{seq:020}/{}", uuid::Uuid::new_v4().simple()).into_bytes(),
                serde_json::to_vec(&notice).expect("notices serialize"),
            )
            .wake(TOPIC);
    }
    txn
}

/// Delivers the outbox for as long as the server runs.
pub async fn pump(backend: Backend, deliver: Deliver) {
    let holder = uuid::Uuid::new_v4().to_string();
    let mut wake = backend.store.watch(TOPIC);
    let mut lease_until = 0;
    loop {
        let now = backend.clock.now_ms();
        if now >= lease_until - 5_000 {
            lease_until = match backend.store.acquire_lease(LEASE, &holder, now, 15_000).await {
                Ok(true) => now + 15_000,
                _ => 0,
            };
        }
        if now < lease_until {
            match backend.store.scan(OUTBOX, &Scan::all().limit(256)).await {
                Ok(rows) => {
                    for (key, value) in rows {
                        if let Ok(n) = serde_json::from_slice::<Notice>(&value) {
                            match deliver(n.destination.clone(), n.event.to_string()).await {
                                Delivery::Done => {}
                                Delivery::Refused(e) => {
                                    tracing::warn!(
                                        destination = n.destination,
                                        error = e,
                                        "S3 event not delivered"
                                    )
                                }
                                Delivery::Later(e) => {
                                    tracing::warn!(
                                        destination = n.destination,
                                        error = e,
                                        "S3 event delivery retried"
                                    );
                                    break;
                                }
                            }
                        }
                        if let Err(e) = backend.store.commit(Txn::new().delete(OUTBOX, key)).await {
                            tracing::warn!(error = %e, "cannot clear the S3 event outbox");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the S3 event outbox"),
            }
        }
        tokio::select! {
            _ = wake.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_their_family() {
        assert!(covers("s3:ObjectCreated:*", "ObjectCreated:Put"));
        assert!(covers(
            "s3:ObjectCreated:*",
            "ObjectCreated:CompleteMultipartUpload"
        ));
        assert!(covers("s3:ObjectRemoved:Delete", "ObjectRemoved:Delete"));
        assert!(!covers("s3:ObjectRemoved:*", "ObjectCreated:Put"));
        assert!(!covers("s3:ObjectCreated:Put", "ObjectCreated:Post"));
    }

    #[test]
    fn keys_are_form_encoded() {
        assert_eq!(event_key("a b/c+d.txt"), "a+b/c%2Bd.txt");
    }
}
