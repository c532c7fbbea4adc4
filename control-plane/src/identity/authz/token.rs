//! `/oauth/token` and `/oauth/revoke`. A code is spent on first presentation whatever
//! happens next; presenting it again revokes the grant it made (RFC 6749 §4.1.2), as does
//! presenting a refresh token that was already rotated (OAuth 2.1 reuse detection).
//! Every refresh re-reads the grant, so a signed-out or revoked grant cannot refresh.

use super::cors::cors;
use super::error::not_configured;
use super::error::{OAuthError, OAuthErrorCode};
use super::issue::{TokenForm, client_id, issue, s256};
use super::peer::source;
use crate::identity::signin::oidc_rp::SigninError;
use crate::identity::state::Identity;
use crate::store::authz::{Grant, Redeemed};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use std::sync::Arc;

/// `POST /oauth/token`
pub async fn token(
    State(gw): State<Arc<Identity>>,
    peer: super::peer::Peer,
    headers: HeaderMap,
    axum::Form(form): axum::Form<TokenForm>,
) -> Response {
    if gw.auth_server().is_none() {
        return not_configured();
    }
    let src = source(&peer);
    match form.grant_type.as_deref() {
        Some("authorization_code") => authorization_code(&gw, &form, &headers, &src).await,
        Some("refresh_token") => refresh(&gw, &form, &headers, &src).await,
        Some(super::exchange_rules::GRANT_TYPE) => {
            super::exchange::exchange(&gw, &form, &src).await
        }
        Some(super::device_codes::GRANT_TYPE) => {
            super::device::token(&gw, &form, &headers, &src).await
        }
        other => OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            format!(
                "grant_type `{}` is not supported; use authorization_code, refresh_token or {}",
                other.unwrap_or(""),
                super::device_codes::GRANT_TYPE
            ),
        )
        .into_response(),
    }
}

async fn refuse(gw: &Identity, src: &str, grant_type: &str, client: &str, why: &str) -> Response {
    gw.auth_failure(
        src,
        serde_json::json!({ "stage": "token", "grant_type": grant_type, "client_id": client, "reason": why }),
    )
    .await;
    OAuthError::invalid_grant(why).into_response()
}

async fn authorization_code(
    gw: &Identity,
    form: &TokenForm,
    headers: &HeaderMap,
    src: &str,
) -> Response {
    let client = client_id(form, headers).unwrap_or_default();
    let (Some(code), Some(verifier)) = (&form.code, &form.code_verifier) else {
        return OAuthError::invalid_request("send code and code_verifier (PKCE)").into_response();
    };
    let c = match gw.store.redeem_code(code).await {
        Ok(Redeemed::Fresh(c)) => c,
        Ok(Redeemed::Replayed(grant)) => {
            gw.revoke_grant(&grant, "authorization code replayed", src)
                .await;
            return refuse(
                gw,
                src,
                "authorization_code",
                &client,
                "the authorization code was already used: the sign-in it made is revoked",
            )
            .await;
        }
        Ok(Redeemed::Unknown) => {
            return refuse(
                gw,
                src,
                "authorization_code",
                &client,
                "the authorization code is unknown or expired",
            )
            .await;
        }
        Err(e) => return OAuthError::from(e).into_response(),
    };
    if c.client_id != client {
        return refuse(
            gw,
            src,
            "authorization_code",
            &client,
            "the code was issued to another client",
        )
        .await;
    }
    if form.redirect_uri.as_deref() != Some(c.redirect_uri.as_str()) {
        return refuse(
            gw,
            src,
            "authorization_code",
            &client,
            "redirect_uri differs from the authorization request's",
        )
        .await;
    }
    if s256(verifier) != c.code_challenge {
        gw.revoke_grant(&c.grant_id, "PKCE verifier mismatch", src)
            .await;
        return refuse(
            gw,
            src,
            "authorization_code",
            &client,
            "the PKCE code_verifier does not match the code_challenge",
        )
        .await;
    }
    let grant = match gw.store.grant(&c.grant_id).await {
        Ok(Some(g)) if !g.revoked => g,
        Ok(_) => {
            return refuse(
                gw,
                src,
                "authorization_code",
                &client,
                "the sign-in was revoked",
            )
            .await;
        }
        Err(e) => return OAuthError::from(e).into_response(),
    };
    if form
        .resource
        .as_deref()
        .is_some_and(|r| r != grant.resource)
    {
        return OAuthError::invalid_target("resource differs from the authorization request's")
            .into_response();
    }
    issue(gw, &grant, src, "token_issued").await
}

