//! The device authorization grant (RFC 8628), for machines without a browser
//! (`gatehouse login --device`, a CI runner set up by hand, a server over SSH). The device
//! asks `POST /oauth/device_authorization` for a device code (which it polls the token
//! endpoint with) and a short user code (which the person types on another machine at
//! `/oauth/device`). The verification page then shows the same consent page as the code
//! flow, with the same protections (unframeable, consent bound to this browser by a
//! cookie, CSRF-checked forms), and the person signs in through the same login at the
//! identity provider ([`super::authorize::complete`] finishes both flows).
//!
//! User codes are 8 letters from an alphabet without vowels or look-alikes (20^8, about
//! 2^34.6), stored as digests, valid 10 minutes; each source address gets
//! `device_flow.max_wrong_codes` wrong tries per 15 minutes.

use super::clients::lookup;
use super::device_codes::{GRANT_TYPE, new_user_code, normalize_user_code};
use super::error::not_configured;
use super::error::{OAuthError, OAuthErrorCode};
use super::issue::{TokenForm, client_id, issue};
use super::pages::{
    add_pending, client_identity, consent_cookie, error_page, for_browser, harden, valid_resource,
};
use super::peer::{Peer, source};
use super::pending::{REQUEST_TTL, Target};
use super::tokens::{SCOPE, random_secret};
use crate::identity::html;
use crate::identity::signin::cookies::{LOGIN_COOKIE, cookie, cookie_name, set_cookie};
use crate::identity::state::Identity;
use crate::store::authz::{DevicePoll, Grant, NewDeviceCode};
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use std::sync::Arc;

/// The cookie carrying the verification form's CSRF token.
const FORM_COOKIE: &str = "gatehouse-device";

/// The device's request.
#[derive(Debug, Deserialize)]
pub struct DeviceAuthorizationForm {
    client_id: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
}

/// `POST /oauth/device_authorization` (RFC 8628 §3.1).
pub async fn device_authorization(
    State(gw): State<Arc<Identity>>,
    peer: Peer,
    axum::Form(form): axum::Form<DeviceAuthorizationForm>,
) -> Response {
    let Some(az) = gw.auth_server() else {
        return not_configured();
    };
    let src = source(&peer);
    // Windows that are over start again (a limited source is not limited for ever).
    let _ = az.device_requests.take_suppressed(false);
    if az.device_requests.admit(&src) == super::failures::Admit::Suppress {
        return OAuthError::temporarily_unavailable(
            "too many device sign-ins from this address; try again in a minute",
        )
        .with_status(StatusCode::TOO_MANY_REQUESTS)
        .into_response();
    }
    let Some(client_id) = form.client_id.filter(|c| !c.is_empty()) else {
        return OAuthError::invalid_request("send client_id").into_response();
    };
    let client = match lookup(&gw, &client_id).await {
        Ok(c) => c,
        Err(e) => {
            gw.auth_failure(
                &src,
                serde_json::json!({ "stage": "device_authorization", "client_id": client_id, "reason": e }),
            )
            .await;
            return OAuthError::invalid_client(&e).into_response();
        }
    };
    if !client.grant_types.iter().any(|g| g == GRANT_TYPE) {
        return OAuthError::new(OAuthErrorCode::UnauthorizedClient, format!(
                "client `{client_id}` did not register the device grant: register it with grant_types including {GRANT_TYPE}"
            )).into_response();
    }
    if let Some(scope) = &form.scope
        && scope.split_whitespace().any(|s| s != SCOPE)
    {
        return OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("the only scope offered is `{SCOPE}`"),
        )
        .into_response();
    }
    let Some(resource) = form.resource.filter(|r| valid_resource(&gw, r)) else {
        let base = gw.config.public_base();
        return OAuthError::invalid_target(format!(
                "the resource parameter (RFC 8707) must name this gateway: {base}/mcp or {base}/mcp/SERVER"
            )).into_response();
    };
    if gw.relying_party.is_none() && !gw.dev_mode {
        return OAuthError::temporarily_unavailable(
            "people's sign-in is not configured: set [oidc] client_id",
        )
        .into_response();
    }
    let cfg = &gw.config.device_flow;
    let device_code = random_secret();
    let mut user_code = None;
    for _ in 0..5 {
        let candidate = new_user_code();
        let normalized = normalize_user_code(&candidate).unwrap_or_default();
        match gw
            .store
            .create_device_code(&NewDeviceCode {
                device_code: &device_code,
                user_code: &normalized,
                client_id: &client.client_id,
                resource: &resource,
                scope: SCOPE,
                secs: cfg.code_secs,
                interval: cfg.interval_secs,
            })
            .await
        {
            Ok(true) => {
                user_code = Some(candidate);
                break;
            }
            Ok(false) => continue,
            Err(e) => return OAuthError::from(e).into_response(),
        }
    }
    let Some(user_code) = user_code else {
        return OAuthError::temporarily_unavailable("no free user code; try again").into_response();
    };
    let _ = gw.store.touch_authz_client(&client.client_id).await;
    gw.control_event(
        "device_authorization",
        serde_json::json!({ "client_id": client.client_id, "client": client.client_name,
            "resource": resource, "source": src }),
    )
    .await;
    let base = gw.config.public_base();
    super::issue::token_response(serde_json::json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": format!("{base}/oauth/device"),
        "verification_uri_complete": format!("{base}/oauth/device?user_code={user_code}"),
        "expires_in": cfg.code_secs,
        "interval": cfg.interval_secs,
    }))
}

