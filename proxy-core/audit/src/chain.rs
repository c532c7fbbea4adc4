//! The hash chain over audit events.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of one event that the chain covers, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ChainRecord<'a> {
    /// Position in the log, 1-based and contiguous.
    pub seq: i64,
    /// Session id.
    pub session_id: &'a str,
    /// Time (RFC 3339).
    pub at: &'a str,
    /// Direction.
    pub direction: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// JSON-RPC method.
    pub method: Option<&'a str>,
    /// Tool (or prompt, or resource) name.
    pub tool: Option<&'a str>,
    /// JSON-RPC id.
    pub rpc_id: Option<&'a str>,
    /// The (masked) JSON payload.
    pub payload: &'a str,
    /// Masked-value counts.
    pub masked: Option<&'a str>,
    /// The policy decision for a client request.
    pub decision: Option<&'a str>,
}

/// `SHA-256(prev_hash ‖ canonical record)` as lower-case hex. The canonical form is a JSON
/// array of the fields in a fixed order: unambiguous (strings are quoted and escaped, so no
/// field can bleed into the next) and the same in any language.
pub fn chain_hash(prev_hash: &str, r: &ChainRecord<'_>) -> String {
    hex::encode(chain_digest(prev_hash, r, &mut Vec::new()))
}

/// [`chain_hash`] as bytes, encoding into `buf` (cleared first) so a verifier walking
/// millions of events reuses one buffer instead of allocating per event.
pub fn chain_digest(prev_hash: &str, r: &ChainRecord<'_>, buf: &mut Vec<u8>) -> [u8; 32] {
    buf.clear();
    // A tuple serializes as a JSON array: the same text as building the array as a
    // `Value`, without the intermediate allocations. Writing plain strings and integers
    // into a Vec cannot fail.
    let _ = serde_json::to_writer(
        &mut *buf,
        &(
            r.seq,
            r.session_id,
            r.at,
            r.direction,
            r.kind,
            r.method,
            r.tool,
            r.rpc_id,
            r.payload,
            r.masked,
            r.decision,
        ),
    );
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(&buf[..]);
    h.finalize().into()
}

/// A 64-character hex hash as bytes; `None` when it is not one.
pub fn hash_bytes(hex_hash: &str) -> Option<[u8; 32]> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut b).ok().map(|_| b)
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A sequence number is missing or repeated (an event was removed, inserted or moved).
    #[error("event #{found} follows #{previous}: events are missing, added or out of order")]
    Gap {
        /// The previous event's seq.
        previous: i64,
        /// This event's seq.
        found: i64,
    },
    /// The stored `prev_hash` is not the previous event's hash.
    #[error("event #{seq} does not link to the event before it (removed, inserted or reordered)")]
    Link {
        /// The event.
        seq: i64,
    },
    /// The stored hash is not the hash of the stored fields.
    #[error("event #{seq} was changed after it was recorded (its hash does not match its content)")]
    Content {
        /// The event.
        seq: i64,
    },
}

/// Checks a chain one event at a time, in `seq` order, in constant memory.
#[derive(Debug, Clone)]
pub struct Verifier {
    last_seq: Option<i64>,
    last_hash: String,
    last_bytes: [u8; 32],
    checked: u64,
    buf: Vec<u8>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            last_seq: None,
            last_hash: GENESIS.to_string(),
            last_bytes: [0; 32],
            checked: 0,
            buf: Vec::with_capacity(1024),
        }
    }
}

impl Verifier {
    /// A verifier whose next event must be `seq + 1`, linking to `hash`: the start of a
    /// log whose events up to `seq` were pruned under a signed anchor.
    pub fn resume(seq: i64, hash: &str) -> Verifier {
        Verifier {
            last_seq: Some(seq),
            last_hash: hash.to_string(),
            last_bytes: hash_bytes(hash).unwrap_or_default(),
            ..Verifier::default()
        }
    }

