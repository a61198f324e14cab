use stratus_core::RequestContext;

use crate::generated::{AssumeRoleRequest, AssumeRoleResponse, AssumedRoleUser};
use crate::{Sts, StsError};

/// `arn:aws:iam::ACCOUNT:role[/path]/NAME` → (account, role name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let _partition = parts.next()?;
    if parts.next()? != "iam" || !parts.next()?.is_empty() {
        return None;
    }
    let account = parts.next()?;
    let resource = parts.next()?.strip_prefix("role/")?;
    let name = resource.rsplit('/').next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty())
        .then_some((account, name))
}

/// A stable `AROA...` id for a role ARN.
fn role_id(arn: &str) -> String {
    let h = stratus_core::ids::stable_hash(arn.as_bytes());
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut id = String::from("AROA");
    for i in 0..16 {
        id.push(CHARS[((h >> (i * 4)) & 31) as usize % CHARS.len()] as char);
    }
    id
}

pub async fn assume_role(
    sts: Sts,
    _cx: RequestContext,
    input: AssumeRoleRequest,
) -> Result<AssumeRoleResponse, StsError> {
    let role_arn = input.role_arn.unwrap_or_default();
    let session = input.role_session_name.unwrap_or_default();
    let Some((account, role_name)) = parse_role_arn(&role_arn) else {
        return Err(StsError::Validation(format!("{role_arn} is invalid")));
    };
    if let Some(policy) = &input.policy
        && serde_json::from_str::<serde_json::Value>(policy).map_or(true, |v| !v.is_object())
    {
        return Err(StsError::MalformedPolicyDocument(
            "The policy is not in the valid JSON format.".into(),
        ));
    }
    if input
        .source_identity
        .as_deref()
        .is_some_and(|s| s.starts_with("aws:"))
    {
        return Err(StsError::Validation(
            "SourceIdentity cannot start with 'aws:'".into(),
        ));
    }
    let duration = input.duration_seconds.map_or(3600, i64::from);
    let arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}");
    let user_id = format!("{}:{session}", role_id(&role_arn));
    let credentials = super::issue(&sts, account, arn.clone(), user_id.clone(), duration).await?;
    let packed = (input.policy.is_some() || input.tags.as_ref().is_some_and(|t| !t.is_empty())).then(|| {
        let size =
            input.policy.as_ref().map_or(0, |p| p.len()) + input.tags.as_ref().map_or(0, |t| t.len() * 20);
        ((size * 100 / 2048).clamp(1, 99)) as i32
    });
    Ok(AssumeRoleResponse {
        credentials: Some(credentials),
        assumed_role_user: Some(AssumedRoleUser {
            assumed_role_id: Some(user_id),
            arn: Some(arn),
        }),
        packed_policy_size: packed,
        source_identity: input.source_identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/admin"),
            Some(("123456789012", "admin"))
        );
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/path/to/admin"),
            Some(("123456789012", "admin"))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::123456789012:user/admin"), None);
        assert_eq!(parse_role_arn("arn:aws:s3:::bucket"), None);
        assert!(role_id("x").starts_with("AROA"));
    }
}
