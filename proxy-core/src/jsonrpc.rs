//! The JSON-RPC 2.0 message model the gateway works on.
//!
//! A [`Message`] keeps the whole JSON object it was decoded from, so every field the
//! gateway does not understand (`_meta` keys, extensions, members of newer protocol
//! revisions) passes through unchanged. Only the shape JSON-RPC requires is checked.

use serde_json::{Map, Value};

/// JSON-RPC and MCP error codes the gateway itself produces.
pub mod codes {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error (also: the gateway could not record the request).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The upstream server failed or did not answer in time.
    pub const UPSTREAM_ERROR: i64 = -32001;
    /// The request was refused by policy.
    pub const POLICY_DENIED: i64 = -32003;
    /// `Mcp-Method` / `Mcp-Name` headers disagree with the body (MCP 2026-07-28).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// Client and upstream speak protocol eras the gateway cannot bridge faithfully.
    pub const ERA_MISMATCH: i64 = -32021;
}

/// A request or response id: a string or a number (JSON-RPC forbids others in practice).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    /// A numeric id, kept as its JSON text so `1` and `1.0` stay distinct and exact.
    Number(String),
    /// A string id.
    String(String),
}

impl Id {
    /// Reads an id from its JSON value; `None` for null, objects, arrays and booleans.
    pub fn from_value(v: &Value) -> Option<Id> {
        match v {
            Value::Number(n) => Some(Id::Number(n.to_string())),
            Value::String(s) => Some(Id::String(s.clone())),
            _ => None,
        }
    }

    /// The id as a JSON value again.
    pub fn to_value(&self) -> Value {
        match self {
            Id::Number(n) => serde_json::from_str(n).unwrap_or(Value::Null),
            Id::String(s) => Value::String(s.clone()),
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Number(n) => f.write_str(n),
            Id::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// What a message is, decided once when it is decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A request: it has an id and a method and expects a response.
    Request {
        /// The request id.
        id: Id,
        /// The method name.
        method: String,
    },
    /// A notification: a method without an id; no response.
    Notification {
        /// The method name.
        method: String,
    },
    /// A response (a `result` or an `error`) to the request with this id.
    Response {
        /// The id of the request answered; `None` only for errors about unparseable requests.
        id: Option<Id>,
        /// True when the response carries `error` rather than `result`.
        is_error: bool,
    },
}

/// Why a JSON value is not a JSON-RPC 2.0 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// Not a JSON object.
    #[error("a JSON-RPC message must be a JSON object")]
    NotAnObject,
    /// `jsonrpc` is missing or not "2.0".
    #[error("\"jsonrpc\" must be \"2.0\"")]
    BadVersion,
    /// `method` is present but not a string.
    #[error("\"method\" must be a string")]
    BadMethod,
    /// The id is not a string or a number.
    #[error("\"id\" must be a string or a number")]
    BadId,
    /// A response has both or neither of `result` and `error`.
    #[error("a response must have exactly one of \"result\" and \"error\"")]
    BadResponse,
    /// `params` is present but neither an object nor an array.
    #[error("\"params\" must be an object or an array")]
    BadParams,
}

/// A validated JSON-RPC 2.0 message that keeps every member it was decoded with.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    value: Map<String, Value>,
    kind: Kind,
}

