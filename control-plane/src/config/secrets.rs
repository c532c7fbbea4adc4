//! Secrets in the configuration: a literal, `env:NAME` or `file:PATH`.

/// Resolves `env:NAME` and `file:PATH` references; other values are literal.
pub(crate) fn resolve_secret(value: &str) -> Result<String, String> {
    if let Some(name) = value.strip_prefix("env:") {
        std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))
    } else if let Some(path) = value.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .map(|s| s.trim_end().to_string())
            .map_err(|e| format!("cannot read secret file `{path}`: {e}"))
    } else {
        Ok(value.to_string())
    }
}
