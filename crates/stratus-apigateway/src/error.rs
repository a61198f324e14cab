//! Errors API Gateway's management API answers with (codes, statuses and messages as AWS).

use stratus_protocol::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum ApiGatewayError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage failure: {0}")]
    Internal(String),
}

impl ServiceError for ApiGatewayError {
    fn code(&self) -> &str {
        match self {
            ApiGatewayError::NotFound(_) => "NotFoundException",
            ApiGatewayError::BadRequest(_) => "BadRequestException",
            ApiGatewayError::Conflict(_) => "ConflictException",
            ApiGatewayError::Internal(_) => "InternalFailure",
        }
    }

    fn status(&self) -> u16 {
        match self {
            ApiGatewayError::NotFound(_) => 404,
            ApiGatewayError::BadRequest(_) => 400,
            ApiGatewayError::Conflict(_) => 409,
            ApiGatewayError::Internal(_) => 500,
        }
    }

    fn message(&self) -> String {
        match self {
            ApiGatewayError::Internal(_) => "An internal error occurred.".into(),
            other => other.to_string(),
        }
    }
}

impl From<stratus_store::StoreError> for ApiGatewayError {
    fn from(e: stratus_store::StoreError) -> Self {
        tracing::error!(error = %e, "apigateway storage failure");
        ApiGatewayError::Internal(e.to_string())
    }
}

impl From<ApiGatewayError> for stratus_protocol::AwsError {
    fn from(e: ApiGatewayError) -> Self {
        stratus_protocol::AwsError::from_service(&e, "")
    }
}
