//! C2SP signed notes (c2sp.org/signed-note): a text, a blank line, then one line per
//! signature, `— <key name> base64(key id ‖ signature)`. Checkpoints and witness
//! cosignatures are both notes, so any transparency-log tool reads what Gatehouse
//! writes. Keys are named and identified the C2SP way: the key id is the first four
//! bytes of `SHA-256(name ‖ "\n" ‖ type ‖ public key)`, so the same key under two
//! signature types (a log key, a witness key) can never be confused.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;

/// Note signatures accepted per note (the reference implementation's limit).
const MAX_SIGNATURES: usize = 100;

/// Why a note, key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Not a well-formed note.
    #[error("malformed signed note: {0}")]
    Malformed(String),
    /// Not a well-formed verifier key.
    #[error("malformed verifier key `{0}`: expected <name>+<8 hex digits>+<base64 key>")]
    BadKey(String),
    /// No signature by the expected key.
    #[error("the note carries no signature by {0}")]
    Unsigned(String),
    /// A signature by the expected key that does not verify.
    #[error("the signature by {0} does not verify: the note was altered or forged")]
    BadSignature(String),
}

/// What a key signs: the signature type byte of C2SP signed-note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `0x01`: Ed25519 over the note text (a log's checkpoint key).
    Ed25519,
    /// `0x04`: timestamped Ed25519 cosignature (c2sp.org/tlog-cosignature), a witness key.
    Cosignature,
}

impl KeyKind {
    fn byte(self) -> u8 {
        match self {
            KeyKind::Ed25519 => 0x01,
            KeyKind::Cosignature => 0x04,
        }
    }

    fn from_byte(b: u8) -> Option<KeyKind> {
        match b {
            0x01 => Some(KeyKind::Ed25519),
            0x04 => Some(KeyKind::Cosignature),
            _ => None,
        }
    }
}

/// The C2SP key id of a named public key of a kind.
pub fn key_id(name: &str, kind: KeyKind, public: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind.byte()]);
    h.update(public.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// Parses `— <name> <base64>` (without the newline).
    pub fn parse_line(line: &str) -> Result<NoteSignature, NoteError> {
        let bad = |why: &str| NoteError::Malformed(format!("signature line `{line}`: {why}"));
        let rest = line
            .strip_prefix("— ")
            .ok_or_else(|| bad("does not start with an em dash and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| bad("no space between key name and signature"))?;
        if !valid_name(name) {
            return Err(bad("the key name is empty or holds a space or `+`"));
        }
        let raw = B64
            .decode(b64)
            .map_err(|_| bad("the signature is not base64"))?;
        if raw.len() < 5 {
            return Err(bad("the signature is shorter than a key id"));
        }
        Ok(NoteSignature {
            name: name.to_string(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        })
    }

    /// Parses a block of signature lines, each ending in a newline (a witness's answer).
    pub fn parse_lines(block: &str) -> Result<Vec<NoteSignature>, NoteError> {
        let body = block.strip_suffix('\n').ok_or_else(|| {
            NoteError::Malformed("signature lines must each end in a newline".into())
        })?;
        body.split('\n').map(NoteSignature::parse_line).collect()
    }
}

impl fmt::Display for NoteSignature {
    /// The line, newline included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        writeln!(f, "— {} {}", self.name, B64.encode(raw))
    }
}

/// A signed note: its text (ending in a newline) and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, final newline included.
    pub text: String,
    /// Signatures, in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a note; checks its form, not its signatures.
    pub fn parse(note: &str) -> Result<Note, NoteError> {
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed(
                "it holds a control character other than newline".into(),
            ));
        }
        // The text ends at the last blank line.
        let split = note.rfind("\n\n").ok_or_else(|| {
            NoteError::Malformed("no blank line between the text and the signatures".into())
        })?;
        let text = &note[..=split];
        let signatures = NoteSignature::parse_lines(&note[split + 2..])?;
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::Malformed(format!(
                "more than {MAX_SIGNATURES} signatures"
            )));
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// The signatures by the key named `name` with id `id`.
    pub fn signatures_by(&self, name: &str, id: u32) -> impl Iterator<Item = &NoteSignature> {
        self.signatures
            .iter()
            .filter(move |s| s.name == name && s.key_id == id)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.text)?;
        self.signatures.iter().try_for_each(|s| s.fmt(f))
    }
}

/// A public key as C2SP names it: `<name>+<hex key id>+<base64(type ‖ key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// Key name (a log's origin, a witness's name).
    pub name: String,
    /// What it signs.
    pub kind: KeyKind,
    /// The Ed25519 public key.
    pub public: VerifyingKey,
}

