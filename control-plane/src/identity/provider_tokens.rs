//! What makes a provider's token an access token for a person at this gateway, beyond
//! its signature and audience. A token without the configured user claim is refused
//! rather than named by `sub` (an app-only client-credentials token would otherwise
//! sign in as a "person" named by an object id), and an ID token is never taken for an
//! access token: not one typed otherwise in its header, not one carrying a `nonce` (the
//! control plane's sign-in always sends one), not one for the sign-in client's audience
//! without the scope claim every access token has and no ID token does.

use super::authz::tokens::Refusal;
use crate::config::OidcConfig;
use serde_json::Value;

/// Header types an access token may carry (RFC 9068 `at+jwt`, or the generic `JWT`).
const ACCESS_TOKEN_TYPES: [&str; 3] = ["jwt", "at+jwt", "application/at+jwt"];

/// Refuses a verified token that is not a person's access token.
pub fn access_token_only(config: &OidcConfig, token: &str, claims: &Value) -> Result<(), Refusal> {
    if let Ok(header) = jsonwebtoken::decode_header(token)
        && let Some(typ) = header.typ
        && !ACCESS_TOKEN_TYPES.contains(&typ.to_ascii_lowercase().as_str())
    {
        return Err(Refusal::invalid(format!(
            "the token's type is `{typ}`, not an access token (at+jwt)"
        )));
    }
    if claims.get("nonce").is_some() {
        return Err(Refusal::invalid(
            "the token carries a nonce: it is an ID token, not an access token",
        ));
    }
    if let Some(client) = &config.client_id {
        let aud = &claims["aud"];
        let for_client = aud.as_str() == Some(client.as_str())
            || aud
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(client.as_str())));
        let scoped = claims.get("scp").is_some() || claims.get("scope").is_some();
        if for_client && !scoped {
            return Err(Refusal::invalid(format!(
                "the token is for the sign-in client `{client}` and carries no scope: it is an ID token, not an access token"
            )));
        }
    }
    if !claims[config.user_claim.as_str()].is_string() {
        return Err(Refusal::invalid(format!(
            "the token has no `{}` claim naming a person (user_claim); app-only tokens are not accepted",
            config.user_claim
        )));
    }
    Ok(())
}
