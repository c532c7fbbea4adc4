//! HTML for the few pages the control plane renders itself (sign-in, consent, device).

/// HTML-escapes text for an element or a quoted attribute.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
