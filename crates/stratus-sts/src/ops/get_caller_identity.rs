use stratus_core::RequestContext;

use crate::generated::{GetCallerIdentityRequest, GetCallerIdentityResponse};
use crate::{Sts, StsError};

pub async fn get_caller_identity(
    _sts: Sts,
    cx: RequestContext,
    _input: GetCallerIdentityRequest,
) -> Result<GetCallerIdentityResponse, StsError> {
    Ok(GetCallerIdentityResponse {
        user_id: Some(cx.identity.user_id.clone()),
        account: Some(cx.identity.account_id.clone()),
        arn: Some(cx.identity.arn.clone()),
    })
}
