//! Mask: the only place a [`Masked`] value is made. Server messages are masked before
//! the record and the client see them; client messages are recorded masked while the
//! upstream gets them as sent. Records and answers take only [`Masked`] payloads, so
//! unmasked data cannot reach the store, the spool or the client by accident.

use crate::decide::{Decision, Verdict};
use gatehouse_mask::message::{mask_for_record, mask_from_server};
use gatehouse_mask::{MaskCounts, Masker};
use gatehouse_proxy_core::jsonrpc::Message;
use serde_json::Value;
use std::sync::Arc;

/// A value that went through the masker (`counts` says what it replaced). There is no
/// public way to make one except [`Masking`]:
///
/// ```compile_fail
/// let m = gatehouse_pipeline::Masked { value: "ada@example.com".to_string(), counts: Default::default() };
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Masked<T> {
    value: T,
    counts: MaskCounts,
}

impl<T> Masked<T> {
    /// The masked value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// How many values of each kind masking replaced.
    pub fn counts(&self) -> &MaskCounts {
        &self.counts
    }

    /// The masked value, taken out.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Something Gatehouse itself wrote (a refusal, an error): there is nothing of the
    /// server's or the client's data in it to mask.
    pub(crate) fn authored(value: T) -> Masked<T> {
        Masked {
            value,
            counts: MaskCounts::new(),
        }
    }
}

/// The record of a client message: its text with arguments masked.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRecord {
    /// The masked JSON text.
    pub json: String,
}

/// The masker chosen for one request (by the server and the groups of the person whose
/// token came with it).
#[derive(Clone)]
pub struct Masking {
    masker: Arc<Masker>,
}

impl Masking {
    /// Masking with `masker`'s profile.
    pub fn new(masker: Arc<Masker>) -> Masking {
        Masking { masker }
    }

    /// A message from the server on its way to the client (and into the record).
    /// `request_method` is the method of the request a response answers.
    pub fn from_server(&self, mut msg: Message, request_method: Option<&str>) -> Masked<Message> {
        let counts = mask_from_server(&self.masker, &mut msg, request_method);
        Masked { value: msg, counts }
    }

    /// The record of a client message; the message itself goes upstream untouched.
    pub fn client_record(&self, msg: &Message) -> Masked<ClientRecord> {
        let (masked, counts) = mask_for_record(&self.masker, msg);
        Masked {
            value: ClientRecord {
                json: masked.unwrap_or_else(|| msg.to_json()),
            },
            counts,
        }
    }

    /// Any JSON value (a held call's arguments, shown to approvers).
    pub fn value(&self, mut v: Value) -> Masked<Value> {
        let counts = self.masker.mask_json(&mut v);
        Masked { value: v, counts }
    }

    /// A decision, before it is recorded or told to the client. A refusal's reason can
    /// quote the call (an SQL condition names the statement it refused, with its
    /// literals), and the decision record carries that reason: both are masked like the
    /// call's arguments. An allowed call's decision holds only Gatehouse's own words (the
    /// effect, the rule, the policy version), so it is passed on as it is.
    pub fn decision(&self, decision: Decision) -> Masked<Decision> {
        let Decision { verdict, record } = decision;
        let verdict = match verdict {
            Verdict::Deny { reason } => Verdict::Deny {
                reason: self.masker.mask_text(&reason).0.into_owned(),
            },
            other => other,
        };
        if matches!(verdict, Verdict::Allow) {
            return Masked::authored(Decision { verdict, record });
        }
        let (record, counts) = match record {
            Some(mut r) => {
                let counts = self.masker.mask_json(&mut r);
                (Some(r), counts)
            }
            None => (None, MaskCounts::new()),
        };
        Masked {
            value: Decision { verdict, record },
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_mask::Profile;
    use serde_json::json;

    fn masking() -> Masking {
        Masking::new(Arc::new(Masker::new(&Profile::default(), None).unwrap()))
    }

    #[test]
    fn server_answers_are_masked_before_anyone_sees_them() {
        let m = Message::from_value(json!({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"card 4111 1111 1111 1111"}]}})).unwrap();
        let masked = masking().from_server(m, Some("tools/call"));
        assert!(!masked.get().to_json().contains("4111"));
        assert_eq!(masked.counts().get("credit_card"), 1);
    }

    #[test]
    fn client_arguments_are_masked_only_in_the_record() {
        let m = Message::from_value(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{"card":"4111 1111 1111 1111"}}})).unwrap();
        let rec = masking().client_record(&m);
        assert!(!rec.get().json.contains("4111"));
        assert!(m.to_json().contains("4111 1111 1111 1111"));
        let ping = Message::from_value(json!({"jsonrpc":"2.0","id":2,"method":"ping"})).unwrap();
        let rec = masking().client_record(&ping);
        assert_eq!(rec.get().json, ping.to_json());
        assert!(rec.counts().is_empty());
    }

    #[test]
    fn a_refusal_quoting_the_call_is_masked_in_its_reason_and_record() {
        let reason = "statement 1 is `DELETE FROM customers WHERE email = 'ada@example.com'`";
        let d = Decision {
            verdict: Verdict::Deny {
                reason: reason.into(),
            },
            record: Some(json!({"effect": "deny", "message": reason, "rule": "ro"})),
        };
        let masked = masking().decision(d).into_inner();
        let Verdict::Deny { reason } = &masked.verdict else {
            panic!("still a refusal")
        };
        assert!(!reason.contains("ada@"), "{reason}");
        assert!(reason.contains("[EMAIL]"), "{reason}");
        let record = masked.record().unwrap().to_string();
        assert!(!record.contains("ada@"), "{record}");
        assert!(record.contains("\"rule\":\"ro\""), "{record}");
    }

    #[test]
    fn values_for_approvers_are_masked() {
        let v = masking().value(json!({"note": "mail ada@example.com"}));
        assert!(!v.get().to_string().contains("ada@"));
        assert_eq!(v.into_inner()["note"], "mail [EMAIL]");
    }
}