impl Message {
    /// Validates the JSON-RPC shape of `value`.
    pub fn from_value(value: Value) -> Result<Message, ShapeError> {
        let Value::Object(map) = value else {
            return Err(ShapeError::NotAnObject);
        };
        if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(ShapeError::BadVersion);
        }
        if let Some(p) = map.get("params")
            && !(p.is_object() || p.is_array())
        {
            return Err(ShapeError::BadParams);
        }
        let kind = match map.get("method") {
            Some(Value::String(method)) => match map.get("id") {
                None => Kind::Notification {
                    method: method.clone(),
                },
                Some(id) => Kind::Request {
                    id: Id::from_value(id).ok_or(ShapeError::BadId)?,
                    method: method.clone(),
                },
            },
            Some(_) => return Err(ShapeError::BadMethod),
            None => {
                let has_result = map.contains_key("result");
                let has_error = map.contains_key("error");
                if has_result == has_error {
                    return Err(ShapeError::BadResponse);
                }
                let id = match map.get("id") {
                    None | Some(Value::Null) if has_error => None,
                    Some(id) => Some(Id::from_value(id).ok_or(ShapeError::BadId)?),
                    None => return Err(ShapeError::BadId),
                };
                Kind::Response {
                    id,
                    is_error: has_error,
                }
            }
        };
        Ok(Message { value: map, kind })
    }

    /// Builds a request.
    pub fn request(id: Id, method: &str, params: Value) -> Message {
        let mut map = Map::new();
        map.insert("jsonrpc".into(), "2.0".into());
        map.insert("id".into(), id.to_value());
        map.insert("method".into(), method.into());
        if !params.is_null() {
            map.insert("params".into(), params);
        }
        Message {
            value: map,
            kind: Kind::Request {
                id,
                method: method.into(),
            },
        }
    }

    /// Builds a notification.
    pub fn notification(method: &str, params: Value) -> Message {
        let mut map = Map::new();
        map.insert("jsonrpc".into(), "2.0".into());
        map.insert("method".into(), method.into());
        if !params.is_null() {
            map.insert("params".into(), params);
        }
        Message {
            value: map,
            kind: Kind::Notification {
                method: method.into(),
            },
        }
    }

    /// Builds an error response for the request `id` (`None` when the id is unknown).
    pub fn error(
        id: Option<Id>,
        code: i64,
        message: impl Into<String>,
        data: Option<Value>,
    ) -> Message {
        let mut error = Map::new();
        error.insert("code".into(), code.into());
        error.insert("message".into(), Value::String(message.into()));
        if let Some(data) = data {
            error.insert("data".into(), data);
        }
        let mut map = Map::new();
        map.insert("jsonrpc".into(), "2.0".into());
        map.insert(
            "id".into(),
            id.as_ref().map(Id::to_value).unwrap_or(Value::Null),
        );
        map.insert("error".into(), Value::Object(error));
        Message {
            value: map,
            kind: Kind::Response { id, is_error: true },
        }
    }

    /// Builds a successful response.
    pub fn result(id: Id, result: Value) -> Message {
        let mut map = Map::new();
        map.insert("jsonrpc".into(), "2.0".into());
        map.insert("id".into(), id.to_value());
        map.insert("result".into(), result);
        Message {
            value: map,
            kind: Kind::Response {
                id: Some(id),
                is_error: false,
            },
        }
    }

    /// What the message is.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            Kind::Request { method, .. } | Kind::Notification { method } => Some(method),
            Kind::Response { .. } => None,
        }
    }

    /// The id of a request or response.
    pub fn id(&self) -> Option<&Id> {
        match &self.kind {
            Kind::Request { id, .. } => Some(id),
            Kind::Response { id, .. } => id.as_ref(),
            Kind::Notification { .. } => None,
        }
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.kind, Kind::Request { .. })
    }

    /// True for responses.
    pub fn is_response(&self) -> bool {
        matches!(self.kind, Kind::Response { .. })
    }

    /// The `params` member.
    pub fn params(&self) -> Option<&Value> {
        self.value.get("params")
    }

    /// The `result` member of a successful response.
    pub fn result_value(&self) -> Option<&Value> {
        self.value.get("result")
    }

    /// The `error` member of an error response.
    pub fn error_value(&self) -> Option<&Value> {
        self.value.get("error")
    }

    /// Replaces the id (used to map client ids onto a shared upstream connection and back).
    pub fn set_id(&mut self, id: Id) {
        self.value.insert("id".into(), id.to_value());
        match &mut self.kind {
            Kind::Request { id: old, .. } => *old = id,
            Kind::Response { id: old, .. } => *old = Some(id),
            Kind::Notification { .. } => {}
        }
    }

    /// Mutable access to `params`, created as an empty object when absent.
    pub fn params_mut(&mut self) -> &mut Value {
        self.value
            .entry("params")
            .or_insert_with(|| Value::Object(Map::new()))
    }

    /// The message as a JSON value.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.value
    }

    /// The message as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.value.clone())
    }

    /// Consumes the message into its JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.value)
    }

    /// Replaces the whole JSON body (after masking); the kind must not change.
    pub fn replace_value(&mut self, value: Value) -> Result<(), ShapeError> {
        let new = Message::from_value(value)?;
        if new.kind != self.kind {
            return Err(ShapeError::BadResponse);
        }
        *self = new;
        Ok(())
    }

    /// Serialises the message as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.value).unwrap_or_default()
    }
}

