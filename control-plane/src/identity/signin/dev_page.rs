//! The dev-mode sign-in page (`gatehouse demo`, `serve --dev`): pick one of the `[dev]`
//! users. Never shown when a real identity provider is configured.

use crate::identity::html::escape;
use crate::identity::state::Identity;
use axum::response::{Html, IntoResponse, Response};

/// The page: one button per dev user, with their groups. `request` is an MCP client's
/// authorization request (consented already) that the choice completes.
pub fn render(gw: &Identity, return_to: &str, request: Option<&str>) -> Response {
    let buttons: String = gw
        .config
        .dev
        .tokens
        .iter()
        .map(|t| {
            format!(
                "<li><button type=\"submit\" name=\"user\" value=\"{u}\">{u}</button> <span>{g}</span></li>",
                u = escape(&t.user),
                g = escape(&t.groups.join(", "))
            )
        })
        .collect();
    let mut resp = Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · Gatehouse (dev)</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;color:#1d2330}}\
         li{{list-style:none;margin:.5rem 0}}button{{font:inherit;padding:.4rem .9rem;min-width:8rem;cursor:pointer}}\
         span{{color:#5b6475}}.note{{background:#fff6e0;border:1px solid #f0d48a;padding:.6rem .8rem;border-radius:6px}}</style></head>\
         <body><h1>Sign in to Gatehouse</h1><p class=\"note\">Dev mode: no identity provider is configured, so you pick a \
         <code>[dev]</code> user. Production sign-in goes through your company's OpenID provider.</p>\
         <form method=\"post\" action=\"/auth/dev-login\"><input type=\"hidden\" name=\"return_to\" value=\"{rt}\">{req}<ul>{buttons}</ul></form></body></html>",
        rt = escape(return_to),
        req = request
            .map(|r| format!("<input type=\"hidden\" name=\"request\" value=\"{}\">", escape(r)))
            .unwrap_or_default()
    ))
    .into_response();
    resp.headers_mut().insert(
        http::header::HeaderName::from_static("x-frame-options"),
        http::HeaderValue::from_static("DENY"),
    );
    resp
}
