//! `/oauth/authorize`: an MCP client sends the person's browser here. The request is
//! checked (known client, registered redirect URI, PKCE S256, a `resource` naming this
//! gateway), then the person sees a consent page naming the client and where it will
//! send them: the control plane signs people in with its own client at the identity
//! provider, so without that page any site could ride on it (confused deputy). Only a
//! yes from the browser that saw the page (a cookie bound to this request, the page
//! unframeable) goes on to the provider's login; the finished login resumes here
//! ([`complete`]) and the client gets a single-use code, with `iss` (RFC 9207).

use super::super::auth::Principal;
use super::super::signin::cookies::{LOGIN_COOKIE, cookie, cookie_name, set_cookie};
use super::super::signin::dev_page;
use super::super::signin::oidc_rp::After;
use super::client_metadata::redirect_matches;
use super::clients::lookup;
use super::error::not_configured;
use super::pages::{
    CONSENT_COOKIE, add_pending, client_identity, consent_cookie, error_page, for_browser, harden,
    valid_resource,
};
use super::peer::source;
use super::pending::{Pending, REQUEST_TTL, Target};
use super::tokens::{SCOPE, random_secret};
use crate::identity::html;
use crate::identity::state::Identity;
use crate::store::authz::{Code, Grant};
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use std::sync::Arc;

/// The query of `GET /oauth/authorize`.
#[derive(Debug, Deserialize)]
pub struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    resource: Option<String>,
}

/// Sends the browser back to the client with `params` (plus `state` and `iss`).
fn back_to_client(
    gw: &Identity,
    redirect_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = reqwest::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "the redirect URI is not a URL");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &gw.config.public_base());
    }
    let mut resp = Redirect::to(url.as_str()).into_response();
    harden(resp.headers_mut());
    resp
}

/// `GET /oauth/authorize`
pub async fn authorize(
    State(gw): State<Arc<Identity>>,
    peer: super::peer::Peer,
    headers: HeaderMap,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let az = match for_browser(&gw, &headers) {
        Ok(az) => az,
        Err(refused) => return *refused,
    };
    let src = source(&peer);
    // Until the client and its redirect URI check out, errors stay on this page: a
    // redirect to an unchecked URI would make the control plane an open redirector.
    let Some(client_id) = q.client_id.as_deref() else {
        return error_page(StatusCode::BAD_REQUEST, "the request names no client_id");
    };
    let client = match lookup(&gw, client_id).await {
        Ok(c) => c,
        Err(e) => {
            gw.auth_failure(
                &src,
                serde_json::json!({ "stage": "authorize", "client_id": client_id, "reason": e }),
            )
            .await;
            return error_page(StatusCode::BAD_REQUEST, &e);
        }
    };
    let Some(redirect_uri) = q.redirect_uri.clone() else {
        return error_page(StatusCode::BAD_REQUEST, "the request names no redirect_uri");
    };
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect_matches(r, &redirect_uri))
    {
        let why = format!(
            "redirect URI `{redirect_uri}` is not registered for client `{}`",
            client.client_name
        );
        gw.auth_failure(
            &src,
            serde_json::json!({ "stage": "authorize", "client_id": client_id, "reason": why }),
        )
        .await;
        return error_page(StatusCode::BAD_REQUEST, &why);
    }
    let state = q.state.as_deref();
    let refuse = |error: &str, description: &str| {
        back_to_client(
            &gw,
            &redirect_uri,
            state,
            &[("error", error), ("error_description", description)],
        )
    };
    if q.response_type.as_deref() != Some("code") {
        return refuse(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    let challenge = q.code_challenge.clone().unwrap_or_default();
    if q.code_challenge_method.as_deref() != Some("S256")
        || challenge.len() < 43
        || challenge.len() > 128
    {
        return refuse(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        );
    }
    let Some(resource) = q.resource.clone().filter(|r| valid_resource(&gw, r)) else {
        return refuse(
            "invalid_target",
            &format!(
                "the resource parameter (RFC 8707) must name this gateway: {}/mcp or {}/mcp/SERVER",
                gw.config.public_base(),
                gw.config.public_base()
            ),
        );
    };
    if gw.relying_party.is_none() && !gw.dev_mode {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "people's sign-in is not configured: set [oidc] client_id",
        );
    }
    let pending = Pending::new(
        &client,
        &resource,
        Target::Client {
            redirect_uri: redirect_uri.clone(),
            state: q.state.clone(),
            code_challenge: challenge,
        },
    );
    let (id, secret) = match add_pending(az, pending) {
        Ok(added) => added,
        Err(page) => return *page,
    };
    let redirect_host = reqwest::Url::parse(&redirect_uri)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                format!(
                    "{h}{}",
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
        })
        .unwrap_or_default();
    let identity = client_identity(&client);
    let mut resp = Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Allow access? · Gatehouse</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;color:#1d2330}}\
         .box{{border:1px solid #d5dae3;border-radius:8px;padding:1rem 1.2rem}}button{{font:inherit;padding:.45rem 1rem;margin-right:.6rem;cursor:pointer}}</style></head>\
         <body><h1>Allow <span class=\"client\">{name}</span> to use Gatehouse as you?</h1><div class=\"box\">{identity}\
         <p>After you sign in it will be sent to <strong class=\"redirect-host\">{host}</strong> and may call <code>{resource}</code> \
         with your identity for up to {mins} minutes at a time, renewing until you sign out.{manage}</p></div>\
         <p>If you did not just start signing in to an MCP application, choose Deny.</p>\
         <form method=\"post\" action=\"/oauth/authorize/consent\"><input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow and sign in</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form></body></html>",
        name = html::escape(&client.client_name),
        host = html::escape(&redirect_host),
        resource = html::escape(&resource),
        mins = gw.config.authz.access_token_secs.div_ceil(60),
        manage = super::first_party::consent_note(&client.client_id),
        id = html::escape(&id),
    ))
    .into_response();
    let h = resp.headers_mut();
    harden(h);
    h.append(
        header::SET_COOKIE,
        consent_cookie(&gw, &secret, REQUEST_TTL.as_secs()),
    );
    resp
}