/// A page of the verification flow, hardened like the consent page.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let mut resp = (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Gatehouse</title>\
             <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;color:#1d2330}}\
             .box{{border:1px solid #d5dae3;border-radius:8px;padding:1rem 1.2rem}}input{{font:1.4rem monospace;letter-spacing:.15rem;padding:.3rem;width:11rem}}\
             button{{font:inherit;padding:.45rem 1rem;margin-right:.6rem;cursor:pointer}}</style></head><body>{body}</body></html>",
            title = html::escape(title),
        )),
    )
        .into_response();
    harden(resp.headers_mut());
    resp
}

/// The code-entry form (prefilled when the device's link carried the code), with a
/// fresh CSRF token in a cookie and the form.
fn entry_form(gw: &Identity, status: StatusCode, prefill: &str, note: &str) -> Response {
    let csrf = random_secret();
    let mut resp = page(
        status,
        "Sign in a device",
        &format!(
            "<h1>Sign in a device</h1>{note}<p>Enter the code your device shows.</p>\
             <form method=\"post\" action=\"/oauth/device\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <p><input name=\"user_code\" value=\"{code}\" autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" placeholder=\"XXXX-XXXX\"></p>\
             <button type=\"submit\">Continue</button></form>",
            code = html::escape(prefill),
        ),
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&gw.config, FORM_COOKIE, &csrf, REQUEST_TTL.as_secs()),
    );
    resp
}

/// `?user_code=...` (from `verification_uri_complete`).
#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    user_code: Option<String>,
}

/// `GET /oauth/device`: where the person types the code.
pub async fn verify_page(
    State(gw): State<Arc<Identity>>,
    headers: HeaderMap,
    Query(q): Query<VerifyQuery>,
) -> Response {
    if let Err(refused) = for_browser(&gw, &headers) {
        return *refused;
    }
    let prefill: String = q
        .user_code
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(12)
        .collect();
    entry_form(&gw, StatusCode::OK, &prefill, "")
}

/// The code-entry form.
#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    user_code: String,
    #[serde(default)]
    csrf: String,
}

/// Records a refused code form (`stage: device_verify`) from `src`, with the tries the
/// address has left when a code was checked.
async fn verify_refused(gw: &Identity, src: &str, reason: &str, tries_left: Option<u32>) {
    let mut detail = serde_json::json!({ "stage": "device_verify", "reason": reason });
    if let Some(left) = tries_left {
        detail["tries_left"] = left.into();
    }
    gw.auth_failure(src, detail).await;
}

