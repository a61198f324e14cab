//! Errors STS answers with.

use stratus_protocol::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum StsError {
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("storage failure: {0}")]
    Internal(String),
}

impl ServiceError for StsError {
    fn code(&self) -> &str {
        match self {
            StsError::AccessDenied(_) => "AccessDenied",
            StsError::Validation(_) => "ValidationError",
            StsError::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            StsError::Internal(_) => "InternalFailure",
        }
    }

    fn status(&self) -> u16 {
        match self {
            StsError::AccessDenied(_) => 403,
            StsError::Validation(_) | StsError::MalformedPolicyDocument(_) => 400,
            StsError::Internal(_) => 500,
        }
    }

    fn message(&self) -> String {
        match self {
            StsError::Internal(_) => "An internal error occurred.".into(),
            other => other.to_string(),
        }
    }
}

impl From<stratus_store::StoreError> for StsError {
    fn from(e: stratus_store::StoreError) -> Self {
        tracing::error!(error = %e, "sts storage failure");
        StsError::Internal(e.to_string())
    }
}