/// The consent form.
#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    request: String,
    decision: String,
}

/// `POST /oauth/authorize/consent`: the person's answer on the consent page.
pub async fn consent(
    State(gw): State<Arc<Identity>>,
    peer: super::peer::Peer,
    headers: HeaderMap,
    axum::Form(form): axum::Form<ConsentForm>,
) -> Response {
    let az = match for_browser(&gw, &headers) {
        Ok(az) => az,
        Err(refused) => return *refused,
    };
    let browser = cookie(&headers, &cookie_name(&gw.config, CONSENT_COOKIE)).map(str::to_string);
    let found = {
        let mut pending = az.pending.lock().unwrap_or_else(|e| e.into_inner());
        match pending.get_mut(&form.request) {
            Some(p)
                if p.started.elapsed() < REQUEST_TTL
                    && !p.consented
                    && browser.as_deref() == Some(p.consent_secret.as_str()) =>
            {
                p.consented = form.decision == "allow";
                Some((p.target.clone(), p.client_id.clone()))
            }
            _ => None,
        }
    };
    let Some((target, client_id)) = found else {
        gw.auth_failure(
            &source(&peer),
            serde_json::json!({ "stage": "consent", "reason": "the consent was not given on this browser's page, or it expired" }),
        )
        .await;
        return error_page(
            StatusCode::BAD_REQUEST,
            "this consent does not belong to this browser or has expired; start signing in again from your application",
        );
    };
    if form.decision != "allow" {
        az.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&form.request);
        let flow = match &target {
            Target::Client { .. } => "authorization_code",
            Target::Device { .. } => "device",
        };
        gw.control_event(
            "consent_denied",
            serde_json::json!({ "client_id": client_id, "flow": flow, "source": source(&peer) }),
        )
        .await;
        return match target {
            Target::Client {
                redirect_uri,
                state,
                ..
            } => back_to_client(
                &gw,
                &redirect_uri,
                state.as_deref(),
                &[
                    ("error", "access_denied"),
                    ("error_description", "the person denied access"),
                ],
            ),
            Target::Device { device_code_hash } => {
                super::device::denied(&gw, &device_code_hash).await
            }
        };
    }
    let Some(rp) = gw.relying_party.as_ref() else {
        // Dev mode without an identity provider: pick a [dev] user instead.
        let mut resp = dev_page::render(&gw, "/", Some(&form.request));
        harden(resp.headers_mut());
        return resp;
    };
    match rp.begin(After::Authorize(form.request)).await {
        Ok((url, login_state)) => {
            let mut resp = Redirect::to(&url).into_response();
            harden(resp.headers_mut());
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    &gw.config,
                    LOGIN_COOKIE,
                    &login_state,
                    REQUEST_TTL.as_secs(),
                ),
            );
            resp
        }
        Err(e) => error_page(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// Whether this browser's consent cookie belongs to consented request `request`.
pub fn consent_matches(gw: &Identity, request: &str, headers: &HeaderMap) -> bool {
    let Some(az) = gw.auth_server() else {
        return false;
    };
    let browser = cookie(headers, &cookie_name(&gw.config, CONSENT_COOKIE));
    az.pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(request)
        .is_some_and(|p| p.consented && browser == Some(p.consent_secret.as_str()))
}

/// The person signed in at the provider for authorization request `request`: make the
/// grant and a single-use code, and send the browser back to the client.
/// `idp_refresh_token` (when the provider gave one) is kept with the grant so every
/// refresh asks the provider about the person again.
pub async fn complete(
    gw: &Identity,
    request: &str,
    principal: Principal,
    idp_refresh_token: Option<String>,
    src: &str,
) -> Response {
    let Some(az) = gw.auth_server() else {
        return not_configured();
    };
    let Some(p) = az
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(request)
        .filter(|p| p.consented && p.started.elapsed() < REQUEST_TTL)
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "this sign-in request has expired; start again from your application",
        );
    };
    let grant = Grant {
        id: random_secret(),
        client_id: p.client_id.clone(),
        principal: principal.clone(),
        resource: p.resource.clone(),
        scope: SCOPE.into(),
        revoked: false,
    };
    let stored = match gw.store.create_grant(&grant).await {
        Ok(()) => keep_idp_refresh(gw, &grant.id, idp_refresh_token.as_deref()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    let (redirect_uri, state, code_challenge) = match p.target {
        Target::Client {
            redirect_uri,
            state,
            code_challenge,
        } => (redirect_uri, state, code_challenge),
        Target::Device { device_code_hash } => {
            return super::device::approved(gw, &device_code_hash, &grant, &p.client_name, src)
                .await;
        }
    };
    let code = random_secret();
    let stored = gw
        .store
        .create_code(
            &code,
            &Code {
                grant_id: grant.id.clone(),
                client_id: p.client_id.clone(),
                redirect_uri: redirect_uri.clone(),
                code_challenge,
            },
            gw.config.authz.code_secs,
        )
        .await;
    if let Err(e) = stored {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    gw.control_event(
        "signin",
        serde_json::json!({ "user": principal.user, "groups": principal.groups, "via": "oidc",
            "client": p.client_name, "client_id": p.client_id, "resource": p.resource, "source": src }),
    )
    .await;
    let mut resp = back_to_client(gw, &redirect_uri, state.as_deref(), &[("code", &code)]);
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&gw.config, LOGIN_COOKIE, "", 0),
    );
    h.append(header::SET_COOKIE, consent_cookie(gw, "", 0));
    resp
}

/// Keeps the provider's refresh token of a grant, sealed (see [`super::at_rest`]); without
/// a configured key it is not kept (refreshes then do not ask the provider again).
pub(super) async fn keep_idp_refresh(
    gw: &Identity,
    grant_id: &str,
    token: Option<&str>,
) -> Result<(), crate::store::StoreError> {
    let Some(token) = token else {
        return Ok(());
    };
    match gw.auth_server().and_then(|az| az.cipher.as_ref()) {
        Some(c) => {
            gw.store
                .set_grant_idp_refresh(grant_id, Some(&c.seal(grant_id, token)))
                .await
        }
        None => {
            tracing::warn!(
                "the identity provider gave a refresh token but no [authz_store] encryption_key (or authz.signing_key) is configured: it is not kept"
            );
            Ok(())
        }
    }
}
