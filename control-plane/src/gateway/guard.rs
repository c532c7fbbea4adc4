//! Checks on the MCP request's envelope before anything is parsed or forwarded: the
//! 2026-07-28 routing headers, which must agree with the body because policy and routing
//! read them. (DNS-rebinding protection, shared by every surface, is `crate::host_guard`.)

use gatehouse_proxy_core::jsonrpc::Message;
use gatehouse_proxy_core::mcp;
use http::HeaderMap;

/// Checks `Mcp-Method` and `Mcp-Name` against the body (MCP 2026-07-28): a request must
/// carry `Mcp-Method`, and `Mcp-Name` when it names a tool, prompt or resource, and both
/// must tell the truth.
pub fn check_routing_headers(headers: &HeaderMap, msg: &Message) -> Result<(), String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let body_method = msg.method().unwrap_or("");
    match get("mcp-method") {
        Some(h) if h != body_method => {
            return Err(format!(
                "Mcp-Method header `{h}` does not match the body's method `{body_method}`"
            ));
        }
        None if msg.is_request() => {
            return Err(format!(
                "the Mcp-Method header is missing; it must be `{body_method}`"
            ));
        }
        _ => {}
    }
    match (get("mcp-name"), mcp::expected_name_header(msg)) {
        (Some(h), Some(body)) if h != body => Err(format!(
            "Mcp-Name header `{h}` does not match the body's `{body}`"
        )),
        (Some(h), None) => Err(format!(
            "Mcp-Name header `{h}` was sent for a request that names nothing"
        )),
        (None, Some(body)) => Err(format!(
            "the Mcp-Name header is missing; it must be `{body}`"
        )),
        _ => Ok(()),
    }
}

/// Headers forwarded unchanged to the upstream: the routing headers and `Mcp-Param-*`.
pub fn passthrough_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k == "mcp-method" || k == "mcp-name" || k.starts_with("mcp-param-")
        })
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn routing_headers_must_match_the_body() {
        let call = Message::from_value(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query"}}),
        )
        .unwrap();
        assert!(
            check_routing_headers(
                &h(&[("mcp-method", "tools/call"), ("mcp-name", "query")]),
                &call
            )
            .is_ok()
        );
        let e = check_routing_headers(&h(&[]), &call).unwrap_err();
        assert!(e.contains("Mcp-Method header is missing"), "{e}");
        let e = check_routing_headers(&h(&[("mcp-method", "tools/call")]), &call).unwrap_err();
        assert!(
            e.contains("Mcp-Name header is missing; it must be `query`"),
            "{e}"
        );
        assert!(
            check_routing_headers(
                &h(&[("mcp-method", "tools/call"), ("mcp-name", " query ")]),
                &call
            )
            .is_ok(),
            "surrounding whitespace is not a mismatch"
        );
        let e = check_routing_headers(&h(&[("mcp-method", "tools/list")]), &call).unwrap_err();
        assert!(e.contains("tools/list"), "{e}");
        assert!(check_routing_headers(&h(&[("mcp-name", "drop_db")]), &call).is_err());
        let list =
            Message::from_value(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})).unwrap();
        assert!(
            check_routing_headers(
                &h(&[("mcp-method", "tools/list"), ("mcp-name", "x")]),
                &list
            )
            .is_err()
        );
        assert!(check_routing_headers(&h(&[("mcp-method", "tools/list")]), &list).is_ok());
        let p = passthrough_headers(&h(&[
            ("mcp-param-region", "eu"),
            ("authorization", "Bearer x"),
            ("mcp-method", "m"),
        ]));
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|(k, _)| k != "authorization"));
    }
}