impl VerifierKey {
    /// A named key of a kind.
    pub fn new(name: &str, kind: KeyKind, public: VerifyingKey) -> Result<VerifierKey, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey(name.to_string()));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            kind,
            public,
        })
    }

    /// Parses the `name+id+key` form, checking that the id is the key's.
    pub fn parse(vkey: &str) -> Result<VerifierKey, NoteError> {
        let bad = || NoteError::BadKey(vkey.to_string());
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let raw = B64.decode(b64).map_err(|_| bad())?;
        let (&kind, key) = raw.split_first().ok_or_else(bad)?;
        let kind = KeyKind::from_byte(kind).ok_or_else(bad)?;
        let key: [u8; 32] = key.try_into().map_err(|_| bad())?;
        let public = VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
        let k = VerifierKey::new(name, kind, public).map_err(|_| bad())?;
        if id.len() != 8 || id != format!("{:08x}", k.key_id()) {
            return Err(bad());
        }
        Ok(k)
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        key_id(&self.name, self.kind, &self.public)
    }

    /// Checks the note's signature by this key (an Ed25519 note key).
    pub fn verify(&self, note: &Note) -> Result<(), NoteError> {
        let who = self.to_string();
        let mut found = false;
        for s in note.signatures_by(&self.name, self.key_id()) {
            found = true;
            let ok = self.kind == KeyKind::Ed25519
                && <[u8; 64]>::try_from(s.signature.as_slice()).is_ok_and(|b| {
                    self.public
                        .verify(note.text.as_bytes(), &Signature::from_bytes(&b))
                        .is_ok()
                });
            if !ok {
                return Err(NoteError::BadSignature(who));
            }
        }
        if found {
            Ok(())
        } else {
            Err(NoteError::Unsigned(who))
        }
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![self.kind.byte()];
        raw.extend_from_slice(self.public.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id(), B64.encode(raw))
    }
}

/// A named Ed25519 key that signs notes.
#[derive(Debug, Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl NoteSigner {
    /// Signs as `name` (no spaces or `+`).
    pub fn new(name: &str, key: SigningKey) -> Result<NoteSigner, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey(name.to_string()));
        }
        Ok(NoteSigner {
            name: name.to_string(),
            key,
        })
    }

    /// Its public half.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            kind: KeyKind::Ed25519,
            public: self.key.verifying_key(),
        }
    }

    /// The signature line for `text` (which must end in a newline).
    pub fn sign(&self, text: &str) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.verifier().key_id(),
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        }
    }

    /// A note of `text` signed by this key.
    pub fn sign_note(&self, text: &str) -> Note {
        Note {
            text: text.to_string(),
            signatures: vec![self.sign(text)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // golang.org/x/mod/sumdb/note's example key and note (note_test.go).
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const SIGNED: &str = "If you think cryptography is the answer to your problem,\n\
        then you don't know what your problem is.\n\n\
        — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn peter() -> NoteSigner {
        let raw = B64.decode(SKEY_B64).unwrap();
        assert_eq!(raw[0], 0x01);
        NoteSigner::new(
            "PeterNeumann",
            SigningKey::from_bytes(&raw[1..].try_into().unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn signs_the_go_reference_note_byte_for_byte() {
        let s = peter();
        assert_eq!(s.verifier().to_string(), VKEY);
        assert_eq!(s.verifier().key_id(), 0xc74f20a3);
        assert_eq!(s.sign_note(TEXT).to_string(), SIGNED);
        let v = VerifierKey::parse(VKEY).unwrap();
        assert_eq!(v, s.verifier());
        let note = Note::parse(SIGNED).unwrap();
        assert_eq!(note.text, TEXT);
        v.verify(&note).unwrap();
    }

    #[test]
    fn malformed_keys_are_refused() {
        // The Go implementation's bad-key cases.
        for bad in [
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3",
            "PeterNeumann+c74f20a3+!!!!",
            // Unknown algorithm (type 0x65) with an adjusted id.
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            assert!(VerifierKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn altered_notes_and_foreign_signatures_are_refused() {
        let v = VerifierKey::parse(VKEY).unwrap();
        let altered = Note::parse(&SIGNED.replacen("answer", "Answer", 1)).unwrap();
        assert_eq!(
            v.verify(&altered),
            Err(NoteError::BadSignature(VKEY.to_string()))
        );
        let other = NoteSigner::new("PeterNeumann", SigningKey::from_bytes(&[9; 32])).unwrap();
        let foreign = other.sign_note(TEXT);
        assert!(matches!(v.verify(&foreign), Err(NoteError::Unsigned(_))));
        for bad in [
            TEXT.to_string(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n— PeterNeumann x08go\n"),
            format!("{TEXT}\n— PeterNeumann AAAA\n"),
            format!("{TEXT}\n—PeterNeumann x08go/ZJ\n"),
            SIGNED.trim_end().to_string(),
            SIGNED.replace("problem,", "problem\u{7},"),
        ] {
            assert!(Note::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
