//! Errors Cognito user pools answer with: one variant per AWS error code.

use stratus_protocol::{AwsError, ServiceError};

/// The `__type` namespace of Cognito user pools' errors.
pub const ERROR_NAMESPACE: &str = "com.amazonaws.cognito.identity.idp.model";

#[derive(Debug, thiserror::Error)]
pub enum CognitoError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidPassword(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("User does not exist.")]
    UserNotFound,
    #[error("User is not confirmed.")]
    UserNotConfirmed,
    #[error("{0}")]
    UsernameExists(String),
    #[error("{0}")]
    AliasExists(String),
    #[error("Resend not possible: the user's status is not FORCE_CHANGE_PASSWORD.")]
    UnsupportedUserState,
    /// A flow or feature of an implemented operation that Stratus does not offer yet.
    #[error("{0}")]
    NotImplemented(String),
    #[error("storage failure: {0}")]
    Internal(String),
}

impl CognitoError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        CognitoError::InvalidParameter(msg.into())
    }
    pub fn not_authorized(msg: impl Into<String>) -> Self {
        CognitoError::NotAuthorized(msg.into())
    }
    pub fn pool_not_found(id: &str) -> Self {
        CognitoError::ResourceNotFound(format!("User pool {id} does not exist."))
    }
    pub fn client_not_found(id: &str) -> Self {
        CognitoError::ResourceNotFound(format!("User pool client {id} does not exist."))
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        CognitoError::Internal(e.to_string())
    }
}

impl ServiceError for CognitoError {
    fn code(&self) -> &str {
        match self {
            CognitoError::ResourceNotFound(_) => "ResourceNotFoundException",
            CognitoError::InvalidParameter(_) => "InvalidParameterException",
            CognitoError::InvalidPassword(_) => "InvalidPasswordException",
            CognitoError::NotAuthorized(_) => "NotAuthorizedException",
            CognitoError::UserNotFound => "UserNotFoundException",
            CognitoError::UserNotConfirmed => "UserNotConfirmedException",
            CognitoError::UsernameExists(_) => "UsernameExistsException",
            CognitoError::AliasExists(_) => "AliasExistsException",
            CognitoError::UnsupportedUserState => "UnsupportedUserStateException",
            CognitoError::NotImplemented(_) => "NotImplemented",
            CognitoError::Internal(_) => "InternalErrorException",
        }
    }

    fn status(&self) -> u16 {
        match self {
            CognitoError::NotImplemented(_) => 501,
            CognitoError::Internal(_) => 500,
            _ => 400,
        }
    }

    fn message(&self) -> String {
        match self {
            CognitoError::Internal(_) => "An internal error occurred.".into(),
            other => other.to_string(),
        }
    }
}

impl From<CognitoError> for AwsError {
    fn from(e: CognitoError) -> Self {
        AwsError::from_service(&e, ERROR_NAMESPACE)
    }
}

impl From<stratus_store::StoreError> for CognitoError {
    fn from(e: stratus_store::StoreError) -> Self {
        tracing::error!(error = %e, "cognito storage failure");
        CognitoError::Internal(e.to_string())
    }
}
