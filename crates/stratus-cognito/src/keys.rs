//! Each user pool's token signing key: RSA 2048, tokens signed RS256, the public half
//! published as the pool's JWKS (`/{pool id}/.well-known/jwks.json`), as Cognito does.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};

use crate::CognitoError;

/// A new private key (PKCS#1 DER, base64) and its key id. Takes a few hundred milliseconds:
/// call it off the async threads.
pub fn generate() -> Result<(String, String), CognitoError> {
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(CognitoError::internal)?;
    let der = key.to_pkcs1_der().map_err(CognitoError::internal)?;
    let kid = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(key.to_public_key().n_bytes());
        STANDARD.encode(&digest[..])
    };
    Ok((STANDARD.encode(der.as_bytes()), kid))
}

/// A pool's key, ready to sign and verify.
pub struct PoolKeys {
    pub kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public key as a JWK.
    pub jwk: Value,
}

impl PoolKeys {
    pub fn load(signing_key: &str, kid: &str) -> Result<Self, CognitoError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let der = STANDARD.decode(signing_key).map_err(CognitoError::internal)?;
        let private = rsa::PrivateKey::from_pkcs1_der(&der).map_err(CognitoError::internal)?;
        let public = private.to_public_key();
        let n = URL_SAFE_NO_PAD.encode(public.n_bytes());
        let e = URL_SAFE_NO_PAD.encode(public.e_bytes());
        let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(CognitoError::internal)?;
        Ok(PoolKeys {
            kid: kid.to_string(),
            encoding: EncodingKey::from_rsa_der(&der),
            decoding,
            jwk: json!({"alg": "RS256", "e": e, "kid": kid, "kty": "RSA", "n": n, "use": "sig"}),
        })
    }

    pub fn sign(&self, claims: &Value) -> Result<String, CognitoError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(CognitoError::internal)
    }

    /// The claims of a token this key signed, whatever its times say (the caller checks them
    /// against the Stratus clock). `None` for anything else: another key, another algorithm,
    /// a forged or malformed token.
    pub fn verify(&self, token: &str) -> Option<Map<String, Value>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some(self.kid.as_str()) {
            return None;
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &v)
            .ok()
            .map(|d| d.claims)
    }
}

/// The claims of a token without checking anything: only to find which pool it names.
pub fn peek_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_own_key() {
        let (der, kid) = generate().unwrap();
        let keys = PoolKeys::load(&der, &kid).unwrap();
        let token = keys.sign(&json!({"sub": "u", "exp": 1})).unwrap();
        assert_eq!(keys.verify(&token).unwrap()["sub"], "u");
        assert_eq!(peek_claims(&token).unwrap()["sub"], "u");
        // Another pool's key does not verify it.
        let (der2, kid2) = generate().unwrap();
        let other = PoolKeys::load(&der2, &kid2).unwrap();
        assert!(other.verify(&token).is_none());
        // A changed payload breaks the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":1}"#);
        parts[1] = &forged;
        assert!(keys.verify(&parts.join(".")).is_none());
        // `alg: none` is refused.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#)),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"u"}"#)
        );
        assert!(keys.verify(&none).is_none());
        assert_eq!(keys.jwk["kty"], "RSA");
        assert_eq!(keys.jwk["e"], "AQAB");
    }
}