/// Why a request body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is not a JSON-RPC message (the position is the index in a batch).
    #[error("message {index}: {error}")]
    Shape {
        /// Index within the batch (0 for a single message).
        index: usize,
        /// What is wrong.
        error: ShapeError,
    },
    /// An empty batch.
    #[error("an empty JSON array is not a valid batch")]
    EmptyBatch,
}

impl DecodeError {
    /// The JSON-RPC error code for this failure.
    pub fn code(&self) -> i64 {
        match self {
            DecodeError::Json(_) => codes::PARSE_ERROR,
            _ => codes::INVALID_REQUEST,
        }
    }
}

/// A decoded HTTP body or stdio line: one message or a batch (MCP 2025-03-26 only).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A single message.
    Single(Message),
    /// A JSON array of messages.
    Batch(Vec<Message>),
}

impl Body {
    /// Decodes and validates a body.
    pub fn decode(bytes: &[u8]) -> Result<Body, DecodeError> {
        let value: Value = serde_json::from_slice(bytes)?;
        match value {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(DecodeError::EmptyBatch);
                }
                items
                    .into_iter()
                    .enumerate()
                    .map(|(index, v)| {
                        Message::from_value(v).map_err(|error| DecodeError::Shape { index, error })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Body::Batch)
            }
            v => Message::from_value(v)
                .map(Body::Single)
                .map_err(|error| DecodeError::Shape { index: 0, error }),
        }
    }

    /// The messages of one newline-delimited stdio line (none for a blank line), or the
    /// JSON-RPC error (as JSON) to answer a line that is not valid JSON-RPC with.
    pub fn decode_line(line: &str) -> Result<Vec<Message>, String> {
        if line.trim().is_empty() {
            return Ok(Vec::new());
        }
        Body::decode(line.as_bytes())
            .map(Body::into_messages)
            .map_err(|e| Message::error(None, e.code(), e.to_string(), None).to_json())
    }

    /// The messages in order.
    pub fn into_messages(self) -> Vec<Message> {
        match self {
            Body::Single(m) => vec![m],
            Body::Batch(v) => v,
        }
    }

    /// True for a JSON array body.
    pub fn is_batch(&self) -> bool {
        matches!(self, Body::Batch(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_unknown_members_and_meta() {
        let v = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","_meta":{"vendor/k":1}},"x-ext":true});
        let m = Message::from_value(v.clone()).unwrap();
        assert_eq!(m.to_value(), v);
        assert_eq!(m.method(), Some("tools/call"));
        assert_eq!(m.id(), Some(&Id::Number("7".into())));
    }

    #[test]
    fn rejects_wrong_shapes_with_reasons() {
        let cases = [
            (
                json!([1]),
                "message 0: a JSON-RPC message must be a JSON object",
            ),
            (
                json!({"jsonrpc":"1.0","method":"x"}),
                "message 0: \"jsonrpc\" must be \"2.0\"",
            ),
            (
                json!({"jsonrpc":"2.0","id":{},"method":"x"}),
                "message 0: \"id\" must be a string or a number",
            ),
            (
                json!({"jsonrpc":"2.0","id":1,"result":1,"error":{}}),
                "message 0: a response must have exactly one of \"result\" and \"error\"",
            ),
            (
                json!({"jsonrpc":"2.0","method":"x","params":3}),
                "message 0: \"params\" must be an object or an array",
            ),
        ];
        for (v, want) in cases {
            let bytes = serde_json::to_vec(&v).unwrap();
            let err = Body::decode(&bytes).unwrap_err();
            assert_eq!(err.to_string(), want, "for {v}");
            assert_eq!(err.code(), codes::INVALID_REQUEST);
        }
        assert_eq!(
            Body::decode(b"{not json").unwrap_err().code(),
            codes::PARSE_ERROR
        );
        assert!(matches!(
            Body::decode(b"[]").unwrap_err(),
            DecodeError::EmptyBatch
        ));
    }

    #[test]
    fn ids_round_trip_exactly() {
        for v in [json!(1), json!("abc"), json!(12345678901234u64)] {
            assert_eq!(Id::from_value(&v).unwrap().to_value(), v);
        }
    }

    #[test]
    fn batch_decodes_in_order() {
        let b = Body::decode(
            br#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#,
        )
        .unwrap();
        assert!(b.is_batch());
        let ms = b.into_messages();
        assert_eq!(ms[0].method(), Some("a"));
        assert!(matches!(ms[1].kind(), Kind::Notification { .. }));
    }
}