async fn refresh(gw: &Identity, form: &TokenForm, headers: &HeaderMap, src: &str) -> Response {
    let client = client_id(form, headers).unwrap_or_default();
    let Some(token) = &form.refresh_token else {
        return OAuthError::invalid_request("send refresh_token").into_response();
    };
    let (grant_id, issued_to) = match gw.store.rotate_refresh_token(token).await {
        Ok(Redeemed::Fresh(x)) => x,
        Ok(Redeemed::Replayed(grant)) => {
            gw.revoke_grant(&grant, "refresh token reused", src).await;
            return refuse(
                gw,
                src,
                "refresh_token",
                &client,
                "the refresh token was already used: the sign-in it belongs to is revoked; sign in again",
            )
            .await;
        }
        Ok(Redeemed::Unknown) => {
            return refuse(
                gw,
                src,
                "refresh_token",
                &client,
                "the refresh token is unknown or expired; sign in again",
            )
            .await;
        }
        Err(e) => return OAuthError::from(e).into_response(),
    };
    if !client.is_empty() && client != issued_to {
        return refuse(
            gw,
            src,
            "refresh_token",
            &client,
            "the refresh token was issued to another client",
        )
        .await;
    }
    let mut grant = match gw.store.grant(&grant_id).await {
        Ok(Some(g)) if !g.revoked => g,
        Ok(_) => {
            return refuse(
                gw,
                src,
                "refresh_token",
                &client,
                "the sign-in was revoked or signed out; sign in again",
            )
            .await;
        }
        Err(e) => return OAuthError::from(e).into_response(),
    };
    if form
        .resource
        .as_deref()
        .is_some_and(|r| r != grant.resource)
    {
        return OAuthError::invalid_target("resource differs from the sign-in's").into_response();
    }
    if let Some(why) = super::grant_lifetime::ended(gw, &grant.id).await {
        gw.revoke_grant(&grant.id, &why, src).await;
        return refuse(gw, src, "refresh_token", &client, &why).await;
    }

    match recheck_person(gw, &mut grant).await {
        Ok(()) => {}
        Err(Recheck::Refused(why)) => {
            gw.revoke_grant(&grant.id, &why, src).await;
            return refuse(gw, src, "refresh_token", &client, &why).await;
        }
        // No token without the provider's word, but the sign-in survives an outage:
        // the refresh token stays usable for a retry.
        Err(Recheck::Unavailable(why)) => {
            if let Err(e) = gw.store.restore_refresh_token(token).await {
                tracing::error!(error = %e, "could not restore a refresh token after an identity provider outage");
            }
            return OAuthError::temporarily_unavailable(&why).into_response();
        }
    }
    issue(gw, &grant, src, "token_refreshed").await
}

/// Why a refresh's re-check of the person failed.
enum Recheck {
    /// The provider said no: the grant ends.
    Refused(String),
    /// The provider could not be asked: no token now, the grant stays.
    Unavailable(String),
}

/// Asks the identity provider about the grant's person again (when the sign-in left a
/// provider refresh token): refused there means refused here; new groups are taken.
async fn recheck_person(gw: &Identity, grant: &mut Grant) -> Result<(), Recheck> {
    let (Some(rp), Ok(Some(sealed))) = (
        gw.relying_party.as_ref(),
        gw.store.grant_idp_refresh(&grant.id).await,
    ) else {
        return Ok(());
    };
    let opened = match gw.auth_server().and_then(|az| az.cipher.as_ref()) {
        Some(c) => c.open(&grant.id, &sealed),
        None => Err(
            "the identity provider's refresh token kept for this sign-in cannot be decrypted: no [authz_store] encryption_key is configured; sign in again"
                .to_string(),
        ),
    };
    let idp_refresh = opened.map_err(Recheck::Refused)?;
    let (now, rotated) = match rp.recheck(&idp_refresh).await {
        Ok(x) => x,
        Err(SigninError::Provider(e)) => {
            return Err(Recheck::Unavailable(format!(
                "the identity provider cannot be asked about {} right now ({e}); try again shortly",
                grant.principal.user
            )));
        }
        Err(e) => {
            return Err(Recheck::Refused(format!(
                "the identity provider no longer signs {} in: {e}",
                grant.principal.user
            )));
        }
    };
    if let Some(r) = rotated {
        let _ = super::authorize::keep_idp_refresh(gw, &grant.id, Some(&r)).await;
    }
    if let Some(p) = now {
        if p.user != grant.principal.user {
            return Err(Recheck::Refused(
                "the identity provider names another person for this sign-in".into(),
            ));
        }
        if p.groups != grant.principal.groups {
            let _ = gw.store.set_grant_groups(&grant.id, &p.groups).await;
            grant.principal.groups = p.groups;
        }
    }
    Ok(())
}

/// The form of a revocation request (RFC 7009).
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
}

/// `POST /oauth/revoke`: a refresh token or one of our access tokens; its whole grant is
/// revoked (the person signs that client out). Unknown tokens are not an error (RFC 7009).
pub async fn revoke(
    State(gw): State<Arc<Identity>>,
    peer: super::peer::Peer,
    axum::Form(form): axum::Form<RevokeForm>,
) -> Response {
    let Some(az) = gw.auth_server() else {
        return not_configured();
    };
    let Some(token) = form.token.filter(|t| !t.is_empty()) else {
        return OAuthError::invalid_request("send token").into_response();
    };
    let src = source(&peer);
    let grant = match gw.store.refresh_token_grant(&token).await {
        Ok(Some(g)) => Some(g),
        Ok(None) => {
            // An access token: any of our audiences, even just expired.
            let base = gw.config.public_base();
            let mut audiences = vec![
                format!("{base}/mcp"),
                super::first_party::api_audience(&base),
            ];
            audiences.extend(
                gw.config
                    .servers
                    .iter()
                    .map(|s| format!("{base}/mcp/{}", s.name)),
            );
            az.keys
                .verify(&token, &audiences, chrono::Utc::now().timestamp())
                .ok()
                .map(|c| c.sid)
        }
        Err(e) => return OAuthError::from(e).into_response(),
    };
    if let Some(g) = grant {
        gw.revoke_grant(&g, "revoked by the client (RFC 7009)", &src)
            .await;
    }
    cors(StatusCode::OK.into_response())
}
