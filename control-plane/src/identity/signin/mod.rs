//! People signing in to the dashboard: through the company's OpenID provider
//! ([`oidc_rp`]), or in dev mode by picking a `[dev]` user. Either way the browser gets
//! an HttpOnly cookie naming a server-side sign-in that expires and can be signed out.
//! Every sign-in, failure and sign-out is an audit event.

pub(crate) mod dev_page;

pub mod cookies;
pub mod oidc_rp;
mod return_to;
pub mod saml_sp;

use super::auth::Principal;
use crate::identity::state::Identity;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub use cookies::{CSRF_HEADER, cookie};
use cookies::{LOGIN_COOKIE, SESSION_COOKIE, cookie_name, set_cookie, set_cross_site_cookie};
pub use oidc_rp::{After, RelyingParty, SignedIn};
pub use saml_sp::SamlSp;

/// Only paths on this site: never `//host` or `https://…` (no open redirect).
fn safe_return_to(r: Option<&str>) -> String {
    return_to::dashboard_path(r)
}

/// `?return_to=/path`
#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

/// `GET /auth/login`: off to the identity provider (or, in dev mode without one, the
/// page to pick a dev user).
pub async fn login(State(gw): State<Arc<Identity>>, Query(q): Query<LoginQuery>) -> Response {
    let return_to = safe_return_to(q.return_to.as_deref());
    if gw.relying_party.is_none()
        && let Some(sp) = &gw.saml
    {
        return match sp.begin(return_to).await {
            Ok((url, relay)) => {
                let mut resp = Redirect::to(&url).into_response();
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    set_cross_site_cookie(&gw.config, LOGIN_COOKIE, &relay, 600),
                );
                resp
            }
            Err(e) => signin_failed(&gw, &e.to_string()).await,
        };
    }
    let Some(rp) = &gw.relying_party else {
        return if gw.dev_mode {
            dev_page::render(&gw, &return_to, None)
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<h1>Sign-in is not configured</h1><p>Set <code>[oidc] issuer</code> and <code>client_id</code> in the control plane's config.</p>"),
            )
                .into_response()
        };
    };
    match rp.begin(After::Dashboard(return_to)).await {
        Ok((url, state)) => {
            let mut resp = Redirect::to(&url).into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&gw.config, LOGIN_COOKIE, &state, 600),
            );
            resp
        }
        Err(e) => signin_failed(&gw, &e.to_string()).await,
    }
}

/// The provider's redirect back: `code` and `state`, or `error`.
#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/callback`
pub async fn callback(
    State(gw): State<Arc<Identity>>,
    peer: super::authz::Peer,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(rp) = &gw.relying_party else {
        return (StatusCode::NOT_FOUND, "sign-in is not configured").into_response();
    };
    if let Some(err) = q.error {
        let e = oidc_rp::SigninError::Refused(format!(
            "{err}{}",
            q.error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ));
        return signin_failed(&gw, &e.to_string()).await;
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return signin_failed(&gw, "the identity provider sent no code").await;
    };
    let browser_state = cookie(&headers, &cookie_name(&gw.config, LOGIN_COOKIE));
    match rp.finish(&state, browser_state, &code).await {
        Ok(SignedIn {
            principal,
            after: After::Dashboard(return_to),
            ..
        }) => start(&gw, principal, "oidc", &return_to).await,
        Ok(SignedIn {
            principal,
            after: After::Authorize(request),
            refresh_token,
        }) => {
            super::authz::authorize::complete(
                &gw,
                &request,
                principal,
                refresh_token,
                &super::authz::source(&peer),
            )
            .await
        }
        Err(e) => signin_failed(&gw, &e.to_string()).await,
    }
}

/// The SAML IdP's answer, posted by the browser.
#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState", default)]
    relay_state: String,
}

/// `POST /saml/acs`: the assertion consumer service.
pub async fn saml_acs(
    State(gw): State<Arc<Identity>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AcsForm>,
) -> Response {
    let Some(sp) = &gw.saml else {
        return (StatusCode::NOT_FOUND, "SAML sign-in is not configured").into_response();
    };
    let browser = cookie(&headers, &cookie_name(&gw.config, LOGIN_COOKIE));
    let (assertion, principal, return_to) = match sp
        .finish(&form.saml_response, &form.relay_state, browser)
        .await
    {
        Ok(ok) => ok,
        Err(e) => return signin_failed(&gw, &e.to_string()).await,
    };
    match gw.store.first_use_of_saml_assertion(&assertion).await {
        Ok(true) => start(&gw, principal, "saml", &return_to).await,
        Ok(false) => signin_failed(&gw, &saml_sp::SamlError::Replayed.to_string()).await,
        Err(e) => signin_failed(&gw, &format!("the replay guard failed: {e}")).await,
    }
}

