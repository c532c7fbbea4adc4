//! Where the browser goes after signing in: a dashboard page on this site, nothing
//! else. Browsers forgive a lot (they drop tabs and newlines, read `\` as `/`), so a
//! value is refused unless it is a plain path: no control character, whitespace or
//! backslash, not `//host`, still on this site when resolved as a relative reference
//! (RFC 3986), and not one of the control plane's own endpoints.

/// Paths that are endpoints, not dashboard pages.
const NOT_DASHBOARD: [&str; 8] = [
    "/api/",
    "/auth/",
    "/oauth/",
    "/mcp/",
    "/saml/",
    "/agent/",
    "/.well-known/",
    "/metrics",
];

/// `requested` when it is a dashboard path on this site, else `/`.
pub fn dashboard_path(requested: Option<&str>) -> String {
    requested
        .filter(|p| is_dashboard_path(p))
        .unwrap_or("/")
        .to_string()
}

fn is_dashboard_path(p: &str) -> bool {
    if !p.starts_with('/')
        || p.starts_with("//")
        || p.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return false;
    }
    let Ok(base) = reqwest::Url::parse("https://dashboard.invalid/") else {
        return false;
    };
    let same_site = base
        .join(p)
        .is_ok_and(|u| u.host_str() == Some("dashboard.invalid") && u.scheme() == "https");
    same_site && !NOT_DASHBOARD.iter().any(|e| p.starts_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_paths_on_this_site() {
        assert_eq!(
            dashboard_path(Some("/sessions/abc?x=1")),
            "/sessions/abc?x=1"
        );
        for bad in [
            "/\t/evil.example",
            "/\n/evil.example",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "/ /evil.example",
            "/api/v1/agents",
            "/oauth/authorize?x",
            "evil",
        ] {
            assert_eq!(dashboard_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(dashboard_path(None), "/");
    }
}
