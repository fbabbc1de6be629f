//! Bearer tokens with scopes. The configuration holds each token's SHA-256, never the
//! token; a request's token is hashed and looked up. With no tokens configured the
//! server listens on loopback only (the configuration refuses anything else) and every
//! caller may do everything.

use serde::Serialize;

/// What a token lets its caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Check handoffs: `/v1/check`, `/v1/seams/…`, the guardrail adapters.
    Check,
    /// Start, read and resume pipeline runs.
    Run,
    /// List and decide reviews.
    Review,
    /// Read only: the report, the review queue, runs, and the reviewers' page.
    View,
    /// Everything: reload the configuration, read `/metrics`, and all the others.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Check,
        Scope::Run,
        Scope::Review,
        Scope::View,
        Scope::Admin,
    ];

    /// What may read the reviewers' page: any scope.
    pub const READ: [Scope; 4] = [Scope::View, Scope::Check, Scope::Run, Scope::Review];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Check => "check",
            Scope::Run => "run",
            Scope::Review => "review",
            Scope::View => "view",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A configured caller.
#[derive(Debug, Clone)]
pub struct Token {
    pub name: String,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    pub scopes: Vec<Scope>,
}

/// Why a request may not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Bearer …` header, or not that shape.
    Missing,
    /// A token no configured caller has.
    Unknown,
    /// A known caller without the scope.
    Scope { token: String, needs: Scope },
}

/// Who is calling: `None` when no tokens are configured (loopback only).
pub fn authorize(
    tokens: &[Token],
    header: Option<&str>,
    needs: Scope,
) -> Result<Option<String>, Denied> {
    authorize_any(tokens, header, &[needs])
}

/// [`authorize`] for a caller that needs any one of `scopes` (`admin` always does).
pub fn authorize_any(
    tokens: &[Token],
    header: Option<&str>,
    scopes: &[Scope],
) -> Result<Option<String>, Denied> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let presented = header
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Denied::Missing)?;
    let hash = seam_types::sha256_hex(presented.as_bytes());
    let token = tokens
        .iter()
        .find(|t| t.sha256 == hash)
        .ok_or(Denied::Unknown)?;
    if token.scopes.contains(&Scope::Admin) || scopes.iter().any(|s| token.scopes.contains(s)) {
        Ok(Some(token.name.clone()))
    } else {
        Err(Denied::Scope {
            token: token.name.clone(),
            needs: scopes.first().copied().unwrap_or(Scope::Admin),
        })
    }
}

/// A new random token (`seam-` and 64 hex digits) and its SHA-256.
pub fn new_token() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let token = format!(
        "seam-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let hash = seam_types::sha256_hex(token.as_bytes());
    Ok((token, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Vec<Token> {
        vec![Token {
            name: "ci".into(),
            sha256: seam_types::sha256_hex(b"secret"),
            scopes: vec![Scope::Check],
        }]
    }

    #[test]
    fn a_token_is_found_by_its_hash_and_needs_the_scope() {
        let t = tokens();
        assert_eq!(
            authorize(&t, Some("Bearer secret"), Scope::Check),
            Ok(Some("ci".into()))
        );
        assert_eq!(
            authorize(&t, Some("Bearer secret"), Scope::Review),
            Err(Denied::Scope {
                token: "ci".into(),
                needs: Scope::Review
            })
        );
        assert_eq!(
            authorize(&t, Some("Bearer wrong"), Scope::Check),
            Err(Denied::Unknown)
        );
        for header in [
            None,
            Some(""),
            Some("Bearer "),
            Some("Basic c2VjcmV0"),
            Some("secret"),
        ] {
            assert_eq!(
                authorize(&t, header, Scope::Check),
                Err(Denied::Missing),
                "{header:?}"
            );
        }
        assert_eq!(authorize(&[], None, Scope::Admin), Ok(None));
    }

    #[test]
    fn new_tokens_differ_and_hash_to_what_the_file_holds() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 64);
        assert_eq!(ha, seam_types::sha256_hex(a.as_bytes()));
    }
}
