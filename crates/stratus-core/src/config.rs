//! Server configuration. Precedence: flags > `STRATUS_*` environment > `stratus.toml` > defaults.

use serde::{Deserialize, Serialize};

/// How hard a commit tries before it is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Written to the engine's log before the answer: survives `kill -9` of the server.
    #[default]
    Log,
    /// Also flushed to stable storage (fsync) before the answer: survives power loss.
    Fsync,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "log" | "default" | "normal" => Ok(Durability::Log),
            "fsync" | "full" => Ok(Durability::Fsync),
            other => Err(format!("unknown durability '{other}' (expected log or fsync)")),
        }
    }
}

/// One access key the server accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyConfig {
    /// The access key id clients sign with.
    pub access_key_id: String,
    /// The secret the signature is checked against.
    pub secret_access_key: String,
    /// The 12-digit account this key belongs to.
    #[serde(default = "default_account")]
    pub account_id: String,
    /// The principal within the account: `root`, `user/NAME` or `role/NAME`.
    #[serde(default = "default_principal")]
    pub principal: String,
}

fn default_account() -> String {
    "000000000000".into()
}
fn default_principal() -> String {
    "root".into()
}

impl AccessKeyConfig {
    /// Parses `KEY:SECRET[:ACCOUNT[:PRINCIPAL]]`, the form used on the command line and in
    /// `STRATUS_ACCESS_KEYS` (comma separated).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(4, ':');
        let access_key_id = parts.next().filter(|p| !p.is_empty());
        let secret = parts.next().filter(|p| !p.is_empty());
        let (Some(access_key_id), Some(secret)) = (access_key_id, secret) else {
            return Err(format!(
                "access key '{s}' must be KEY:SECRET[:ACCOUNT[:PRINCIPAL]]"
            ));
        };
        let account_id = parts.next().map(str::to_string).unwrap_or_else(default_account);
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("account id '{account_id}' must be 12 digits"));
        }
        let principal = parts.next().map(str::to_string).unwrap_or_else(default_principal);
        Ok(Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret.into(),
            account_id,
            principal,
        })
    }

    /// The ARN of the principal this key stands for.
    pub fn arn(&self) -> String {
        if self.principal == "root" {
            format!("arn:aws:iam::{}:root", self.account_id)
        } else {
            format!("arn:aws:iam::{}:{}", self.account_id, self.principal)
        }
    }

    /// The `UserId` GetCallerIdentity prints for this key.
    pub fn user_id(&self) -> String {
        if self.principal == "root" {
            self.account_id.clone()
        } else {
            // Stable per key, in the AIDA... form IAM users have.
            format!("AIDA{:016X}", crate::ids::stable_hash(self.arn().as_bytes()))
        }
    }
}

/// Everything `stratus serve` needs to know.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the one endpoint listens on.
    pub listen: String,
    /// Directory of the embedded store and blob files.
    pub data_dir: String,
    /// `embedded` (or a path) for the embedded engine, or a `postgres://` URL.
    pub store: String,
    /// Default region.
    pub region: String,
    /// Log filter (`info`, `debug`, `stratus=trace`...).
    pub log_level: String,
    /// Commit durability: `log` (survives kill -9) or `fsync` (survives power loss).
    pub durability: Durability,
    /// Enables the test controls (`/_stratus/clock`, `/_stratus/reset`).
    pub dev: bool,
    /// Accepted access keys; `test`/`test` in account 000000000000 when empty.
    pub access_keys: Vec<AccessKeyConfig>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Seconds an idle function instance stays warm before it is stopped.
    pub function_idle_secs: u64,
    /// Concurrent function executions allowed per account and region (AWS's default: 1000).
    pub lambda_concurrency: u32,
    /// The price table `stratus cost` applies.
    pub lambda_prices: LambdaPrices,
}

/// Lambda prices and the monthly free tier; the defaults are AWS's published x86 prices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LambdaPrices {
    /// USD per million requests.
    pub per_million_requests: f64,
    /// USD per GB-second of on-demand duration.
    pub per_gb_second: f64,
    /// USD per GB-second that provisioned concurrency is kept ready.
    pub provisioned_per_gb_second: f64,
    /// USD per GB-second of duration served by provisioned concurrency.
    pub provisioned_duration_per_gb_second: f64,
    /// Requests free each month.
    pub free_requests: u64,
    /// On-demand GB-seconds free each month.
    pub free_gb_seconds: f64,
}

impl Default for LambdaPrices {
    fn default() -> Self {
        Self {
            per_million_requests: 0.20,
            per_gb_second: 0.0000166667,
            provisioned_per_gb_second: 0.0000041667,
            provisioned_duration_per_gb_second: 0.0000097222,
            free_requests: 1_000_000,
            free_gb_seconds: 400_000.0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4566".into(),
            data_dir: "./.stratus".into(),
            store: "embedded".into(),
            region: "us-east-1".into(),
            log_level: "info".into(),
            durability: Durability::Log,
            dev: false,
            access_keys: Vec::new(),
            max_body_bytes: 16 * 1024 * 1024,
            function_idle_secs: 300,
            lambda_concurrency: 1000,
            lambda_prices: LambdaPrices::default(),
        }
    }
}

impl Config {
    /// The configured keys, or the default `test`/`test` pair.
    pub fn effective_access_keys(&self) -> Vec<AccessKeyConfig> {
        if self.access_keys.is_empty() {
            vec![AccessKeyConfig {
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
                account_id: default_account(),
                principal: default_principal(),
            }]
        } else {
            self.access_keys.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_access_keys() {
        let k = AccessKeyConfig::parse("AKID:SECRET:111122223333:user/alice").unwrap();
        assert_eq!(k.arn(), "arn:aws:iam::111122223333:user/alice");
        assert!(k.user_id().starts_with("AIDA"));
        let k = AccessKeyConfig::parse("a:b").unwrap();
        assert_eq!(k.account_id, "000000000000");
        assert_eq!(k.arn(), "arn:aws:iam::000000000000:root");
        assert!(AccessKeyConfig::parse("a").is_err());
        assert!(AccessKeyConfig::parse("a:b:12").is_err());
    }
}
