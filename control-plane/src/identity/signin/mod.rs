//! People signing in to the dashboard: through the company's OpenID provider
//! ([`oidc_rp`]), or in dev mode by picking a `[dev]` user. Either way the browser gets
//! an HttpOnly cookie naming a server-side sign-in that expires and can be signed out.
//! Every sign-in, failure and sign-out is an audit event.

mod dev_page;
pub use dev_page::escape;

/// The dev sign-in page completing an MCP client's consented authorization request.
pub fn dev_page(gw: &Gateway, return_to: &str, request: &str) -> Response {
    dev_page::render(gw, return_to, Some(request))
}
pub mod oidc_rp;
mod return_to;
pub mod saml_sp;

use super::auth::Principal;
use crate::gateway::Gateway;
use crate::gateway::recording::gateway_event;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub use oidc_rp::{After, RelyingParty, SignedIn};
pub use saml_sp::SamlSp;

/// The header every cookie-signed-in change must carry: a page on another site cannot
/// set it without a CORS preflight, which the control plane never grants.
pub const CSRF_HEADER: &str = "x-gatehouse-request";

/// Cookie names: `__Host-` (Secure, whole host, no Domain) when served over HTTPS.
pub(crate) fn cookie_name(gw: &Gateway, base: &str) -> String {
    if gw.config.public_base().starts_with("https://") {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

pub(crate) fn set_cookie(gw: &Gateway, base: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    cookie_header(gw, base, value, max_age_secs, "Lax")
}

/// A cookie the IdP's cross-site POST to the ACS must carry back: `SameSite=None` over
/// HTTPS (Lax would withhold it); over plain HTTP (loopback tests, same site) Lax works.
fn set_cross_site_cookie(gw: &Gateway, base: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let same_site = if gw.config.public_base().starts_with("https://") {
        "None"
    } else {
        "Lax"
    };
    cookie_header(gw, base, value, max_age_secs, same_site)
}

fn cookie_header(
    gw: &Gateway,
    base: &str,
    value: &str,
    max_age_secs: u64,
    same_site: &str,
) -> HeaderValue {
    let secure = if gw.config.public_base().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let v = format!(
        "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age_secs}{secure}",
        cookie_name(gw, base)
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

/// The value of one cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

const SESSION_COOKIE: &str = "gatehouse";
pub(crate) const LOGIN_COOKIE: &str = "gatehouse-login";

impl Gateway {
    /// The person signed in to the dashboard by this request's cookie, if any.
    pub async fn cookie_principal(&self, headers: &HeaderMap) -> Option<Principal> {
        let value = cookie(headers, &cookie_name(self, SESSION_COOKIE))?;
        match self.store.web_session(value).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read dashboard sign-ins; treating the request as signed out");
                None
            }
        }
    }

    /// Records something the control plane itself did or refused (a sign-in, a failure, a
    /// sign-out, an admin's decision) in the day's control record.
    pub(crate) async fn control_event(&self, kind: &str, detail: serde_json::Value) {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let id = format!("control-{day}");
        if let Err(e) = self.store.ensure_control_session(&id).await {
            tracing::error!(error = %e, "cannot open the control record");
            return;
        }
        if let Err(e) = self
            .store
            .record(vec![gateway_event(&id, kind, detail)])
            .await
        {
            tracing::error!(error = %e, kind, "cannot record a control-plane event");
        }
    }
}

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
pub async fn login(State(gw): State<Arc<Gateway>>, Query(q): Query<LoginQuery>) -> Response {
    let return_to = safe_return_to(q.return_to.as_deref());
    if gw.relying_party.is_none()
        && let Some(sp) = &gw.saml
    {
        return match sp.begin(return_to).await {
            Ok((url, relay)) => {
                let mut resp = Redirect::to(&url).into_response();
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    set_cross_site_cookie(&gw, LOGIN_COOKIE, &relay, 600),
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
                set_cookie(&gw, LOGIN_COOKIE, &state, 600),
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
    State(gw): State<Arc<Gateway>>,
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
    let browser_state = cookie(&headers, &cookie_name(&gw, LOGIN_COOKIE));
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
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AcsForm>,
) -> Response {
    let Some(sp) = &gw.saml else {
        return (StatusCode::NOT_FOUND, "SAML sign-in is not configured").into_response();
    };
    let browser = cookie(&headers, &cookie_name(&gw, LOGIN_COOKIE));
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
pub async fn saml_metadata(State(gw): State<Arc<Gateway>>) -> Response {
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
async fn start(gw: &Gateway, principal: Principal, via: &str, return_to: &str) -> Response {
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
                set_cookie(gw, SESSION_COOKIE, &value, hours * 3600),
            );
            h.append(header::SET_COOKIE, set_cookie(gw, LOGIN_COOKIE, "", 0));
            resp
        }
        Err(e) => signin_failed(gw, &format!("the sign-in could not be stored: {e}")).await,
    }
}

async fn signin_failed(gw: &Gateway, why: &str) -> Response {
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
            dev_page::escape(why)
        )),
    )
        .into_response()
}

/// `POST /auth/logout`
pub async fn logout(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if headers.get(CSRF_HEADER).is_none() {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "send the X-Gatehouse-Request header" })),
        )
            .into_response();
    }
    if let Some(value) = cookie(&headers, &cookie_name(&gw, SESSION_COOKIE)) {
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
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&gw, SESSION_COOKIE, "", 0));
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
    State(gw): State<Arc<Gateway>>,
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
pub fn roles(gw: &Gateway, p: &Principal) -> Vec<&'static str> {
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
