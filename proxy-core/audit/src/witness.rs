//! What goes to a witness and what comes back: the C2SP `tlog-witness` `add-checkpoint`
//! request (the previous size the witness acknowledged, the consistency proof from it,
//! the signed checkpoint) and a file of signed checkpoints as a witness keeps them.

use crate::log::WitnessedHead;
use crate::merkle::Hash;
use crate::note::{NoteError, VerifierKey};
use crate::tlog::{Checkpoint, cosignatures};
use base64::{Engine, engine::general_purpose::STANDARD as B64};

/// The most consistency proof lines a request may carry (tlog-witness).
const MAX_PROOF_LINES: usize = 63;

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the last checkpoint the witness cosigned (0 for none).
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// The request body: `old N`, one base64 proof hash per line, a blank line, the note.
    pub fn body(&self) -> String {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Reads a request body (what a witness does).
    pub fn parse(body: &str) -> Result<AddCheckpoint, NoteError> {
        let bad = |why: &str| NoteError::Malformed(format!("add-checkpoint request: {why}"));
        let (head, checkpoint) = body
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .filter(|n| *n == "0" || !n.starts_with('0'))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad("the first line is not `old <size>`"))?;
        let proof = lines
            .map(|l| B64.decode(l).ok().and_then(|b| Hash::try_from(b).ok()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("a proof line is not a base64 hash"))?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(bad("more than 63 proof lines"));
        }
        Ok(AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: checkpoint.to_string(),
        })
    }
}

/// Splits a file of signed notes written one after another (blank lines between them
/// allowed) into the notes. A note ends at its last signature line: the first line
/// after the signatures that is not one starts the next note.
pub fn split_notes(file: &str) -> Result<Vec<String>, NoteError> {
    let mut notes = Vec::new();
    let mut cur = String::new();
    let mut in_signatures = false;
    let mut after_blank = false;
    for line in file.split_inclusive('\n') {
        let is_sig = line.starts_with("— ");
        if in_signatures && !is_sig {
            notes.push(std::mem::take(&mut cur));
            in_signatures = false;
            after_blank = false;
        }
        if cur.is_empty() && line == "\n" {
            continue;
        }
        if is_sig && after_blank {
            in_signatures = true;
        }
        after_blank = line == "\n";
        cur.push_str(line);
    }
    if in_signatures {
        notes.push(cur);
    } else if !cur.trim().is_empty() {
        return Err(NoteError::Malformed(
            "the file ends inside a note that has no signature".into(),
        ));
    }
    Ok(notes)
}

/// The tree heads in a witness's file (`name` says which file, for messages): every
/// entry must be a checkpoint signed by one of `log_keys` (the log's current and
/// retired keys); cosignatures by `witnesses` are checked and named in each head's label.
pub fn witnessed_heads(
    name: &str,
    file: &str,
    log_keys: &[VerifierKey],
    witnesses: &[VerifierKey],
) -> Result<Vec<WitnessedHead>, NoteError> {
    split_notes(file)?
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let entry = format!("witnessed checkpoint {} in {name}", i + 1);
            let in_entry = |e: NoteError| NoteError::Malformed(format!("{entry}: {e}"));
            let mut opened = Err(NoteError::Malformed("no log key was given".into()));
            for k in log_keys {
                opened = Checkpoint::open(text, k);
                if opened.is_ok() {
                    break;
                }
            }
            let (cp, note) = opened.map_err(in_entry)?;
            let mut by = Vec::new();
            for w in witnesses {
                for t in cosignatures(w, &note).map_err(in_entry)? {
                    by.push(format!("{} at {}", w.name, unix_time(t)));
                }
            }
            let cosigned = if by.is_empty() {
                String::new()
            } else {
                format!(", cosigned by {}", by.join(", "))
            };
            Ok(WitnessedHead {
                size: cp.size,
                root: cp.root,
                label: format!("{entry} (tree size {}{cosigned})", cp.size),
            })
        })
        .collect()
}

/// Unix seconds as RFC 3339 (UTC).
pub fn unix_time(t: u64) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("unix time {t}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{NoteSigner, VerifierKey};
    use crate::tlog::Checkpoint;
    use ed25519_dalek::SigningKey;

    #[test]
    fn the_spec_example_request_parses_and_prints_back() {
        // c2sp.org/tlog-witness, "Example request body".
        let body = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";
        let req = AddCheckpoint::parse(body).unwrap();
        assert_eq!((req.old_size, req.proof.len()), (20852014, 4));
        assert!(
            req.checkpoint
                .starts_with("example.com/behind-the-sofa\n20852163\n")
        );
        assert_eq!(req.body(), body);
        for bad in [
            "old x\n\ncp",
            "old 01\n\ncp",
            "new 1\n\ncp",
            "old 1\nnot-base64!\n\ncp",
            "old 1\n",
        ] {
            assert!(AddCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_witness_file_splits_into_its_notes() {
        let log = NoteSigner::new("example.com/log", SigningKey::from_bytes(&[1; 32])).unwrap();
        let a = Checkpoint::new("example.com/log", 1, [1; 32])
            .sign(&log)
            .to_string();
        let b = Checkpoint::new("example.com/log", 2, [2; 32])
            .sign(&log)
            .to_string();
        let file = format!("{a}\n{b}{a}");
        let notes = split_notes(&file).unwrap();
        assert_eq!(notes, vec![a.clone(), b.clone(), a.clone()]);
        for n in &notes {
            Checkpoint::open(n, &log.verifier()).unwrap();
        }
        assert!(split_notes("").unwrap().is_empty());
        let wkey = SigningKey::from_bytes(&[3; 32]);
        let w = VerifierKey::new(
            "w.example/1",
            crate::KeyKind::Cosignature,
            wkey.verifying_key(),
        )
        .unwrap();
        let mut cosigned = crate::Note::parse(&a).unwrap();
        cosigned.signatures.push(crate::cosign(
            "w.example/1",
            &wkey,
            &cosigned.text,
            1_767_225_600,
        ));
        let file = format!("{cosigned}{b}");
        let heads = witnessed_heads("w.txt", &file, &[log.verifier()], &[w]).unwrap();
        assert_eq!(heads[0].size, 1);
        assert_eq!(
            heads[0].label,
            "witnessed checkpoint 1 in w.txt (tree size 1, cosigned by w.example/1 at 2026-01-01T00:00:00Z)"
        );
        assert_eq!(
            heads[1].label,
            "witnessed checkpoint 2 in w.txt (tree size 2)"
        );
        let stranger =
            NoteSigner::new("example.com/log", SigningKey::from_bytes(&[9; 32])).unwrap();
        let e = witnessed_heads("w.txt", &file, &[stranger.verifier()], &[]).unwrap_err();
        assert!(
            e.to_string().contains("witnessed checkpoint 1 in w.txt"),
            "{e}"
        );
        assert!(split_notes(&format!("{a}example.com/log\n3\n")).is_err());
        let _ = VerifierKey::parse(&log.verifier().to_string()).unwrap();
    }
}
