//! The dashboard, embedded at build time (see `build.rs`): hashed assets are cached for
//! good, every other path that is not an API gets `index.html` (the app routes itself).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, Uri, header};

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn asset(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

/// Security headers for every page of the dashboard: nothing from elsewhere, no framing.
fn harden(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// The router's fallback: a dashboard file, the app's `index.html`, or a JSON 404 for
/// API-looking paths.
pub async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path.starts_with("mcp/") || path.starts_with(".well-known/") {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({ "error": format!("no such endpoint: {}", uri.path()) })),
        )
            .into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let (name, bytes, immutable) = match asset(path) {
        Some(b) if !path.is_empty() => (path, b, path.starts_with("assets/")),
        _ => match asset("index.html") {
            Some(b) => ("index.html", b, false),
            None => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::response::Html(
                        "<!doctype html><title>Gatehouse</title><h1>The dashboard is not built into this binary</h1>\
                         <p>Run <code>scripts/build-ui.sh</code> and rebuild. The API (<code>/api/v1/</code>) and the \
                         gateway (<code>/mcp/…</code>) work without it.</p>",
                    ),
                )
                    .into_response();
            }
        },
    };
    let mut resp = Body::from(bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    harden(&mut resp);
    resp
}
