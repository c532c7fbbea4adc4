//! Checkpoints in the C2SP `tlog-checkpoint` form, and witness cosignatures on them
//! (C2SP `tlog-cosignature`, Ed25519 `cosignature/v1`).
//!
//! A checkpoint's body is three lines — the log's origin, the tree size in decimal, the
//! RFC 6962 root hash in base64 — signed as a note by the log's key (named by its
//! origin). A witness that checked the checkpoint is consistent with every one it saw
//! before adds a cosignature: an Ed25519 signature over `cosignature/v1`, `time <unix
//! seconds>` and the body, prefixed with that time as a big-endian u64.

use crate::merkle::Hash;
use crate::note::{KeyKind, Note, NoteError, NoteSignature, NoteSigner, VerifierKey};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _};

/// A tree head as a checkpoint states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin (a schema-less URL naming it).
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The RFC 6962 root hash.
    pub root: Hash,
    /// Lines after the root (none written by Gatehouse; kept when read).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint of the tree of `size` with root `root`.
    pub fn new(origin: &str, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: origin, size, base64 root, extensions, each ending in a newline.
    pub fn body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Reads a checkpoint body (a note's text).
    pub fn parse_body(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = |why: &str| NoteError::Malformed(format!("not a checkpoint: {why}"));
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text does not end in a newline"))?
            .split('\n')
            .collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(bad("fewer than three lines (origin, size, root hash)"));
        };
        if origin.is_empty() {
            return Err(bad("the origin line is empty"));
        }
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (*size == "0" || !size.starts_with('0'));
        let size = size
            .parse()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| bad(&format!("the size `{size}` is not a decimal number")))?;
        let root = B64
            .decode(root)
            .ok()
            .and_then(|b| Hash::try_from(b).ok())
            .ok_or_else(|| bad("the root hash is not 32 bytes of base64"))?;
        if extensions.iter().any(|e| e.is_empty()) {
            return Err(bad("an extension line is empty"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions: extensions.iter().map(|e| e.to_string()).collect(),
        })
    }

    /// The checkpoint signed by the log's key.
    pub fn sign(&self, signer: &NoteSigner) -> Note {
        signer.sign_note(&self.body())
    }

    /// Reads a signed checkpoint and checks it is signed by `log_key` for that key's
    /// origin. Signatures by other keys (witnesses, retired keys) are kept, unchecked.
    pub fn open(note: &str, log_key: &VerifierKey) -> Result<(Checkpoint, Note), NoteError> {
        let note = Note::parse(note)?;
        let cp = Checkpoint::parse_body(&note.text)?;
        if cp.origin != log_key.name {
            return Err(NoteError::Malformed(format!(
                "the checkpoint is for log `{}`, not `{}`",
                cp.origin, log_key.name
            )));
        }
        log_key.verify(&note)?;
        Ok((cp, note))
    }
}