/// `POST /oauth/device`: the typed code; on a match, the consent page naming the client.
pub async fn verify(
    State(gw): State<Arc<Identity>>,
    peer: Peer,
    headers: HeaderMap,
    axum::Form(form): axum::Form<VerifyForm>,
) -> Response {
    let az = match for_browser(&gw, &headers) {
        Ok(az) => az,
        Err(refused) => return *refused,
    };
    let src = source(&peer);
    let browser = cookie(&headers, &cookie_name(&gw.config, FORM_COOKIE));
    if form.csrf.is_empty() || browser != Some(form.csrf.as_str()) {
        verify_refused(
            &gw,
            &src,
            "the code form was not sent from this browser's page (CSRF check)",
            None,
        )
        .await;
        return error_page(
            StatusCode::BAD_REQUEST,
            "this form was not sent from the Gatehouse page in this browser; open the address your device shows and type the code there",
        );
    }
    if az.wrong_user_codes.blocked(&src) {
        verify_refused(
            &gw,
            &src,
            "too many wrong user codes: refused without checking",
            None,
        )
        .await;
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong codes",
            "<h1>Too many wrong codes</h1><p>Too many wrong codes were typed from this address. Wait 15 minutes, then start again on your device.</p>",
        );
    }
    let found = match normalize_user_code(&form.user_code) {
        Some(code) => match gw.store.pending_device_request(&code).await {
            Ok(r) => r,
            Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        None => None,
    };
    let Some(request) = found else {
        let left = az.wrong_user_codes.wrong(&src);
        verify_refused(
            &gw,
            &src,
            "unknown, expired or already used user code",
            Some(left),
        )
        .await;
        return entry_form(
            &gw,
            StatusCode::BAD_REQUEST,
            "",
            &format!(
                "<p class=\"error\"><strong>That code is not valid.</strong> It may have expired or been used already: check the code on your device. {left} tries left.</p>"
            ),
        );
    };
    let client = match lookup(&gw, &request.client_id).await {
        Ok(c) => c,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let pending = super::pending::Pending::new(
        &client,
        &request.resource,
        Target::Device {
            device_code_hash: request.device_code_hash.clone(),
        },
    );
    let (id, secret) = match add_pending(az, pending) {
        Ok(added) => added,
        Err(p) => return *p,
    };
    let identity = client_identity(&client);
    let shown = normalize_user_code(&form.user_code)
        .map(|c| format!("{}-{}", &c[..4], &c[4..]))
        .unwrap_or_default();
    let mut resp = page(
        StatusCode::OK,
        "Allow this device?",
        &format!(
            "<h1>Allow <span class=\"client\">{name}</span> on your device to use Gatehouse as you?</h1><div class=\"box\">{identity}\
             <p>The device showing the code <strong class=\"user-code\">{code}</strong> will be able to call <code>{resource}</code> \
             with your identity for up to {mins} minutes at a time, renewing until you sign out.{manage}</p></div>\
             <p><strong>Only allow this if you started the sign-in yourself on a device in front of you.</strong> \
             If someone sent you this code or link, choose Deny.</p>\
             <form method=\"post\" action=\"/oauth/authorize/consent\"><input type=\"hidden\" name=\"request\" value=\"{id}\">\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Allow and sign in</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
            name = html::escape(&client.client_name),
            code = html::escape(&shown),
            resource = html::escape(&request.resource),
            mins = gw.config.authz.access_token_secs.div_ceil(60),
            manage = super::first_party::consent_note(&client.client_id),
            id = html::escape(&id),
        ),
    );
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        consent_cookie(&gw, &secret, REQUEST_TTL.as_secs()),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&gw.config, FORM_COOKIE, "", 0),
    );
    resp
}

