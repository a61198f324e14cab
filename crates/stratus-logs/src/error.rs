//! Errors CloudWatch Logs answers with: one variant per AWS error code.

use stratus_protocol::{AwsError, ServiceError};

/// The `__type` namespace of CloudWatch Logs' own errors.
pub const ERROR_NAMESPACE: &str = "com.amazonaws.logs";

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceAlreadyExists(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// A concurrent change kept winning the race for the same record.
    #[error("Multiple concurrent requests to update the same resource were in conflict.")]
    OperationAborted,
    #[error("storage failure: {0}")]
    Internal(String),
}

impl LogsError {
    pub fn group_not_found() -> Self {
        LogsError::ResourceNotFound("The specified log group does not exist.".into())
    }
    pub fn stream_not_found() -> Self {
        LogsError::ResourceNotFound("The specified log stream does not exist.".into())
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        LogsError::InvalidParameter(msg.into())
    }
}

impl ServiceError for LogsError {
    fn code(&self) -> &str {
        match self {
            LogsError::ResourceNotFound(_) => "ResourceNotFoundException",
            LogsError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            LogsError::InvalidParameter(_) => "InvalidParameterException",
            LogsError::OperationAborted => "OperationAbortedException",
            LogsError::Internal(_) => "ServiceUnavailableException",
        }
    }

    fn status(&self) -> u16 {
        match self {
            LogsError::Internal(_) => 500,
            _ => 400,
        }
    }

    fn message(&self) -> String {
        match self {
            LogsError::Internal(_) => "The service cannot complete the request.".into(),
            other => other.to_string(),
        }
    }
}

impl From<LogsError> for AwsError {
    fn from(e: LogsError) -> Self {
        AwsError::from_service(&e, ERROR_NAMESPACE)
    }
}

impl From<stratus_store::StoreError> for LogsError {
    fn from(e: stratus_store::StoreError) -> Self {
        tracing::error!(error = %e, "logs storage failure");
        LogsError::Internal(e.to_string())
    }
}