    /// Checks the next event given its stored `prev_hash` and `hash`.
    pub fn check(
        &mut self,
        r: &ChainRecord<'_>,
        prev_hash: &str,
        hash: &str,
    ) -> Result<(), ChainBreak> {
        if let Some(last) = self.last_seq
            && r.seq != last + 1
        {
            return Err(ChainBreak::Gap {
                previous: last,
                found: r.seq,
            });
        }
        if self.last_seq.is_none() && r.seq != 1 {
            return Err(ChainBreak::Gap {
                previous: 0,
                found: r.seq,
            });
        }
        if prev_hash != self.last_hash {
            return Err(ChainBreak::Link { seq: r.seq });
        }
        let digest = chain_digest(prev_hash, r, &mut self.buf);
        if hash_bytes(hash) != Some(digest) || hash.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ChainBreak::Content { seq: r.seq });
        }
        self.last_seq = Some(r.seq);
        self.last_hash.clear();
        self.last_hash.push_str(hash);
        self.last_bytes = digest;
        self.checked += 1;
        Ok(())
    }

    /// Events checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The hash of the last good event (the chain head), `GENESIS` when none.
    pub fn head(&self) -> &str {
        &self.last_hash
    }

    /// The chain head as bytes (the Merkle leaf of the last good event).
    pub fn head_bytes(&self) -> &[u8; 32] {
        &self.last_bytes
    }

    /// The seq of the last good event (0 before any, or the anchor's when resumed).
    pub fn last_seq(&self) -> i64 {
        self.last_seq.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        seq: i64,
        payload: String,
        prev: String,
        hash: String,
    }

    fn record(seq: i64, payload: &str) -> ChainRecord<'_> {
        ChainRecord {
            seq,
            session_id: "s",
            at: "2026-01-01T00:00:00Z",
            direction: "client_to_server",
            kind: "request",
            method: Some("tools/call"),
            tool: Some("query"),
            rpc_id: Some("1"),
            payload,
            masked: None,
            decision: None,
        }
    }

    fn log(n: i64) -> Vec<Row> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let payload = format!("{{\"n\":{seq}}}");
                let hash = chain_hash(&prev, &record(seq, &payload));
                let row = Row {
                    seq,
                    payload,
                    prev: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn verify(rows: &[Row]) -> Result<u64, ChainBreak> {
        let mut v = Verifier::default();
        for r in rows {
            v.check(&record(r.seq, &r.payload), &r.prev, &r.hash)?;
        }
        Ok(v.checked())
    }

    #[test]
    fn an_untouched_log_verifies() {
        assert_eq!(verify(&log(50)), Ok(50));
    }

    #[test]
    fn every_kind_of_tampering_is_found_where_it_happened() {
        let mut changed = log(10);
        changed[4].payload = "{\"n\":999}".into();
        assert_eq!(verify(&changed), Err(ChainBreak::Content { seq: 5 }));

        let mut removed = log(10);
        removed.remove(6);
        assert_eq!(
            verify(&removed),
            Err(ChainBreak::Gap {
                previous: 6,
                found: 8
            })
        );

        // Removed and renumbered to hide the gap: the link breaks instead.
        let mut renumbered = log(10);
        renumbered.remove(6);
        for r in renumbered.iter_mut().skip(6) {
            r.seq -= 1;
        }
        assert!(matches!(
            verify(&renumbered),
            Err(ChainBreak::Link { seq: 7 } | ChainBreak::Content { seq: 7 })
        ));

        let mut swapped = log(10);
        swapped.swap(2, 3);
        assert!(verify(&swapped).is_err());

        let mut rehashed = log(10);
        rehashed[2].payload = "{\"n\":0}".into();
        rehashed[2].hash = chain_hash(&rehashed[2].prev, &record(3, "{\"n\":0}"));
        assert_eq!(
            verify(&rehashed),
            Err(ChainBreak::Link { seq: 4 }),
            "re-hashing one event breaks the next link"
        );

        let truncated_front: Vec<Row> = log(5).into_iter().skip(1).collect();
        assert_eq!(
            verify(&truncated_front),
            Err(ChainBreak::Gap {
                previous: 0,
                found: 2
            })
        );
    }

    #[test]
    fn the_canonical_form_is_a_plain_json_array() {
        // Pinned: any other implementation can recompute it.
        let r = record(1, "{}");
        let mut h = Sha256::new();
        h.update(GENESIS.as_bytes());
        h.update(br#"[1,"s","2026-01-01T00:00:00Z","client_to_server","request","tools/call","query","1","{}",null,null]"#);
        assert_eq!(chain_hash(GENESIS, &r), hex::encode(h.finalize()));
    }

    #[test]
    fn fields_cannot_bleed_into_each_other() {
        let a = ChainRecord {
            method: Some("a"),
            tool: Some("bc"),
            ..record(1, "{}")
        };
        let b = ChainRecord {
            method: Some("ab"),
            tool: Some("c"),
            ..record(1, "{}")
        };
        assert_ne!(chain_hash(GENESIS, &a), chain_hash(GENESIS, &b));
    }
}
