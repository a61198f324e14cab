//! Amazon DynamoDB. This crate owns tables (control plane now; items, queries and indexes
//! build on the same state). It speaks `awsJson1_0` with `X-Amz-Target: DynamoDB_20120810.*`.
//!
//! Depends on core, protocol and store; never on the gateway.

pub mod error;
pub mod generated;
pub mod items;
mod ops;
pub mod state;

use serde::de::DeserializeOwned;
use stratus_core::{Clock, RequestContext};
use stratus_protocol::validate::Validate;
use stratus_protocol::{ApiRequest, ApiResponse, AwsError, Protocol, json};
use stratus_store::Store;

pub use error::DynamoDbError;

pub const PROTOCOL: Protocol = Protocol::Json { version: "1.0" };
/// The `__type` namespace of DynamoDB's own errors.
pub const ERROR_NAMESPACE: &str = "com.amazonaws.dynamodb.v20120810";

/// The DynamoDB service value: shared by every request.
#[derive(Clone)]
pub struct DynamoDb {
    store: Store,
    clock: Clock,
    tables: std::sync::Arc<state::RecordCache>,
    stats: std::sync::Arc<state::StatsCache>,
}

impl DynamoDb {
    /// The service; with a Tokio runtime at hand it also starts deleting expired items
    /// (Time to Live) in the background.
    pub fn new(store: Store, clock: Clock) -> Self {
        let db = Self {
            store,
            clock,
            tables: Default::default(),
            stats: Default::default(),
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(db.clone().expiry_loop());
        }
        db
    }

    /// Commits a transaction that changes items (and so the tables' item statistics).
    async fn commit_items(&self, txn: stratus_store::Txn) -> Result<(), stratus_store::StoreError> {
        let out = self.store.commit(txn).await;
        if out.is_ok() {
            self.stats.wrote();
        }
        out
    }

    /// Decodes, validates and runs one request.
    pub async fn handle(&self, cx: &RequestContext, req: &ApiRequest<'_>) -> Result<ApiResponse, AwsError> {
        let target = req.header("x-amz-target").unwrap_or_default();
        let Some(op) = json::target_operation(target, generated::TARGET_PREFIX) else {
            return Err(AwsError::unknown_operation(PROTOCOL, target));
        };
        let body = req.body.as_ref();
        match op {
            "CreateTable" => self.run(cx, body, ops::create_table).await,
            "DescribeTable" => self.run(cx, body, ops::describe_table).await,
            "ListTables" => self.run(cx, body, ops::list_tables).await,
            "DeleteTable" => self.run(cx, body, ops::delete_table).await,
            "UpdateTable" => self.run(cx, body, ops::update_table).await,
            "TagResource" => self.run(cx, body, ops::tag_resource).await,
            "UntagResource" => self.run(cx, body, ops::untag_resource).await,
            "ListTagsOfResource" => self.run(cx, body, ops::list_tags_of_resource).await,
            "DescribeLimits" => self.run(cx, body, ops::describe_limits).await,
            "UpdateTimeToLive" => self.run(cx, body, ops::update_time_to_live).await,
            "DescribeTimeToLive" => self.run(cx, body, ops::describe_time_to_live).await,
            "UpdateContinuousBackups" => self.run(cx, body, ops::update_continuous_backups).await,
            "DescribeContinuousBackups" => self.run(cx, body, ops::describe_continuous_backups).await,
            "PutItem" => self.run(cx, body, ops::put_item).await,
            "GetItem" => self.run(cx, body, ops::get_item).await,
            "DeleteItem" => self.run(cx, body, ops::delete_item).await,
            "UpdateItem" => self.run(cx, body, ops::update_item).await,
            "Query" => self.run(cx, body, ops::query).await,
            "Scan" => self.run(cx, body, ops::scan).await,
            "BatchGetItem" => self.run(cx, body, ops::batch_get_item).await,
            "BatchWriteItem" => self.run(cx, body, ops::batch_write_item).await,
            "TransactGetItems" => self.run(cx, body, ops::transact_get_items).await,
            "TransactWriteItems" => self.run(cx, body, ops::transact_write_items).await,
            "ExecuteStatement" => self.run(cx, body, ops::execute_statement).await,
            "BatchExecuteStatement" => self.run(cx, body, ops::batch_execute_statement).await,
            "ExecuteTransaction" => self.run(cx, body, ops::execute_transaction).await,
            "DescribeEndpoints" => {
                let host = req.header("host").unwrap_or("localhost:4566").to_string();
                self.run(cx, body, move |d, cx, i| ops::describe_endpoints(d, cx, i, host))
                    .await
            }
            other if generated::OPERATIONS.contains(&other) => Err(AwsError::not_implemented(other)),
            _ => Err(AwsError::unknown_operation(PROTOCOL, op)),
        }
    }

    /// Decodes the input, runs `op` and encodes its answer.
    async fn run<'s, I, O, F>(
        &'s self,
        cx: &'s RequestContext,
        body: &[u8],
        op: impl FnOnce(&'s DynamoDb, &'s RequestContext, I) -> F,
    ) -> Result<ApiResponse, AwsError>
    where
        I: DeserializeOwned + Validate,
        O: ops::EncodeJson,
        F: Future<Output = Result<O, DynamoDbError>>,
    {
        let input = json::input(body, PROTOCOL)?;
        let reply = op(self, cx, input).await?;
        Ok(json::respond(reply.to_json(), json::version(PROTOCOL), true))
    }
}
