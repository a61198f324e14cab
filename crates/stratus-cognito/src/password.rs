//! Passwords: the pool's password policy, and hashing (PBKDF2-HMAC-SHA256 with a random salt;
//! the password itself is never stored).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::CognitoError;
use crate::generated::PasswordPolicyType;

const ROUNDS: u32 = 10_000;
/// The characters Cognito counts as symbols.
const SYMBOLS: &str = "^$*.[]{}()?-\"!@#%&/\\,><':;|_~`+= ";

pub fn hash(password: &str) -> String {
    let salt: [u8; 16] = rand::rng().random();
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, ROUNDS, &mut out);
    format!(
        "pbkdf2-sha256${ROUNDS}${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(out)
    )
}

pub fn verify(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(rounds), Some(salt), Some(want)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(rounds), Ok(salt), Ok(want)) = (
        rounds.parse::<u32>(),
        STANDARD.decode(salt),
        STANDARD.decode(want),
    ) else {
        return false;
    };
    let mut out = vec![0u8; want.len()];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, rounds, &mut out);
    out.ct_eq(&want).into()
}

/// Cognito's default policy: 8 characters with upper and lower case letters, numbers and
/// symbols; temporary passwords valid for 7 days.
pub fn default_policy() -> PasswordPolicyType {
    PasswordPolicyType {
        minimum_length: Some(8),
        require_uppercase: Some(true),
        require_lowercase: Some(true),
        require_numbers: Some(true),
        require_symbols: Some(true),
        temporary_password_validity_days: Some(7),
        ..Default::default()
    }
}

/// Checks `password` against `policy` with Cognito's messages.
pub fn check(password: &str, policy: &PasswordPolicyType) -> Result<(), CognitoError> {
    let fail = |why: &str| {
        Err(CognitoError::InvalidPassword(format!(
            "Password did not conform with policy: {why}"
        )))
    };
    let min = policy.minimum_length.unwrap_or(8).max(6) as usize;
    if password.chars().count() < min {
        return fail("Password not long enough");
    }
    if password.starts_with(' ') || password.ends_with(' ') {
        return Err(CognitoError::invalid(
            "1 validation error detected: Value at 'password' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\S]+.*[\\S]+$",
        ));
    }
    if policy.require_uppercase == Some(true) && !password.chars().any(|c| c.is_uppercase()) {
        return fail("Password must have uppercase characters");
    }
    if policy.require_lowercase == Some(true) && !password.chars().any(|c| c.is_lowercase()) {
        return fail("Password must have lowercase characters");
    }
    if policy.require_numbers == Some(true) && !password.chars().any(|c| c.is_ascii_digit()) {
        return fail("Password must have numeric characters");
    }
    if policy.require_symbols == Some(true) && !password.chars().any(|c| SYMBOLS.contains(c)) {
        return fail("Password must have symbol characters");
    }
    Ok(())
}

/// A temporary password that satisfies `policy`.
pub fn temporary(policy: &PasswordPolicyType) -> String {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"23456789";
    let mut rng = rand::rng();
    let len = policy.minimum_length.unwrap_or(8).max(12) as usize;
    let mut s: Vec<u8> = (0..len - 3)
        .map(|_| LOWER[rng.random_range(0..LOWER.len())])
        .collect();
    s.push(UPPER[rng.random_range(0..UPPER.len())]);
    s.push(DIGITS[rng.random_range(0..DIGITS.len())]);
    s.push(b'!');
    String::from_utf8(s).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_same_password() {
        let h = hash("Secret-123");
        assert!(verify("Secret-123", &h));
        assert!(!verify("Secret-124", &h));
        assert_ne!(h, hash("Secret-123"), "salted");
        assert!(!verify("x", "garbage"));
    }

    #[test]
    fn the_default_policy_names_what_is_missing() {
        let p = default_policy();
        let why = |pw: &str| match check(pw, &p) {
            Err(CognitoError::InvalidPassword(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(why("Ab1!").ends_with("Password not long enough"));
        assert!(why("abcdefg1!").ends_with("uppercase characters"));
        assert!(why("ABCDEFG1!").ends_with("lowercase characters"));
        assert!(why("Abcdefgh!").ends_with("numeric characters"));
        assert!(why("Abcdefgh1").ends_with("symbol characters"));
        assert!(check("Abcdefg1!", &p).is_ok());
        assert!(check(&temporary(&p), &p).is_ok());
    }
}
