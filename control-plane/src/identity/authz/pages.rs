//! What the consent pages of `/oauth/authorize` and the device flow share: the pending
//! request table, error pages, how a client is named, browser hardening headers and
//! the consent cookie.

use super::error::not_configured;
use super::pending::{Pending, REQUEST_TTL};
use super::server::AuthServer;
use super::tokens::random_secret;
use crate::identity::html;
use crate::identity::signin::cookies::set_cookie;
use crate::identity::state::Identity;
use crate::store::authz::AuthzClient;
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

/// The cookie tying a consent page to the browser that saw it.
pub(super) const CONSENT_COOKIE: &str = "gatehouse-consent";

/// Keeps `p` until the person consents and signs in; returns its id and the consent
/// cookie's secret, or the page to show when too many sign-ins are in progress.
pub(super) fn add_pending(az: &AuthServer, p: Pending) -> Result<(String, String), Box<Response>> {
    let id = random_secret();
    let secret = p.consent_secret.clone();
    let mut pending = az.pending.lock().unwrap_or_else(|e| e.into_inner());
    pending.retain(|_, p| p.started.elapsed() < REQUEST_TTL);
    if pending.len() > 10_000 {
        return Err(Box::new(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sign-ins in progress; try again in a few minutes",
        )));
    }
    pending.insert(id.clone(), p);
    Ok((id, secret))
}

pub(super) fn error_page(status: StatusCode, what: &str) -> Response {
    let mut resp = (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in refused · Gatehouse</title></head>\
             <body><h1>This sign-in request was refused</h1><p>{}</p><p>Nothing was sent back to the application.</p></body></html>",
            html::escape(what)
        )),
    )
        .into_response();
    harden(resp.headers_mut());
    resp
}

/// What the consent page can say about who `client` is (HTML).
pub(super) fn client_identity(client: &AuthzClient) -> String {
    if client.source == "metadata_document" {
        format!(
            "<p>Identified by its published document <code>{}</code>.</p>",
            html::escape(&client.client_id)
        )
    } else {
        "<p>This application registered itself; Gatehouse cannot vouch for its name.</p>"
            .to_string()
    }
}

/// The authorization server, for a page a browser opens: refused (the answer boxed) when
/// client sign-in is not configured or the request names another host.
pub(super) fn for_browser<'a>(
    gw: &'a Identity,
    headers: &HeaderMap,
) -> Result<&'a super::server::AuthServer, Box<Response>> {
    let az = gw.auth_server().ok_or_else(|| Box::new(not_configured()))?;
    gw.hosts
        .check(headers)
        .map_err(|e| Box::new(error_page(StatusCode::FORBIDDEN, &e)))?;
    Ok(az)
}

/// No framing, no caching, no referrer: for every page of the sign-in.
pub(super) fn harden(h: &mut HeaderMap) {
    h.insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The audiences a `resource` may name: `{public_url}/mcp` or `{public_url}/mcp/{server}`.
pub fn valid_resource(gw: &Identity, resource: &str) -> bool {
    let base = format!("{}/mcp", gw.config.public_base());
    resource == base
        || resource
            .strip_prefix(&base)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|s| gw.config.server(s).is_some())
}

/// The consent cookie: `__Host-` on HTTPS, HttpOnly, SameSite=Lax (it must come along on
/// the form post and the provider's top-level redirect back, never on a cross-site
/// sub-request).
pub(super) fn consent_cookie(gw: &Identity, value: &str, max_age: u64) -> HeaderValue {
    set_cookie(&gw.config, CONSENT_COOKIE, value, max_age)
}
