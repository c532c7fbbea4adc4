//! Masking throughput on ~1 MB `tools/call` results, single core.
//!
//! Inputs are generated here with a fixed seed: a text content block (log-like lines) plus
//! `structuredContent.rows` (database-like rows with ids, timestamps, amounts, notes).
//! * sparse: about one sensitive value per 10 KB;
//! * dense: several sensitive values in most rows and lines;
//! * embedded: the sparse rows as JSON text inside `content[0].text` (what most MCP servers
//!   return), which exercises the embedded-JSON path.
//!
//! `mask_json` is timed on an already-parsed `Value` (the gateway parses messages anyway); the
//! clone that gives each iteration a fresh input is outside the timing. `mask_text` is timed on
//! the raw JSON text.
//!
//! Each input is timed twice in the same run: `default` (every built-in, people detectors
//! included) and `no_people` (the default profile without `person_name`, `postal_address` and
//! `date_of_birth`, i.e. the detectors as they were before those came). The medians of both
//! side by side: `python3 proxy-core/mask/benches/medians.py $CARGO_TARGET_DIR/criterion`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_mask::{Masker, Profile};
use serde_json::{Value, json};
use std::hint::black_box;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1e6 < p
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "order",
    "shipped",
    "customer",
    "invoice",
    "pending",
    "warehouse",
    "the",
    "was",
    "updated",
    "by",
    "system",
    "after",
    "review",
    "payment",
    "received",
    "account",
    "status",
    "active",
    "region",
    "north",
    "report",
    "daily",
    "batch",
    "completed",
    "with",
    "errors",
    "retry",
];
const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

fn luhn_complete(mut digits: String) -> String {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let v = (d - b'0') as u32;
            if i % 2 == 0 {
                let v2 = v * 2;
                if v2 > 9 { v2 - 9 } else { v2 }
            } else {
                v
            }
        })
        .sum();
    digits.push(char::from(b'0' + ((10 - sum % 10) % 10) as u8));
    digits
}

fn iban_de(r: &mut Rng) -> String {
    let bban = r.digits(18);
    // Check digits: 98 - (BBAN + "DE00" as digits) mod 97.
    let s = format!("{bban}131400");
    let rem = s
        .bytes()
        .fold(0u32, |acc, c| (acc * 10 + (c - b'0') as u32) % 97);
    format!("DE{:02}{bban}", 98 - rem)
}

fn pii(r: &mut Rng) -> String {
    match r.below(6) {
        0 => luhn_complete(format!("4{}", r.digits(14))),
        1 => iban_de(r),
        2 => format!(
            "{}-{:02}-{}",
            100 + r.below(500),
            1 + r.below(98),
            1000 + r.below(8999)
        ),
        3 => format!("{}.{}@example.com", r.pick(NAMES), r.pick(NAMES)),
        4 => format!(
            "({}) {}-{}",
            200 + r.below(700),
            200 + r.below(700),
            r.digits(4)
        ),
        _ => format!("10.{}.{}.{}", r.below(256), r.below(256), r.below(256)),
    }
}

fn sentence(r: &mut Rng, rate: f64) -> String {
    let n = 6 + r.below(10) as usize;
    let mut s = Vec::with_capacity(n + 2);
    for _ in 0..n {
        s.push(r.pick(WORDS).to_string());
    }
    s.push(format!(
        "took {} ms at 2024-0{}-1{}T1{}:3{}:0{}Z",
        r.below(9999),
        1 + r.below(9),
        r.below(9),
        r.below(9),
        r.below(6),
        r.below(9)
    ));
    if r.chance(rate) {
        s.insert(r.below(n as u64) as usize, pii(r));
    }
    s.join(" ")
}

fn rows(r: &mut Rng, bytes: usize, rate: f64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut size = 0;
    while size < bytes {
        let mut row = json!({
            "id": r.below(10_000_000),
            "sku": format!("SKU-{}-{}", r.digits(4), r.digits(4)),
            "name": format!("{} {}", r.pick(NAMES), r.pick(NAMES)),
            "created_at": format!("2024-0{}-1{}T0{}:1{}:2{}.{}Z", 1 + r.below(9), r.below(9), r.below(9), r.below(6), r.below(9), r.digits(3)),
            "amount": format!("{}.{}", r.below(100_000), r.digits(2)),
            "status": r.pick(&["active", "pending", "closed"]),
            "version": format!("{}.{}.{}", r.below(20), r.below(40), r.below(300)),
            "note": sentence(r, rate),
        });
        for key in ["email", "phone", "card"] {
            if r.chance(rate) {
                row[key] = Value::String(pii(r));
            }
        }
        size += row.to_string().len();
        out.push(row);
    }
    out
}

fn lines(r: &mut Rng, bytes: usize, rate: f64) -> String {
    let mut s = String::new();
    while s.len() < bytes {
        s.push_str(&sentence(r, rate));
        s.push('\n');
    }
    s
}

fn result(text: String, rows: Vec<Value>) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 7,
        "result": {
            "content": [{"type": "text", "text": text}],
            "structuredContent": {"rows": rows},
            "isError": false
        }
    })
}

/// (name, message) with serialized size close to 1 MB.
fn inputs() -> Vec<(&'static str, Value)> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    // Per-sentence/field chance giving ~1 value per 10 KB (sparse) or most rows (dense).
    let sparse = result(lines(&mut r, 400_000, 0.015), rows(&mut r, 560_000, 0.008));
    let dense = result(lines(&mut r, 400_000, 0.9), rows(&mut r, 520_000, 0.5));
    let emb_rows = rows(&mut r, 900_000, 0.008);
    let embedded = result(serde_json::to_string(&emb_rows).unwrap(), Vec::new());
    vec![("sparse", sparse), ("dense", dense), ("embedded", embedded)]
}

fn throughput(c: &mut Criterion) {
    let people = ["person_name", "postal_address", "date_of_birth"];
    let mut before = Profile::default();
    before.detectors.retain(|d| !people.contains(&d.as_str()));
    let profiles = [
        ("default", Masker::new(&Profile::default(), None).unwrap()),
        ("no_people", Masker::new(&before, None).unwrap()),
    ];
    let mut g = c.benchmark_group("mask_1mb");
    g.sample_size(20);
    let inputs = inputs();
    for (profile, masker) in &profiles {
        for (name, value) in &inputs {
            one(&mut g, profile, masker, name, value);
        }
    }
    g.finish();
}

fn one(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    profile: &str,
    masker: &Masker,
    name: &str,
    value: &Value,
) {
    {
        let text = serde_json::to_string(&value).unwrap();
        let mut probe = value.clone();
        let counts = masker.mask_json(&mut probe);
        eprintln!(
            "{profile} {name}: {} bytes, {} values masked ({})",
            text.len(),
            counts.total(),
            counts.summary()
        );
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("{profile}/{name}/mask_json"), |b| {
            b.iter_batched_ref(
                || value.clone(),
                |v| black_box(masker.mask_json(v)),
                BatchSize::LargeInput,
            )
        });
        g.bench_function(format!("{profile}/{name}/mask_text"), |b| {
            b.iter(|| black_box(masker.mask_text(&text)))
        });
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
