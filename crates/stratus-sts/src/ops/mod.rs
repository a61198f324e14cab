//! One file per implemented operation.

mod assume_role;
mod get_caller_identity;
mod get_session_token;

pub use assume_role::assume_role;
pub use get_caller_identity::get_caller_identity;
pub use get_session_token::get_session_token;

use stratus_core::ids;
use stratus_protocol::types::Timestamp;

use crate::generated::Credentials;
use crate::state::TemporaryCredential;
use crate::{Sts, StsError};

/// Issues and stores a new set of temporary credentials for `identity`.
pub(crate) async fn issue(
    sts: &Sts,
    account_id: &str,
    arn: String,
    user_id: String,
    duration_secs: i64,
) -> Result<Credentials, StsError> {
    let cred = TemporaryCredential {
        access_key_id: ids::access_key_id("ASIA"),
        secret_access_key: ids::secret(40),
        session_token: format!("FwoGZXIvYXdzE{}", ids::secret(300)),
        expires_ms: sts.clock.now_ms() + duration_secs * 1000,
        account_id: account_id.to_string(),
        arn,
        user_id,
    };
    crate::state::put(&sts.store, &cred).await?;
    Ok(Credentials {
        access_key_id: Some(cred.access_key_id),
        secret_access_key: Some(cred.secret_access_key),
        session_token: Some(cred.session_token),
        expiration: Some(Timestamp::from_millis(cred.expires_ms - cred.expires_ms % 1000)),
    })
}
