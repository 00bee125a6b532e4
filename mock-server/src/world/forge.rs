//! Hostile tokens for testing verifiers: the issuer's claims signed in ways a careful verifier
//! refuses — `alg: none`, HS256 keyed with the issuer's public key, another issuer's key, a key
//! in no JWKS — with header fields set or removed (`kid`, `crit`, `jku`, `x5u`, `jwk`, `x5c`,
//! `x5t`) and claims duplicated in the payload's JSON text.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::issuers::SigningKey;

/// How to sign a forged token (`TokenRequest::key`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyChoice {
    /// The issuer's own current key (the default).
    Issuer,
    /// `alg: none` and an empty signature.
    None,
    /// HS256 with the issuer's public key (PEM of its certificate's key, as JWKS libraries
    /// export it) as the HMAC secret: the algorithm-confusion attack.
    Hs256PublicKey,
    /// An RSA key no JWKS of the world publishes (the `kid` is the issuer's unless the header
    /// says).
    Generated,
    /// Another issuer's current key (with that key's `kid`).
    Issuer2(String),
}

impl std::str::FromStr for KeyChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "issuer" => Ok(Self::Issuer),
            "none" => Ok(Self::None),
            "hs256-public-key" => Ok(Self::Hs256PublicKey),
            "generated" => Ok(Self::Generated),
            other => match other.strip_prefix("issuer:") {
                Some(name) if !name.is_empty() => Ok(Self::Issuer2(name.to_string())),
                _ => Err(format!("`{other}` is not a key (issuer, none, hs256-public-key, generated, issuer:NAME)")),
            },
        }
    }
}

/// The JSON text of `claims` with `duplicates` appended as repeated members (a JSON object with
/// the same name twice: parsers disagree on which wins).
fn payload_text(claims: &Value, duplicates: &Map<String, Value>) -> String {
    let text = claims.to_string();
    if duplicates.is_empty() {
        return text;
    }
    let extra: Vec<String> = duplicates.iter().map(|(k, v)| format!("{}:{v}", Value::String(k.clone()))).collect();
    match text.strip_suffix('}') {
        Some(open) if open.len() > 1 => format!("{open},{}}}", extra.join(",")),
        _ => format!("{{{}}}", extra.join(",")),
    }
}

/// The public key of `key` as PEM (SubjectPublicKeyInfo), the secret of the HS256 confusion.
fn public_pem(key: &SigningKey) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(key.public_spki_der());
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
}

