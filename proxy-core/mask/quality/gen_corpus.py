#!/usr/bin/env python3
"""Generate the labeled masking corpus (seeded, reproducible).

Writes JSONL records {"id", "format": "text"|"json", "text", "labels": [{"type","start","end","value"}]}
where spans are character offsets into "text" (for JSON records, into the raw JSON text, exactly
what a gateway sees on the wire). Entities: CREDIT_CARD, IBAN_CODE, US_SSN, EMAIL_ADDRESS,
PHONE_NUMBER, IP_ADDRESS (Presidio's names). Alongside them the text holds near misses that
must NOT be masked: order ids, timestamps, version strings, non-Luhn 16-digit numbers, UUIDs,
amounts, dates, ports, coordinates, hashes.

Also writes two 1 MB JSON tool results (sparse and dense PII) for the throughput comparison.

Bare digit runs are only phone numbers or SSNs when a word says so ("Tel", "SSN"): no detector,
human or machine, can tell a bare 11-digit run is a phone number otherwise, so the corpus puts
such formats (which faker's de_DE/en_GB providers emit) after a context word.
"""

import argparse
import json
import random
import re
import uuid
from datetime import datetime

from faker import Faker

TYPES = ["CREDIT_CARD", "IBAN_CODE", "US_SSN", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS"]
CARD_TYPES = ["visa16", "visa13", "visa19", "mastercard", "amex", "discover", "diners", "jcb15", "jcb16", "maestro"]
PHONE_LOCALES = ["en_US", "en_US", "en_GB", "de_DE", "fr_FR"]
IBAN_LOCALES = ["de_DE", "fr_FR", "en_GB", "nl_NL", "es_ES", "it_IT"]

CONTEXT = {
    "CREDIT_CARD": ["card ", "Card number: ", "paid with ", "cc=", "PAN ", ""],
    "IBAN_CODE": ["IBAN ", "iban: ", "account ", "transfer to ", ""],
    "US_SSN": ["SSN ", "ssn: ", "social security number ", ""],
    "EMAIL_ADDRESS": ["email ", "contact: ", "from ", "<", "mailto:", ""],
    "PHONE_NUMBER": ["phone ", "Tel: ", "call ", "mobile: ", "fax ", ""],
    "IP_ADDRESS": ["from ", "client_ip=", "host ", "remote addr ", "IP: ", ""],
}


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        Faker.seed(seed)
        # Sorted: set order changes between Python runs (hash randomisation), seeds must not.
        locales = sorted(set(PHONE_LOCALES + IBAN_LOCALES + ["en_US"]))
        self.f = {loc: Faker(loc) for loc in locales}
        for i, loc in enumerate(locales):
            self.f[loc].seed_instance(seed + i)
        self.en = self.f["en_US"]

    # ---- entities ----

    def card(self):
        n = self.en.credit_card_number(self.r.choice(CARD_TYPES))
        style = self.r.random()
        if style < 0.6:
            return n
        sep = " " if style < 0.85 else "-"
        # How issuers print them: 4-6-5 (Amex), 4-6-4 (Diners), 4-4-5 (13 digits), else fours.
        cuts = {15: [4, 10], 14: [4, 10], 13: [4, 8]}.get(len(n), list(range(4, len(n), 4)))
        groups = [n[a:b] for a, b in zip([0] + cuts, cuts + [len(n)])]
        return sep.join(groups)

    def iban(self):
        v = self.f[self.r.choice(IBAN_LOCALES)].iban()
        if self.r.random() < 0.3:
            v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
        return v

    def ssn(self):
        v = self.en.ssn()
        style = self.r.random()
        if style < 0.7:
            return v, None
        if style < 0.85:
            return v.replace("-", " "), None
        return v.replace("-", ""), "SSN: "

    def email(self):
        return self.r.choice([self.en.email, self.en.company_email, self.en.free_email, self.en.ascii_email])()

    def phone(self):
        style = self.r.random()
        if style < 0.15:
            # E.164 written compactly.
            cc, n = self.r.choice([("1", 10), ("44", 10), ("49", 11), ("33", 9)])
            first = str(self.r.randint(2, 9))
            return "+" + cc + first + "".join(str(self.r.randint(0, 9)) for _ in range(n - 1)), None
        v = self.f[self.r.choice(PHONE_LOCALES)].phone_number()
        bare = re.fullmatch(r"[0-9]+", v) is not None
        return v, ("Tel: " if bare else None)

    def ip(self):
        return self.en.ipv4() if self.r.random() < 0.7 else self.en.ipv6()

    def entity(self, typ):
        ctx = None
        if typ == "CREDIT_CARD":
            v = self.card()
        elif typ == "IBAN_CODE":
            v = self.iban()
        elif typ == "US_SSN":
            v, ctx = self.ssn()
        elif typ == "EMAIL_ADDRESS":
            v = self.email()
        elif typ == "PHONE_NUMBER":
            v, ctx = self.phone()
        else:
            v = self.ip()
        if ctx is None:
            ctx = self.r.choice(CONTEXT[typ])
        close = ">" if ctx == "<" else ""
        return ctx, v, close

    # ---- near misses (must not be masked) ----

    def noise(self):
        r = self.r
        k = r.randrange(20)
        if k == 0:
            return f"order ORD-{r.randint(100000, 9999999999)}"
        if k == 1:
            return self.when().strftime("%Y-%m-%dT%H:%M:%SZ")
        if k == 2:
            return self.when().strftime("%Y-%m-%d %H:%M:%S")
        if k == 3:
            return f"ts={r.randint(1_500_000_000, 1_800_000_000)}"
        if k == 4:
            return f"epoch_ms {r.randint(1_500_000_000_000, 1_800_000_000_000)}"
        if k == 5:
            return f"version {r.randint(0, 20)}.{r.randint(0, 30)}.{r.randint(0, 200)}"
        if k == 6:
            return f"build 10.0.{r.randint(10000, 22000)}.{r.randint(1, 999)}"
        if k == 7:
            # 16 digits starting with 4 that fail Luhn.
            while True:
                n = "4" + "".join(str(r.randint(0, 9)) for _ in range(15))
                if not luhn(n):
                    return f"ref {n}"
        if k == 8:
            return f"request {uuid.UUID(int=r.getrandbits(128))}"
        if k == 9:
            return f"sha1 {r.getrandbits(160):040x}"
        if k == 10:
            return f"total ${r.randint(1, 99999):,}.{r.randint(0, 99):02d}"
        if k == 11:
            return f"took {r.randint(1, 99999)} ms"
        if k == 12:
            return self.when().strftime(r.choice(["%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d"]))
        if k == 13:
            return f"listening on localhost:{r.randint(1024, 65535)}"
        if k == 14:
            return f"at {self.en.latitude()}, {self.en.longitude()}"
        if k == 15:
            return f"tracking {r.randint(10**8, 10**9 - 1)}"
        if k == 16:
            return f"invoice {r.randint(10**9, 10**10 - 1)}"
        if k == 17:
            return f"SKU-{r.randint(1000, 9999)}-{r.randint(1000, 9999)}-{r.randint(1000, 9999)}"
        if k == 18:
            return f"{r.randint(1, 500)} rows in {r.randint(1, 900)}.{r.randint(0, 999):03d}s"
        return f"zip {self.en.zipcode()} qty {r.randint(1, 99)}"

    def when(self):
        # A fixed range: faker's default ranges end "now", which would change the corpus daily.
        return self.en.date_time_between(start_date=datetime(2000, 1, 1), end_date=datetime(2025, 1, 1))

    def filler(self):
        return self.en.sentence(nb_words=self.r.randint(4, 12))


def luhn(n):
    s = 0
    for i, d in enumerate(reversed(n)):
        v = int(d)
        if i % 2 == 1:
            v *= 2
            if v > 9:
                v -= 9
        s += v
    return s % 10 == 0


def text_record(g, n_entities, n_noise):
    """Free text with entities and near misses; returns (text, labels)."""
    parts = []
    items = [("e", g.r.choice(TYPES)) for _ in range(n_entities)] + [("n", None)] * n_noise
    g.r.shuffle(items)
    text = ""
    labels = []
    for kind, typ in items:
        sep = g.r.choice([" ", " ", ". ", ", ", "\n", "; ", " | "])
        if g.r.random() < 0.5:
            text += g.filler() + " "
        if kind == "n":
            text += g.noise() + sep
            continue
        ctx, v, close = g.entity(typ)
        text += ctx
        labels.append({"type": typ, "start": len(text), "end": len(text) + len(v), "value": v})
        text += v + close + sep
    parts.append(text)
    return text, labels


PLACEHOLDER = "\u2063ENT{}\u2063"


def json_record(g, n_rows, entity_rate, line_rate=0.6):
    """A tools/call result: text content plus structuredContent rows; spans in the raw JSON."""
    values = []

    def slot(typ):
        ctx, v, close = g.entity(typ)
        values.append((typ, v))
        return ctx + PLACEHOLDER.format(len(values) - 1) + close

    rows = []
    for i in range(n_rows):
        row = {"id": g.r.randint(1, 10**6), "name": g.en.name(), "created_at": g.noise() if g.r.random() < 0.3 else g.when().isoformat()}
        for typ, key in [("EMAIL_ADDRESS", "email"), ("PHONE_NUMBER", "phone"), ("CREDIT_CARD", "card"),
                         ("IBAN_CODE", "iban"), ("US_SSN", "tax_id"), ("IP_ADDRESS", "last_login_ip")]:
            if g.r.random() < entity_rate:
                _, v, _ = g.entity(typ)
                values.append((typ, v))
                row[key] = PLACEHOLDER.format(len(values) - 1)
        row["note"] = g.filler() + " " + g.noise()
        rows.append(row)
    n_ent = max(1, int(n_rows * entity_rate * 2))
    lines = []
    for _ in range(n_ent + 2):
        line = g.filler()
        if g.r.random() < line_rate:
            line += " " + slot(g.r.choice(TYPES))
        if g.r.random() < 0.6:
            line += " " + g.noise()
        lines.append(line)
    doc = {
        "jsonrpc": "2.0",
        "id": g.r.randint(1, 1000),
        "result": {
            "content": [{"type": "text", "text": "\n".join(lines)}],
            "structuredContent": {"rows": rows},
            "isError": False,
        },
    }
    raw = json.dumps(doc, ensure_ascii=False)
    labels = []
    out = []
    pos = 0
    consumed = 0
    for m in re.finditer("\u2063ENT([0-9]+)\u2063", raw):
        out.append(raw[consumed:m.start()])
        pos += m.start() - consumed
        typ, v = values[int(m.group(1))]
        labels.append({"type": typ, "start": pos, "end": pos + len(v), "value": v})
        out.append(v)
        pos += len(v)
        consumed = m.end()
    out.append(raw[consumed:])
    return "".join(out), labels


def big_result(g, target_bytes, entity_rate, line_rate):
    """One ~target_bytes JSON tool result (for throughput)."""
    rows = []
    text_lines = []
    size = 0
    while size < target_bytes:
        raw, _ = json_record(g, 10, entity_rate, line_rate)
        d = json.loads(raw)["result"]
        rows.extend(d["structuredContent"]["rows"])
        text_lines.append(d["content"][0]["text"])
        size += len(raw.encode())
    doc = {"jsonrpc": "2.0", "id": 1, "result": {
        "content": [{"type": "text", "text": "\n".join(text_lines)}],
        "structuredContent": {"rows": rows}, "isError": False}}
    return json.dumps(doc, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--out", default="corpus.jsonl")
    ap.add_argument("--bench-prefix", default="bench", help="writes PREFIX_sparse.json and PREFIX_dense.json")
    args = ap.parse_args()

    g = Gen(args.seed)
    counts = {t: 0 for t in TYPES}
    with open(args.out, "w", encoding="utf-8") as f:
        for i in range(args.records):
            if i % 2 == 0:
                text, labels = text_record(g, g.r.randint(0, 6), g.r.randint(1, 8))
                fmt = "text"
            else:
                text, labels = json_record(g, g.r.randint(1, 5), 0.5)
                fmt = "json"
            for lab in labels:
                assert text[lab["start"]:lab["end"]] == lab["value"]
                counts[lab["type"]] += 1
            f.write(json.dumps({"id": i, "format": fmt, "text": text, "labels": labels}, ensure_ascii=False) + "\n")

    gb = Gen(args.seed + 1)
    for name, rate, line_rate in [("sparse", 0.003, 0.02), ("dense", 0.6, 0.9)]:
        raw = big_result(gb, 1_070_000, rate, line_rate)
        with open(f"{args.bench_prefix}_{name}.json", "w", encoding="utf-8") as f:
            f.write(raw)
    print(json.dumps({"records": args.records, "entities": counts}))


if __name__ == "__main__":
    main()
