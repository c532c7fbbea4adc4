//! Quality and speed harness for `quality/run.sh`.
//!
//! `detect_jsonl CORPUS.jsonl` reads records `{"id", "text", ...}` and writes one line per record:
//! `{"id": .., "findings": [{"type": "CREDIT_CARD", "start": .., "end": ..}]}` with Presidio's
//! entity names and *character* offsets (as Python counts them).
//!
//! `detect_jsonl --bench FILE...` times the default profile on each file (single thread) and
//! writes `{"file", "bytes", "text_mb_s", "json_mb_s", "json_parse_mask_serialize_mb_s"}`.

use gatehouse_mask::{Masker, Profile};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

fn presidio_name(kind: &str) -> &str {
    match kind {
        "credit_card" => "CREDIT_CARD",
        "iban" => "IBAN_CODE",
        "us_ssn" => "US_SSN",
        "email" => "EMAIL_ADDRESS",
        "phone" => "PHONE_NUMBER",
        "ip_address" => "IP_ADDRESS",
        "person_name" => "PERSON",
        "postal_address" => "POSTAL_ADDRESS",
        "date_of_birth" => "DATE_OF_BIRTH",
        other => other,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let masker = Masker::new(&Profile::default(), None)?;
    let mut out = std::io::stdout().lock();
    match args.first().map(String::as_str) {
        Some("--bench") if args.len() > 1 => {
            for f in &args[1..] {
                let line = bench(&masker, f)?;
                writeln!(out, "{line}")?;
            }
        }
        Some(path) if !path.starts_with('-') => {
            let reader = BufReader::new(std::fs::File::open(path)?);
            for line in reader.lines() {
                let rec: Value = serde_json::from_str(&line?)?;
                let text = rec["text"].as_str().ok_or("record without \"text\"")?;
                let findings: Vec<Value> = masker
                    .detect(text)
                    .into_iter()
                    .map(|f| {
                        json!({
                            "type": presidio_name(&f.kind),
                            "start": text[..f.start].chars().count(),
                            "end": text[..f.end].chars().count(),
                        })
                    })
                    .collect();
                writeln!(out, "{}", json!({"id": rec["id"], "findings": findings}))?;
            }
        }
        _ => {
            return Err("usage: detect_jsonl CORPUS.jsonl | detect_jsonl --bench FILE...".into());
        }
    }
    Ok(())
}

/// Runs `f` repeatedly for at least two seconds and returns MB/s over `bytes`.
fn rate(bytes: usize, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(2) {
        f();
        n += 1;
    }
    bytes as f64 * n as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn bench(masker: &Masker, path: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let parsed: Value = serde_json::from_str(&text)?;
    let text_rate = rate(text.len(), || {
        std::hint::black_box(masker.mask_text(&text));
    });
    // Fresh copies are made outside the timed region, a batch at a time.
    let json_rate = {
        let mut bytes = 0usize;
        let mut secs = 0.0;
        while secs < 2.0 {
            let mut batch: Vec<Value> = (0..16).map(|_| parsed.clone()).collect();
            let start = Instant::now();
            for v in batch.iter_mut() {
                std::hint::black_box(masker.mask_json(v));
            }
            secs += start.elapsed().as_secs_f64();
            bytes += text.len() * batch.len();
        }
        bytes as f64 / secs / 1e6
    };
    let e2e = rate(text.len(), || {
        let mut v: Value = serde_json::from_str(&text).expect("valid JSON");
        masker.mask_json(&mut v);
        std::hint::black_box(serde_json::to_string(&v).expect("serializes"));
    });
    Ok(json!({
        "file": path,
        "bytes": text.len(),
        "text_mb_s": text_rate,
        "json_mb_s": json_rate,
        "json_parse_mask_serialize_mb_s": e2e,
    }))
}