/// The person chose Deny on the device's consent page.
pub(super) async fn denied(gw: &Identity, device_code_hash: &str) -> Response {
    if let Err(e) = gw.store.decide_device_request(device_code_hash, None).await {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    let mut resp = page(
        StatusCode::OK,
        "Denied",
        "<h1>Denied</h1><p>The device gets no access. You can close this page.</p>",
    );
    resp.headers_mut()
        .append(header::SET_COOKIE, consent_cookie(gw, "", 0));
    resp
}

/// The person consented and signed in: the device's next poll gets tokens for `grant`.
pub(super) async fn approved(
    gw: &Identity,
    device_code_hash: &str,
    grant: &Grant,
    client_name: &str,
    src: &str,
) -> Response {
    match gw
        .store
        .decide_device_request(device_code_hash, Some(&grant.id))
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            gw.revoke_grant(&grant.id, "device code expired or decided before", src)
                .await;
            return error_page(
                StatusCode::BAD_REQUEST,
                "this code expired or was already used while you signed in; start again on your device",
            );
        }
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
    gw.control_event(
        "signin",
        serde_json::json!({ "user": grant.principal.user, "groups": grant.principal.groups, "via": "oidc",
            "flow": "device", "client": client_name, "client_id": grant.client_id,
            "resource": grant.resource, "source": src }),
    )
    .await;
    let mut resp = page(
        StatusCode::OK,
        "Device signed in",
        &format!(
            "<h1>Your device is signed in</h1><p>Signed in as <strong>{}</strong>. Return to your device; you can close this page.</p>",
            html::escape(&grant.principal.user)
        ),
    );
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&gw.config, LOGIN_COOKIE, "", 0),
    );
    h.append(header::SET_COOKIE, consent_cookie(gw, "", 0));
    resp
}

async fn fail(
    gw: &Identity,
    src: &str,
    client: &str,
    error: OAuthErrorCode,
    why: &str,
) -> Response {
    gw.auth_failure(
        src,
        serde_json::json!({ "stage": "token", "grant_type": GRANT_TYPE, "client_id": client, "error": error.as_str(), "reason": why }),
    )
    .await;
    OAuthError::new(error, why).into_response()
}

/// The token endpoint's answer to a device's poll (RFC 8628 §3.4, §3.5).
pub async fn token(gw: &Identity, form: &TokenForm, headers: &HeaderMap, src: &str) -> Response {
    let client = client_id(form, headers).unwrap_or_default();
    let Some(device_code) = form.device_code.as_deref().filter(|c| !c.is_empty()) else {
        return OAuthError::invalid_request("send device_code").into_response();
    };
    let poll = match gw.store.poll_device_code(device_code, &client).await {
        Ok(p) => p,
        Err(e) => return OAuthError::from(e).into_response(),
    };
    match poll {
        DevicePoll::Pending => OAuthError::new(
            OAuthErrorCode::AuthorizationPending,
            "the person has not approved the sign-in yet; keep polling",
        )
        .into_response(),
        DevicePoll::SlowDown(interval) => OAuthError::new(
            OAuthErrorCode::SlowDown,
            format!("polling too fast: wait at least {interval} s between polls"),
        )
        .into_response(),
        DevicePoll::Denied => {
            fail(
                gw,
                src,
                &client,
                OAuthErrorCode::AccessDenied,
                "the person denied the sign-in",
            )
            .await
        }
        DevicePoll::Expired => {
            fail(
                gw,
                src,
                &client,
                OAuthErrorCode::ExpiredToken,
                "the device code expired before the sign-in was approved; start again",
            )
            .await
        }
        DevicePoll::Unknown => {
            fail(
                gw,
                src,
                &client,
                OAuthErrorCode::InvalidGrant,
                "the device code is unknown",
            )
            .await
        }
        DevicePoll::OtherClient => {
            fail(
                gw,
                src,
                &client,
                OAuthErrorCode::InvalidGrant,
                "the device code was issued to another client",
            )
            .await
        }
        DevicePoll::Replayed(grant) => {
            gw.revoke_grant(&grant, "device code redeemed twice", src)
                .await;
            fail(
                gw,
                src,
                &client,
                OAuthErrorCode::InvalidGrant,
                "the device code was already redeemed: the sign-in it made is revoked",
            )
            .await
        }
        DevicePoll::Approved(grant_id) => match gw.store.grant(&grant_id).await {
            Ok(Some(g)) if !g.revoked => issue(gw, &g, src, "token_issued").await,
            Ok(_) => {
                fail(
                    gw,
                    src,
                    &client,
                    OAuthErrorCode::InvalidGrant,
                    "the sign-in was revoked",
                )
                .await
            }
            Err(e) => OAuthError::from(e).into_response(),
        },
    }
}
