//! Addresses as the operator's log may show them: a URL keeps its scheme, host, port
//! and path, and loses the secrets people put in URLs (the password of its user
//! information, the values of its query, which often carry `api_key=`), and its
//! fragment. Clients never see an address at all; this is for the operator.

/// `url` with its password and query values replaced by `***` and no fragment. Text
/// that is not a URL is kept up to its first `?` (and any `user:password@` removed).
pub fn url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.has_host() => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query().is_some() {
                let keys: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
                let mut q = u.query_pairs_mut();
                q.clear();
                for k in keys {
                    q.append_pair(&k, "***");
                }
            }
            u.set_fragment(None);
            u.to_string()
        }
        _ => opaque(url),
    }
}

/// Text that does not parse as a URL (a connection string, say): the part before any
/// `?`, with a `user:password@` reduced to `user:***@`.
fn opaque(text: &str) -> String {
    let head = text.split(['?', '#']).next().unwrap_or("");
    match (head.find("://"), head.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = head[s + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &head[..s + 3], &head[at..])
        }
        _ => head.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_query_values_never_show() {
        assert_eq!(
            url("postgres://gh:s3cret@db:5432/gh?sslmode=require"),
            "postgres://gh:***@db:5432/gh?sslmode=***"
        );
        assert_eq!(
            url("http://user:pw@10.0.0.5:9/mcp?api_key=abc&x=1#frag"),
            "http://user:***@10.0.0.5:9/mcp?api_key=***&x=***"
        );
        assert_eq!(url("postgres://gh@db/gh"), "postgres://gh@db/gh");
        assert_eq!(url("sqlite://gatehouse.db"), "sqlite://gatehouse.db");
        assert_eq!(url("not a url ?token=1"), "not a url ");
        assert_eq!(url("weird://u:p@[bad/x?y"), "weird://u:***@[bad/x");
    }
}
