//! Who is asking, and whether they may. Every front end passes the `Authorization` value it
//! received (an HTTP `Authorization: Bearer` header, Flight's `authorization` metadata) to
//! [`super::Core::authenticate`], which resolves it once into a [`Caller`]; every rule about
//! what that caller sees and reads lives here, so HTTP, Flight and anything later share it.
//!
//! Scopes name catalogs: `catalog:<pattern>:read`, where the pattern is a dotted catalog name
//! (`example`: that catalog, its nested catalogs and their sources), a prefix ending in `*`
//! (`climate.*`: every catalog whose name starts with `climate.`), or `*` (everything). A
//! caller never learns names outside its scopes: such names answer 404 like names that do not
//! exist, and listings, search results and facet counts leave them out.

use std::sync::Arc;

use super::ServiceError;
use crate::catalog::CatalogError;
use crate::search::NameRule;

/// One `catalog:<pattern>:read` scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pattern: String,
}

impl Scope {
    /// Parses and checks a scope as written on `inlet token create --scope`.
    pub fn parse(text: &str) -> Result<Scope, String> {
        let bad = |why: &str| {
            format!("scope `{text}` {why}: write `catalog:<name>:read`, e.g. `catalog:climate.*:read`, `catalog:example:read` or `catalog:*:read`")
        };
        let mut parts = text.trim().splitn(3, ':');
        let (kind, pattern, action) = (parts.next(), parts.next(), parts.next());
        if kind != Some("catalog") {
            return Err(bad("does not start with `catalog:`"));
        }
        let pattern = pattern.unwrap_or("");
        if action != Some("read") {
            return Err(bad("has no `:read` action (the only one there is)"));
        }
        if pattern.is_empty() {
            return Err(bad("names no catalog"));
        }
        if pattern
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == ':')
        {
            return Err(bad("has spaces, `/` or `:` in its name"));
        }
        if pattern[..pattern.len() - 1].contains('*') {
            return Err(bad(
                "has a `*` before its end (only a trailing `*` is a wildcard)",
            ));
        }
        if pattern.starts_with('.') || pattern.contains("..") || pattern.ends_with('.') {
            return Err(bad("is not a dotted name"));
        }
        Ok(Scope {
            pattern: pattern.to_string(),
        })
    }

    /// The scope as written.
    pub fn as_text(&self) -> String {
        format!("catalog:{}:read", self.pattern)
    }

    /// The names this scope admits, as a rule (exact name, or a prefix).
    pub fn rule(&self) -> NameRule {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => NameRule {
                exact: None,
                prefix: prefix.to_string(),
            },
            None => NameRule {
                exact: Some(self.pattern.clone()),
                prefix: format!("{}.", self.pattern),
            },
        }
    }
}

/// A caller authenticated with a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub id: String,
    pub name: String,
    pub rules: Vec<NameRule>,
}

/// What a caller may see, once resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Grant {
    /// Not resolved (or not authenticated): nothing. A front end that forgot to authenticate
    /// fails closed.
    #[default]
    Nothing,
    /// Authentication is off: everything.
    Everything,
    Token(Arc<TokenGrant>),
}

#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The bearer token presented, if any.
    pub token: Option<String>,
    pub grant: Grant,
    /// The past catalog revision the caller asked for (`?ref=`); None: the current one.
    pub at: Option<super::snapshot::AtRevision>,
}

impl Caller {
    /// The caller of an `Authorization` header value (`Bearer <token>`; anything else is
    /// anonymous), not yet resolved: see [`super::Core::authenticate`].
    pub fn from_authorization(value: Option<&str>) -> Caller {
        let token = value
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Caller {
            token,
            grant: Grant::Nothing,
            at: None,
        }
    }

    /// A caller that may see everything (authentication off; the CLI).
    pub fn everything() -> Caller {
        Caller {
            token: None,
            grant: Grant::Everything,
            at: None,
        }
    }

    /// The id of the token the caller authenticated with.
    pub fn token_id(&self) -> Option<&str> {
        match &self.grant {
            Grant::Token(t) => Some(&t.id),
            _ => None,
        }
    }

    /// May the caller read the source (or see the catalog) of this full name?
    pub fn may_read(&self, name: &str) -> bool {
        match &self.grant {
            Grant::Nothing => false,
            Grant::Everything => true,
            Grant::Token(t) => t.rules.iter().any(|r| r.admits(name)),
        }
    }

