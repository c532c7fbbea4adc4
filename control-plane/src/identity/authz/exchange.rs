//! CI pipelines without a static key: token exchange (RFC 8693). A pipeline presents the
//! JWT its CI system gives it (GitHub Actions, GitLab, ... any OIDC issuer an admin lists
//! in `[[authz.trusted_issuers]]`, with the audience it must carry and the claims it must
//! have) and gets a short-lived Gatehouse access token for one resource, as the workload
//! the rules name. No refresh token: the pipeline exchanges again.

use super::error::OAuthError;
use super::error::not_configured;
use super::exchange_rules::{JWT_TYPES, claimed_issuer};
use super::issue::{TokenForm, access_token, token_response};
use super::tokens::random_secret;
use crate::identity::state::Identity;
use crate::store::authz::Grant;
use axum::response::{IntoResponse, Response};

/// The token-exchange grant.
pub async fn exchange(gw: &Identity, form: &TokenForm, src: &str) -> Response {
    let Some(az) = gw.auth_server() else {
        return not_configured();
    };
    let refuse = |why: String| async move {
        gw.auth_failure(
            src,
            serde_json::json!({ "stage": "token", "grant_type": "token-exchange", "reason": why }),
        )
        .await;
        OAuthError::invalid_grant(&why).into_response()
    };
    let Some(subject) = form.subject_token.as_deref() else {
        return OAuthError::invalid_request("send subject_token (your CI system's OIDC token)")
            .into_response();
    };
    if !form
        .subject_token_type
        .as_deref()
        .is_some_and(|t| JWT_TYPES.contains(&t))
    {
        return OAuthError::invalid_request(
            "subject_token_type must be urn:ietf:params:oauth:token-type:jwt",
        )
        .into_response();
    }
    let Some(resource) = form.resource.clone().filter(|r| {
        super::pages::valid_resource(gw, r)
            || *r == super::first_party::api_audience(&gw.config.public_base())
    }) else {
        let base = gw.config.public_base();
        return OAuthError::invalid_target(format!(
            "resource must name this gateway: {base}/mcp, {base}/mcp/SERVER or {base}/api"
        ))
        .into_response();
    };
    let iss = claimed_issuer(subject).unwrap_or_default();
    // Every rule for this issuer is tried (one per repository, say); the first whose
    // audience and required claims the token meets names the workload.
    let mut why = Vec::new();
    let mut matched = None;
    for (rules, verifier) in az.exchange.issuers.iter().filter(|(t, _)| t.issuer == iss) {
        let claims = match verifier
            .verify_claims(subject, std::slice::from_ref(&rules.audience))
            .await
        {
            Ok(c) => c,
            Err(r) => {
                why.push(r.reason);
                continue;
            }
        };
        let unmet: Vec<String> = rules
            .require
            .iter()
            .filter_map(|(claim, want)| {
                let got = claims[claim.as_str()]
                    .as_str()
                    .map(String::from)
                    .or_else(|| claims[claim.as_str()].as_i64().map(|n| n.to_string()))
                    .unwrap_or_default();
                (got != *want).then(|| format!("claim `{claim}` is `{got}`, not `{want}`"))
            })
            .collect();
        if unmet.is_empty() {
            matched = Some((rules, claims));
            break;
        }
        why.push(unmet.join(", "));
    }
    let Some((rules, claims)) = matched else {
        if why.is_empty() {
            return refuse(format!("issuer `{iss}` is not trusted for token exchange")).await;
        }
        return refuse(format!(
            "no trust rule for {iss} accepts this token: {}",
            why.join("; ")
        ))
        .await;
    };
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap_or(now);
    if !az.exchange.seen.first_use(subject, exp, now) {
        return refuse(format!(
            "this {iss} token was already exchanged; ask your CI system for a new one for each exchange"
        ))
        .await;
    }
    let Some(name) = claims[rules.user_claim.as_str()].as_str() else {
        return refuse(format!("the token has no `{}` claim", rules.user_claim)).await;
    };
    let grant = Grant {
        id: random_secret(),
        client_id: format!("token-exchange:{iss}"),
        principal: super::super::auth::Principal {
            user: format!("{}{name}", rules.user_prefix),
            groups: rules.groups.clone(),
        },
        resource,
        scope: super::tokens::SCOPE.into(),
        revoked: false,
    };
    if let Err(e) = gw.store.create_grant(&grant).await {
        return OAuthError::from(e).into_response();
    }
    gw.control_event(
        "token_exchanged",
        serde_json::json!({ "user": grant.principal.user, "groups": grant.principal.groups,
            "issuer": iss, "grant": grant.id, "resource": grant.resource, "source": src }),
    )
    .await;
    token_response(serde_json::json!({
        "access_token": access_token(gw, az, &grant),
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "token_type": "Bearer",
        "expires_in": gw.config.authz.access_token_secs,
        "scope": grant.scope,
    }))
}