/// Signs `claims` as `choice` says, under the issuer's header (`alg`, `kid`, `typ`) changed by
/// `header` (a `null` value removes a field), with `duplicates` repeated in the payload.
/// `issuer_key` is the issuer's current key;
/// `other` resolves `issuer:NAME` and, with `None`, gives a key no issuer publishes.
pub fn forge(
    claims: &Value,
    header: &Map<String, Value>,
    duplicates: &Map<String, Value>,
    choice: &KeyChoice,
    issuer_key: Option<&SigningKey>,
    other: impl FnOnce(Option<&str>) -> Option<SigningKey>,
) -> Result<String, String> {
    let generated;
    let (alg, key): (&str, Option<&SigningKey>) = match choice {
        KeyChoice::Issuer => ("RS256", Some(issuer_key.ok_or("the issuer has no signing key")?)),
        KeyChoice::None => ("none", None),
        KeyChoice::Hs256PublicKey => ("HS256", None),
        KeyChoice::Generated => {
            generated = other(None).ok_or("no unpublished key")?;
            ("RS256", Some(&generated))
        }
        KeyChoice::Issuer2(name) => {
            generated = other(Some(name)).ok_or_else(|| format!("no issuer named `{name}` with a signing key"))?;
            ("RS256", Some(&generated))
        }
    };
    let kid = match choice {
        KeyChoice::Issuer2(_) => key.map(|k| k.kid.clone()),
        _ => issuer_key.map(|k| k.kid.clone()),
    };
    let mut h = Map::new();
    h.insert("alg".into(), json!(alg));
    if let Some(kid) = kid {
        h.insert("kid".into(), json!(kid));
    }
    h.insert("typ".into(), json!("JWT"));
    for (k, v) in header {
        if v.is_null() {
            h.remove(k);
        } else {
            h.insert(k.clone(), v.clone());
        }
    }
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(Value::Object(h).to_string()), URL_SAFE_NO_PAD.encode(payload_text(claims, duplicates)));
    let signature = match choice {
        KeyChoice::None => Vec::new(),
        KeyChoice::Hs256PublicKey => {
            let secret = public_pem(issuer_key.ok_or("the issuer has no key to confuse")?);
            aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes()), input.as_bytes()).as_ref().to_vec()
        }
        _ => key.map(|k| k.sign_bytes(input.as_bytes())).unwrap_or_default(),
    };
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(token: &str) -> (Value, String, String) {
        let p: Vec<&str> = token.split('.').collect();
        let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p[0]).unwrap()).unwrap();
        (header, String::from_utf8(URL_SAFE_NO_PAD.decode(p[1]).unwrap()).unwrap(), p[2].to_string())
    }

    #[test]
    fn alg_none_has_no_signature_and_header_edits_apply() {
        let key = SigningKey::fixture("github-actions-1").unwrap();
        let header = Map::from_iter([("kid".to_string(), Value::Null), ("crit".to_string(), json!(["exp"]))]);
        let t = forge(&json!({"sub": "x"}), &header, &Map::new(), &KeyChoice::None, Some(&key), |_: Option<&str>| None).unwrap();
        let (h, payload, sig) = parts(&t);
        assert_eq!(h, json!({"alg": "none", "typ": "JWT", "crit": ["exp"]}));
        assert_eq!(payload, r#"{"sub":"x"}"#);
        assert!(sig.is_empty());
    }

    #[test]
    fn duplicated_claims_repeat_in_the_payload_text() {
        let key = SigningKey::fixture("github-actions-1").unwrap();
        let dup = Map::from_iter([("sub".to_string(), json!("repo:evil/x:ref:refs/heads/main"))]);
        let t = forge(&json!({"sub": "repo:acme/x:ref:refs/heads/main"}), &Map::new(), &dup, &KeyChoice::Issuer, Some(&key), |_: Option<&str>| None).unwrap();
        assert_eq!(parts(&t).1, r#"{"sub":"repo:acme/x:ref:refs/heads/main","sub":"repo:evil/x:ref:refs/heads/main"}"#);
        let decoded = crate::verify::jwt::decode(&t);
        assert!(decoded.is_err() || decoded.is_ok(), "whatever a parser makes of it, the token is well-formed base64");
    }

    #[test]
    fn the_confusion_token_is_hs256_keyed_with_the_public_pem() {
        let key = SigningKey::fixture("google-1").unwrap();
        let t = forge(&json!({"sub": "1"}), &Map::new(), &Map::new(), &KeyChoice::Hs256PublicKey, Some(&key), |_: Option<&str>| None).unwrap();
        let (h, _, sig) = parts(&t);
        assert_eq!(h["alg"], "HS256");
        let input = t.rsplit_once('.').unwrap().0;
        let expected = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public_pem(&key).as_bytes()), input.as_bytes());
        assert_eq!(sig, URL_SAFE_NO_PAD.encode(expected.as_ref()));
        assert!(public_pem(&key).starts_with("-----BEGIN PUBLIC KEY-----\nMIIBIjAN"), "{}", public_pem(&key));
    }

    #[test]
    fn a_key_choice_parses_from_its_cli_words() {
        assert_eq!("issuer:google".parse::<KeyChoice>().unwrap(), KeyChoice::Issuer2("google".into()));
        assert!("issuer:".parse::<KeyChoice>().is_err());
        assert_eq!("hs256-public-key".parse::<KeyChoice>().unwrap(), KeyChoice::Hs256PublicKey);
    }
}
