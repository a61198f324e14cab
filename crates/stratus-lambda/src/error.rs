//! Errors Lambda answers with (codes, statuses and messages as AWS).

use stratus_protocol::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    InvalidRequestContent(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    ProvisionedNotFound(String),
    /// The function's resource policy does not let a calling service or URL caller in.
    #[error("{0}")]
    Denied(String),
    /// Over a concurrency limit; the reason is AWS's `Reason` member.
    #[error("Rate Exceeded.")]
    TooManyRequests(&'static str),
    #[error("storage failure: {0}")]
    Internal(String),
}

impl ServiceError for LambdaError {
    fn code(&self) -> &str {
        match self {
            LambdaError::NotFound(_) => "ResourceNotFoundException",
            LambdaError::Conflict(_) => "ResourceConflictException",
            LambdaError::InvalidParameter(_) => "InvalidParameterValueException",
            LambdaError::Validation(_) => "ValidationException",
            LambdaError::TooLarge(_) => "RequestEntityTooLargeException",
            LambdaError::InvalidRequestContent(_) => "InvalidRequestContentException",
            LambdaError::PreconditionFailed(_) => "PreconditionFailedException",
            LambdaError::Unsupported(_) => "UnsupportedMediaTypeException",
            LambdaError::TooManyRequests(_) => "TooManyRequestsException",
            LambdaError::ProvisionedNotFound(_) => "ProvisionedConcurrencyConfigNotFoundException",
            LambdaError::Denied(_) => "AccessDeniedException",
            LambdaError::Internal(_) => "ServiceException",
        }
    }

    fn status(&self) -> u16 {
        match self {
            LambdaError::NotFound(_) | LambdaError::ProvisionedNotFound(_) => 404,
            LambdaError::Conflict(_) => 409,
            LambdaError::Denied(_) => 403,
            LambdaError::TooLarge(_) => 413,
            LambdaError::PreconditionFailed(_) => 412,
            LambdaError::Unsupported(_) => 415,
            LambdaError::TooManyRequests(_) => 429,
            LambdaError::Internal(_) => 500,
            _ => 400,
        }
    }

    fn message(&self) -> String {
        match self {
            LambdaError::Internal(_) => "An internal error occurred.".into(),
            other => other.to_string(),
        }
    }
}

impl From<stratus_store::StoreError> for LambdaError {
    fn from(e: stratus_store::StoreError) -> Self {
        tracing::error!(error = %e, "lambda storage failure");
        LambdaError::Internal(e.to_string())
    }
}

impl From<LambdaError> for stratus_protocol::AwsError {
    fn from(e: LambdaError) -> Self {
        let mut err = stratus_protocol::AwsError::from_service(&e, "");
        if let LambdaError::TooManyRequests(reason) = e {
            let mut extra = serde_json::Map::new();
            extra.insert("Reason".into(), reason.into());
            err.extra = Some(extra);
        }
        err
    }
}
