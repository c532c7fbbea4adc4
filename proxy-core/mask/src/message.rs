//! Masking whole MCP messages: which parts of which messages carry data (tool results,
//! resource contents, prompt messages, errors, logs, sampling and elicitation text), so
//! schemas and envelopes are never touched. Shared by the gateway and local capture.

use crate::{MaskCounts, Masker};
use gatehouse_proxy_core::jsonrpc::{Kind, Message};
use serde_json::Value;

fn mask_at(masker: &Masker, v: Option<&mut Value>, counts: &mut MaskCounts) {
    if let Some(v) = v {
        counts.merge(&masker.mask_json(v));
    }
}

/// Masks a message on its way from the server to the client (and into the record).
/// `request_method` is the method of the request a response answers.
pub fn mask_from_server(
    masker: &Masker,
    msg: &mut Message,
    request_method: Option<&str>,
) -> MaskCounts {
    // Where the data is, by what the message is; schemas and envelopes are never touched.
    let paths: &[&str] = match msg.kind() {
        Kind::Response { is_error: true, .. } => &["/error"],
        Kind::Response { .. }
            if matches!(
                request_method,
                Some(
                    "tools/call"
                        | "resources/read"
                        | "prompts/get"
                        | "completion/complete"
                        | "sampling/createMessage"
                )
            ) =>
        {
            &["/result"]
        }
        Kind::Notification { method } if method == "notifications/message" => &["/params/data"],
        Kind::Notification { method } if method == "notifications/progress" => &["/params/message"],
        Kind::Request { method, .. } if method == "sampling/createMessage" => {
            &["/params/messages", "/params/systemPrompt"]
        }
        Kind::Request { method, .. } if method == "elicitation/create" => &["/params/message"],
        _ => return MaskCounts::new(),
    };
    let (masked, counts) = mask_paths(masker, msg, paths);
    if let Some(value) = masked
        && msg.replace_value(value).is_err()
    {
        tracing::error!("masking changed a message's JSON-RPC shape; this is a bug");
    }
    counts
}

/// Masks the values at `paths` (JSON pointers) in a copy of `msg`; returns the copy only
/// when something was masked.
fn mask_paths(masker: &Masker, msg: &Message, paths: &[&str]) -> (Option<Value>, MaskCounts) {
    let mut value = msg.to_value();
    let mut counts = MaskCounts::new();
    for p in paths {
        mask_at(masker, value.pointer_mut(p), &mut counts);
    }
    if counts.is_empty() {
        return (None, counts);
    }
    (Some(value), counts)
}

/// The record of a client message: arguments, answers, handshake and resource URIs
/// masked, the message itself
/// (which goes upstream as sent) untouched. Returns the masked JSON when anything was masked.
pub fn mask_for_record(masker: &Masker, msg: &Message) -> (Option<String>, MaskCounts) {
    let paths: &[&str] = match msg.kind() {
        Kind::Request { method, .. } if method == "tools/call" || method == "prompts/get" => {
            &["/params/arguments"]
        }
        // Text the client wrote: completions, the initialize handshake (client name,
        // roots, capabilities' free text), the URI of a resource read or subscribed to.
        Kind::Request { method, .. }
            if method == "completion/complete" || method == "initialize" =>
        {
            &["/params"]
        }
        Kind::Request { method, .. }
            if method == "resources/read"
                || method == "resources/subscribe"
                || method == "resources/unsubscribe" =>
        {
            &["/params/uri"]
        }
        Kind::Response { .. } => &["/result", "/error"],
        _ => return (None, MaskCounts::new()),
    };
    let (masked, counts) = mask_paths(masker, msg, paths);
    (masked.map(|v| v.to_string()), counts)
}