/// The message an Ed25519 cosignature signs.
fn cosigned_message(timestamp: u64, body: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// A witness's cosignature on a checkpoint body at `timestamp` (unix seconds): what a
/// witness answers; Gatehouse signs these only in its own tests and tools.
pub fn cosign(name: &str, key: &SigningKey, body: &str, timestamp: u64) -> NoteSignature {
    let id = crate::note::key_id(name, KeyKind::Cosignature, &key.verifying_key());
    let mut signature = timestamp.to_be_bytes().to_vec();
    signature.extend_from_slice(
        &key.sign(cosigned_message(timestamp, body).as_bytes())
            .to_bytes(),
    );
    NoteSignature {
        name: name.to_string(),
        key_id: id,
        signature,
    }
}

/// Checks a witness's cosignature on a checkpoint body; returns when it was made (unix
/// seconds).
pub fn verify_cosignature(
    witness: &VerifierKey,
    body: &str,
    sig: &NoteSignature,
) -> Result<u64, NoteError> {
    let who = witness.to_string();
    if witness.kind != KeyKind::Cosignature {
        return Err(NoteError::BadKey(format!(
            "{who} is a note key, not a witness (cosignature/v1) key"
        )));
    }
    if sig.name != witness.name || sig.key_id != witness.key_id() {
        return Err(NoteError::Unsigned(who));
    }
    let (ts, ed) = sig.signature.split_at_checked(8).unwrap_or((&[], &[]));
    let (Ok(ts), Ok(ed)) = (<[u8; 8]>::try_from(ts), <[u8; 64]>::try_from(ed)) else {
        return Err(NoteError::BadSignature(who));
    };
    let timestamp = u64::from_be_bytes(ts);
    if timestamp > i64::MAX as u64 {
        return Err(NoteError::BadSignature(who));
    }
    witness
        .public
        .verify(
            cosigned_message(timestamp, body).as_bytes(),
            &Signature::from_bytes(&ed),
        )
        .map_err(|_| NoteError::BadSignature(who))?;
    Ok(timestamp)
}

/// The cosignatures on `note` by `witness` that verify, with their times; a note with a
/// signature in the witness's name and id that does not verify is refused.
pub fn cosignatures(witness: &VerifierKey, note: &Note) -> Result<Vec<u64>, NoteError> {
    note.signatures_by(&witness.name, witness.key_id())
        .map(|s| verify_cosignature(witness, &note.text, s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real checkpoint of a staging CT log (Ed25519 log key) with real witness
    // cosignatures, as published: remora.n621.de's is an Ed25519 cosignature/v1.
    const REAL: &str = "arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
";
    const LOG: &str = "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f";
    const REMORA: &str = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";

    #[test]
    fn a_real_witnessed_checkpoint_verifies() {
        let (cp, note) = Checkpoint::open(REAL, &VerifierKey::parse(LOG).unwrap()).unwrap();
        assert_eq!(cp.size, 1432088532);
        assert_eq!(cp.body(), note.text);
        let remora = VerifierKey::parse(REMORA).unwrap();
        let times = cosignatures(&remora, &note).unwrap();
        assert_eq!(times.len(), 1);
        assert!(times[0] > 1_700_000_000, "{times:?}");
        // The same cosignature on another size does not verify.
        let moved = REAL.replacen("1432088532", "1432088533", 1);
        let note = Note::parse(&moved).unwrap();
        assert!(matches!(
            cosignatures(&remora, &note),
            Err(NoteError::BadSignature(_))
        ));
        assert!(Checkpoint::open(&moved, &VerifierKey::parse(LOG).unwrap()).is_err());
        // A note key is not a witness key.
        assert!(cosignatures(&VerifierKey::parse(LOG).unwrap(), &note).is_err());
    }

    #[test]
    fn checkpoints_round_trip_and_cosignatures_bind_time_and_body() {
        let log = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[1; 32])).unwrap();
        let cp = Checkpoint::new("example.com/log", 12, [7; 32]);
        let signed = cp.sign(&log).to_string();
        assert!(signed.starts_with("example.com/log\n12\nBwcH"), "{signed}");
        let (back, mut note) = Checkpoint::open(&signed, &log.verifier()).unwrap();
        assert_eq!(back, cp);

        let wkey = SigningKey::from_bytes(&[2; 32]);
        let witness = VerifierKey::new(
            "witness.example/w1",
            KeyKind::Cosignature,
            wkey.verifying_key(),
        )
        .unwrap();
        let sig = cosign("witness.example/w1", &wkey, &note.text, 1_700_000_000);
        assert_eq!(
            verify_cosignature(&witness, &note.text, &sig),
            Ok(1_700_000_000)
        );
        // Witness keys print with type byte 0x04 and parse back.
        assert_eq!(VerifierKey::parse(&witness.to_string()).unwrap(), witness);
        note.signatures.push(sig.clone());
        // Cosignatures ride along the log's signature and the note still opens.
        Checkpoint::open(&note.to_string(), &log.verifier()).unwrap();
        let mut late = sig.clone();
        late.signature[7] ^= 1;
        assert!(verify_cosignature(&witness, &note.text, &late).is_err());
        let other = Checkpoint::new("example.com/log", 13, [7; 32]).body();
        assert!(verify_cosignature(&witness, &other, &sig).is_err());
        // Another log's origin is refused even under a valid signature.
        let elsewhere =
            NoteSigner::new("example.com/other", SigningKey::from_bytes(&[1; 32])).unwrap();
        let theirs = Checkpoint::new("example.com/other", 12, [7; 32]).sign(&elsewhere);
        let e = Checkpoint::open(&theirs.to_string(), &log.verifier()).unwrap_err();
        assert!(e.to_string().contains("not `example.com/log`"), "{e}");
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        for bad in [
            "o\n12\n",
            "o\n012\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\n-1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\n1\nBwcH\n",
            "\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        ] {
            assert!(Checkpoint::parse_body(bad).is_err(), "{bad:?}");
        }
    }
}
