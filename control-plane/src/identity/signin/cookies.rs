//! The dashboard's cookies: names (`__Host-` over HTTPS), attributes, reading one back,
//! and the CSRF header every cookie-signed-in change must carry.

use crate::config::Config;
use http::{HeaderMap, HeaderValue, header};

/// The header every cookie-signed-in change must carry: a page on another site cannot
/// set it without a CORS preflight, which the control plane never grants.
pub const CSRF_HEADER: &str = "x-gatehouse-request";

/// Cookie names: `__Host-` (Secure, whole host, no Domain) when served over HTTPS.
pub(crate) fn cookie_name(config: &Config, base: &str) -> String {
    if config.public_base().starts_with("https://") {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

pub(crate) fn set_cookie(
    config: &Config,
    base: &str,
    value: &str,
    max_age_secs: u64,
) -> HeaderValue {
    cookie_header(config, base, value, max_age_secs, "Lax")
}

/// A cookie the IdP's cross-site POST to the ACS must carry back: `SameSite=None` over
/// HTTPS (Lax would withhold it); over plain HTTP (loopback tests, same site) Lax works.
pub(crate) fn set_cross_site_cookie(
    config: &Config,
    base: &str,
    value: &str,
    max_age_secs: u64,
) -> HeaderValue {
    let same_site = if config.public_base().starts_with("https://") {
        "None"
    } else {
        "Lax"
    };
    cookie_header(config, base, value, max_age_secs, same_site)
}

fn cookie_header(
    config: &Config,
    base: &str,
    value: &str,
    max_age_secs: u64,
    same_site: &str,
) -> HeaderValue {
    let secure = if config.public_base().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let v = format!(
        "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age_secs}{secure}",
        cookie_name(config, base)
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

pub(crate) const SESSION_COOKIE: &str = "gatehouse";
pub(crate) const LOGIN_COOKIE: &str = "gatehouse-login";