    /// May the caller see that a catalog of this name exists: it is in scope, or something in
    /// scope is under it (so the caller can walk down to it).
    pub fn may_see(&self, name: &str) -> bool {
        if self.may_read(name) {
            return true;
        }
        let under = format!("{name}.");
        match &self.grant {
            Grant::Token(t) => t.rules.iter().any(|r| {
                r.exact.as_deref().is_some_and(|e| e.starts_with(&under))
                    || r.prefix.starts_with(&under)
            }),
            _ => false,
        }
    }

    /// Whether the caller may read everything (auth off, or a `catalog:*:read` token).
    pub fn sees_everything(&self) -> bool {
        match &self.grant {
            Grant::Nothing => false,
            Grant::Everything => true,
            Grant::Token(t) => t
                .rules
                .iter()
                .any(|r| r.exact.is_none() && r.prefix.is_empty()),
        }
    }

    /// Names visible to the caller, as SQL filters: None for all of them.
    pub fn visible(&self) -> Option<Vec<NameRule>> {
        match &self.grant {
            Grant::Nothing => Some(vec![]),
            Grant::Everything => None,
            Grant::Token(t) => Some(t.rules.clone()),
        }
    }

    /// An error as this caller may see it: a scoped caller gets no "did you mean" hints, which
    /// could name things outside its scopes.
    pub fn conceal(&self, e: ServiceError) -> ServiceError {
        match (&self.grant, e) {
            (Grant::Everything, e) => e,
            (_, ServiceError::Catalog(CatalogError::NotFound { name, .. })) => not_found(&name),
            (_, e) => e,
        }
    }
}

/// The answer for a name the caller may not see: the same as for a name that does not exist.
pub fn not_found(name: &str) -> ServiceError {
    ServiceError::Catalog(CatalogError::NotFound {
        name: name.to_string(),
        hint: String::new(),
    })
}

/// May `caller` read `source`? An unresolved caller is refused as unauthenticated; a name
/// outside the caller's scopes is "not found".
pub fn authorize(caller: &Caller, source: &str) -> Result<(), ServiceError> {
    match caller.grant {
        Grant::Nothing => Err(ServiceError::Unauthenticated(
            "this request carries no valid token: send `Authorization: Bearer <token>`".into(),
        )),
        _ if caller.may_read(source) => Ok(()),
        _ => Err(not_found(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(scopes: &[&str]) -> Caller {
        let rules = scopes
            .iter()
            .map(|s| Scope::parse(s).expect("scope").rule())
            .collect();
        Caller {
            token: Some("t".into()),
            grant: Grant::Token(Arc::new(TokenGrant {
                id: "id".into(),
                name: "n".into(),
                rules,
            })),
            at: None,
        }
    }

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
        assert!(authorize(&Caller::everything(), "example.trips").is_ok());
        assert!(
            authorize(&Caller::default(), "example.trips").is_err(),
            "an unresolved caller is refused"
        );
    }

    #[test]
    fn scopes_parse_strictly() {
        for ok in [
            "catalog:climate.*:read",
            "catalog:example:read",
            "catalog:*:read",
        ] {
            assert_eq!(Scope::parse(ok).expect(ok).as_text(), ok);
        }
        for bad in [
            "catalog:climate",
            "catalog::read",
            "source:x:read",
            "catalog:a*b:read",
            "catalog:a b:read",
            "catalog:x:write",
            "catalog:.x:read",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_admit_their_catalogs_and_nothing_else() {
        let c = token(&["catalog:climate.*:read", "catalog:example:read"]);
        assert!(c.may_read("climate.cmip6.tas"));
        assert!(c.may_read("example.trips"));
        assert!(
            c.may_read("example.regions.sales"),
            "nested catalogs are inside"
        );
        assert!(
            !c.may_read("examples.trips"),
            "a longer name is another catalog"
        );
        assert!(!c.may_read("climate"));
        assert!(c.may_see("climate"), "the way down to a scope is visible");
        assert!(!c.may_see("other"));
        assert!(matches!(
            authorize(&c, "other.x").expect_err("denied").kind(),
            super::super::ErrorKind::NotFound
        ));
        let all = token(&["catalog:*:read"]);
        assert!(all.may_read("anything.at.all"));
    }
}
