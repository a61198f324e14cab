use stratus_core::RequestContext;

use crate::generated::{GetSessionTokenRequest, GetSessionTokenResponse};
use crate::{Sts, StsError};

pub async fn get_session_token(
    sts: Sts,
    cx: RequestContext,
    input: GetSessionTokenRequest,
) -> Result<GetSessionTokenResponse, StsError> {
    let id = &cx.identity;
    if id.access_key_id.starts_with("ASIA") {
        return Err(StsError::AccessDenied(
            "Cannot call GetSessionToken with session credentials".into(),
        ));
    }
    // The root user's sessions last at most an hour; IAM users' up to 36 hours.
    let is_root = id.arn.ends_with(":root");
    let default = if is_root { 3600 } else { 43_200 };
    let duration = input.duration_seconds.map_or(default, i64::from);
    if is_root && duration > 3600 {
        return Err(StsError::Validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roots.".into(),
        ));
    }
    let credentials =
        super::issue(&sts, &id.account_id, id.arn.clone(), id.user_id.clone(), duration).await?;
    Ok(GetSessionTokenResponse {
        credentials: Some(credentials),
    })
}