/// `GET /saml/metadata`: this service provider's metadata, for the IdP's administrator.
pub async fn saml_metadata(State(gw): State<Arc<Identity>>) -> Response {
    let Some(sp) = &gw.saml else {
        return (StatusCode::NOT_FOUND, "SAML sign-in is not configured").into_response();
    };
    match sp.metadata_xml().await {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Starts a dashboard sign-in for `principal` and sends the browser on.
async fn start(gw: &Identity, principal: Principal, via: &str, return_to: &str) -> Response {
    let hours = match (via, &gw.config.saml, &gw.config.oidc) {
        ("saml", Some(s), _) => s.browser_session_hours,
        (_, _, Some(o)) => o.browser_session_hours,
        _ => 8,
    };
    match gw.store.create_web_session(&principal, via, hours).await {
        Ok(value) => {
            gw.control_event(
                "signin",
                json!({ "user": principal.user, "groups": principal.groups, "via": via, "client": "dashboard" }),
            )
            .await;
            tracing::info!(user = %principal.user, via, "signed in to the dashboard");
            let mut resp = Redirect::to(return_to).into_response();
            let h = resp.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&gw.config, SESSION_COOKIE, &value, hours * 3600),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(&gw.config, LOGIN_COOKIE, "", 0),
            );
            resp
        }
        Err(e) => signin_failed(gw, &format!("the sign-in could not be stored: {e}")).await,
    }
}

async fn signin_failed(gw: &Identity, why: &str) -> Response {
    gw.control_event(
        "signin_failed",
        json!({ "client": "dashboard", "reason": why }),
    )
    .await;
    tracing::warn!(reason = why, "dashboard sign-in failed");
    (
        StatusCode::UNAUTHORIZED,
        Html(format!(
            "<!doctype html><title>Sign-in failed</title><h1>Sign-in failed</h1><p>{}</p><p><a href=\"/auth/login\">Try again</a></p>",
            crate::identity::html::escape(why)
        )),
    )
        .into_response()
}

/// `POST /auth/logout`
pub async fn logout(State(gw): State<Arc<Identity>>, headers: HeaderMap) -> Response {
    if headers.get(CSRF_HEADER).is_none() {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "send the X-Gatehouse-Request header" })),
        )
            .into_response();
    }
    if let Some(value) = cookie(&headers, &cookie_name(&gw.config, SESSION_COOKIE)) {
        match gw.store.revoke_web_session(value).await {
            Ok(Some(user)) => {
                gw.control_event("signout", json!({ "user": user, "client": "dashboard" }))
                    .await
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "could not record a sign-out"),
        }
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&gw.config, SESSION_COOKIE, "", 0),
    );
    resp
}

/// The dev login form's body.
#[derive(Deserialize)]
pub struct DevLoginForm {
    user: String,
    return_to: Option<String>,
    /// An MCP client's authorization request this sign-in completes.
    request: Option<String>,
}

/// `POST /auth/dev-login` (dev mode only): signs in as a `[dev]` user.
pub async fn dev_login(
    State(gw): State<Arc<Identity>>,
    peer: super::authz::Peer,
    headers: HeaderMap,
    axum::Form(form): axum::Form<DevLoginForm>,
) -> Response {
    if let Err(e) = gw.hosts.check(&headers) {
        return (StatusCode::FORBIDDEN, e).into_response();
    }
    if !gw.dev_mode {
        return (StatusCode::NOT_FOUND, "dev sign-in is off").into_response();
    }
    let Some(principal) = gw.auth.dev_user(&form.user) else {
        return signin_failed(&gw, &format!("`{}` is not a [dev] user", form.user)).await;
    };
    if let Some(request) = &form.request {
        if !super::authz::authorize::consent_matches(&gw, request, &headers) {
            return signin_failed(&gw, "this sign-in was not consented to in this browser").await;
        }
        return super::authz::authorize::complete(
            &gw,
            request,
            principal,
            None,
            &super::authz::source(&peer),
        )
        .await;
    }
    start(
        &gw,
        principal,
        "dev",
        &safe_return_to(form.return_to.as_deref()),
    )
    .await
}

/// What a signed-in person may see and do in the dashboard.
pub fn roles(gw: &Identity, p: &Principal) -> Vec<&'static str> {
    let member = |groups: &[String]| p.groups.iter().any(|g| groups.contains(g));
    let mut roles = vec!["engineer"];
    if member(&gw.config.roles.approver_groups) {
        roles.push("approver");
    }
    if member(&gw.config.roles.auditor_groups) {
        roles.push("auditor");
    }
    if member(&gw.config.admin_groups) {
        roles.push("admin");
    }
    roles
}
