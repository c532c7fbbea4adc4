//! Issuing tokens, shared by every grant of `/oauth/token` (authorization code, refresh,
//! device code, token exchange): the form, the client's id, the access token and the
//! answer.

use super::cors::cors;
use super::error::{OAuthError, not_configured};
use super::tokens::{AccessClaims, random_secret};
use crate::identity::state::Identity;
use crate::store::authz::Grant;
use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The form of a token request (every grant type's fields).
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    /// The grant type.
    pub grant_type: Option<String>,
    /// The authorization code.
    pub code: Option<String>,
    /// The redirect URI of the authorization request.
    pub redirect_uri: Option<String>,
    /// The public client's id.
    pub client_id: Option<String>,
    /// The PKCE verifier.
    pub code_verifier: Option<String>,
    /// The refresh token.
    pub refresh_token: Option<String>,
    /// The resource (RFC 8707).
    pub resource: Option<String>,
    /// Token exchange (RFC 8693).
    pub subject_token: Option<String>,
    /// Token exchange: the subject token's type.
    pub subject_token_type: Option<String>,
    /// The device code (RFC 8628).
    pub device_code: Option<String>,
}

/// The S256 challenge of a PKCE verifier (RFC 7636).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The client id of a public client: the form's, or Basic auth's user name.
pub(super) fn client_id(form: &TokenForm, headers: &HeaderMap) -> Option<String> {
    if let Some(c) = &form.client_id {
        return Some(c.clone());
    }
    let basic = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split(':').next()?;
    Some(url_decode(user).unwrap_or_else(|| user.to_string()))
}

fn url_decode(s: &str) -> Option<String> {
    reqwest::Url::parse(&format!("http://x/?v={s}"))
        .ok()?
        .query_pairs()
        .next()
        .map(|(_, v)| v.into_owned())
}

/// A new access token for `grant` and a refresh token.
pub(super) async fn issue(gw: &Identity, grant: &Grant, src: &str, event: &str) -> Response {
    let Some(az) = gw.auth_server() else {
        return not_configured();
    };
    let refresh = random_secret();
    if let Err(e) = gw
        .store
        .create_refresh_token(
            &refresh,
            &grant.id,
            &grant.client_id,
            gw.config.authz.refresh_token_days,
        )
        .await
    {
        return OAuthError::from(e).into_response();
    }
    let access = access_token(gw, az, grant);
    let _ = gw.store.touch_authz_client(&grant.client_id).await;
    gw.control_event(
        event,
        serde_json::json!({ "user": grant.principal.user, "groups": grant.principal.groups,
            "client_id": grant.client_id, "grant": grant.id, "resource": grant.resource, "source": src }),
    )
    .await;
    token_response(serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": gw.config.authz.access_token_secs,
        "refresh_token": refresh,
        "scope": grant.scope,
    }))
}

/// A signed access token for a grant.
pub fn access_token(gw: &Identity, az: &super::server::AuthServer, grant: &Grant) -> String {
    let now = chrono::Utc::now().timestamp();
    az.keys.sign(&AccessClaims {
        iss: az.keys.issuer().to_string(),
        sub: grant.principal.user.clone(),
        aud: super::first_party::audiences(az.keys.issuer(), &grant.client_id, &grant.resource),
        exp: now + gw.config.authz.access_token_secs as i64,
        nbf: now,
        iat: now,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        groups: grant.principal.groups.clone(),
        client_id: grant.client_id.clone(),
        sid: grant.id.clone(),
        scope: grant.scope.clone(),
    })
}

/// A token endpoint success: JSON, never cached.
pub fn token_response(body: serde_json::Value) -> Response {
    let mut resp = Json(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    cors(resp)
}
