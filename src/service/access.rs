//! Who is asking, and whether they may. Every front end passes the caller it parsed (an HTTP
//! `Authorization: Bearer` header, Flight's `authorization` metadata) to the core, which decides
//! here, once. Tokens with scopes arrive with the SQL state; until then the check admits every
//! caller, and this is the one place that will change.

use super::ServiceError;

#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The bearer token presented, if any.
    pub token: Option<String>,
}

impl Caller {
    /// The caller of an `Authorization` header value (`Bearer <token>`; anything else is anonymous).
    pub fn from_authorization(value: Option<&str>) -> Caller {
        let token = value
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Caller { token }
    }
}

/// May `caller` see and read `source`? Open until tokens exist.
pub fn authorize(_caller: &Caller, _source: &str) -> Result<(), ServiceError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_and_anything_else_is_anonymous() {
        assert_eq!(
            Caller::from_authorization(Some("Bearer abc"))
                .token
                .as_deref(),
            Some("abc")
        );
        assert!(Caller::from_authorization(Some("Basic abc"))
            .token
            .is_none());
        assert!(Caller::from_authorization(None).token.is_none());
        assert!(authorize(&Caller::default(), "example.trips").is_ok());
    }
}
