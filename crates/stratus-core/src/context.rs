//! Who is calling, from where, and on which request.

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The 12-digit account the caller acts in.
    pub account_id: String,
    /// The caller's ARN (`arn:aws:iam::ACCOUNT:user/NAME`, `...:root`, or an assumed role).
    pub arn: String,
    /// The unique id GetCallerIdentity prints as `UserId`.
    pub user_id: String,
    /// The access key the request was signed with.
    pub access_key_id: String,
}

/// Everything an operation may know about its request besides its input.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    /// The region the request was signed for.
    pub region: String,
    pub identity: Identity,
}

impl RequestContext {
    pub fn account_id(&self) -> &str {
        &self.identity.account_id
    }
}

/// The address a request came from (`aws:SourceIp`), carried in the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceIp(pub std::net::IpAddr);
