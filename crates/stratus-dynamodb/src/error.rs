//! Errors DynamoDB answers with: one variant per AWS error code.

use stratus_protocol::{AwsError, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum DynamoDbError {
    /// `Requested resource not found...`
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    /// The backup operations' way of saying a table does not exist.
    #[error("Table not found: {0}")]
    TableNotFound(String),
    /// Model and semantic validation (`com.amazon.coral.validate#ValidationException`).
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// A condition did not hold; `item` is returned when ReturnValuesOnConditionCheckFailure asks.
    #[error("The conditional request failed")]
    ConditionalCheckFailed {
        item: Option<stratus_dynamodb_expr::Item>,
    },
    /// A transaction was cancelled; one reason per action, in order.
    #[error("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", .codes.join(", "))]
    TransactionCanceled {
        codes: Vec<String>,
        reasons: Vec<serde_json::Value>,
    },
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    #[error("Duplicate primary key exists in table")]
    DuplicateItem,
    #[error("storage failure: {0}")]
    Internal(String),
}

impl DynamoDbError {
    pub fn table_not_found(name: &str) -> Self {
        DynamoDbError::ResourceNotFound(format!("Requested resource not found: Table: {name} not found"))
    }

    /// `One or more parameter values were invalid: ...`
    pub fn invalid(detail: impl std::fmt::Display) -> Self {
        DynamoDbError::Validation(format!("One or more parameter values were invalid: {detail}"))
    }
}

impl ServiceError for DynamoDbError {
    fn code(&self) -> &str {
        match self {
            DynamoDbError::ResourceNotFound(_) => "ResourceNotFoundException",
            DynamoDbError::ResourceInUse(_) => "ResourceInUseException",
            DynamoDbError::TableNotFound(_) => "TableNotFoundException",
            DynamoDbError::Validation(_) => "ValidationException",
            DynamoDbError::LimitExceeded(_) => "LimitExceededException",
            DynamoDbError::ConditionalCheckFailed { .. } => "ConditionalCheckFailedException",
            DynamoDbError::TransactionCanceled { .. } => "TransactionCanceledException",
            DynamoDbError::IdempotentParameterMismatch(_) => "IdempotentParameterMismatchException",
            DynamoDbError::DuplicateItem => "DuplicateItemException",
            DynamoDbError::Internal(_) => "InternalServerError",
        }
    }

    fn status(&self) -> u16 {
        match self {
            DynamoDbError::Internal(_) => 500,
            _ => 400,
        }
    }

    fn message(&self) -> String {
        match self {
            DynamoDbError::Internal(_) => "Internal server error".into(),
            other => other.to_string(),
        }
    }
}

impl From<DynamoDbError> for AwsError {
    fn from(e: DynamoDbError) -> Self {
        let namespace = match e {
            DynamoDbError::Validation(_) => "com.amazon.coral.validate",
            _ => crate::ERROR_NAMESPACE,
        };
        let mut err = AwsError::from_service(&e, namespace);
        match e {
            DynamoDbError::ConditionalCheckFailed { item: Some(item) } => {
                let mut extra = serde_json::Map::new();
                extra.insert("Item".into(), serde_json::to_value(&item).unwrap_or_default());
                err.extra = Some(extra);
            }
            DynamoDbError::TransactionCanceled { reasons, .. } => {
                let mut extra = serde_json::Map::new();
                extra.insert("CancellationReasons".into(), serde_json::Value::Array(reasons));
                err.extra = Some(extra);
            }
            _ => {}
        }
        err
    }
}

impl From<stratus_store::StoreError> for DynamoDbError {
    fn from(e: stratus_store::StoreError) -> Self {
        tracing::error!(error = %e, "dynamodb storage failure");
        DynamoDbError::Internal(e.to_string())
    }
}
