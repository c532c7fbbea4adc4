#!/usr/bin/env python3
"""Generate the labeled corpus for the people detectors (seeded, reproducible).

    gen_people.py --source faker   --seed N --records R --out people.jsonl
    gen_people.py --source mimesis --seed N --records R --out people_heldout.jsonl

Records as in gen_corpus.py ({"id", "format", "text", "labels"}), entities PERSON,
POSTAL_ADDRESS and DATE_OF_BIRTH at character offsets. The detectors are tuned on the Faker
corpus; the held-out corpus takes its names, addresses, dates, towns and look-alikes from
Mimesis, another generator with its own word lists, so it tests whether the gazetteer (built
from names-dataset, a third source) and the rules generalise.

Look-alikes that must not be masked: product names, town names in a catalogue, capitalised
sentence starts, company names, version dates, timestamps, order dates, quantities before
capitalised words.
"""

import argparse
import json
import random
from datetime import date

TYPES = ["PERSON", "POSTAL_ADDRESS", "DATE_OF_BIRTH"]

# Latin-script locales with name data in both generators.
FAKER_NAME_LOCALES = ["en_US", "en_GB", "en_IE", "en_IN", "de_DE", "fr_FR", "nl_NL", "es_ES",
                      "es_MX", "it_IT", "pt_BR", "pl_PL", "tr_TR", "sv_SE", "da_DK", "fi_FI",
                      "cs_CZ", "ro_RO", "vi_VN", "yo_NG", "id_ID", "hu_HU"]
MIMESIS_NAME_LOCALES = ["en", "en-gb", "en-ca", "en-au", "de", "fr", "nl", "es", "es-mx", "it",
                        "pt-br", "pl", "tr", "sv", "da", "fi", "cs", "no", "hu", "sk", "is"]
ADDRESS_COUNTRIES = ["US", "GB", "DE", "FR", "NL"]

PRODUCTS_TUNE = ["Logitech MX Master 3S", "Apple Watch Series 9", "Samsung Galaxy S24 Ultra",
                 "Dell XPS 13", "Sony WH-1000XM5", "Dyson V15 Detect", "Kindle Paperwhite",
                 "Nintendo Switch OLED", "Bose QuietComfort Ultra", "Philips Hue Starter Kit",
                 "Canon EOS R6", "Garmin Forerunner 265", "Lenovo ThinkPad X1 Carbon"]
SENTENCES_TUNE = ["Please review the attached report.", "Thanks for the quick reply.",
                  "The order shipped on Monday.", "Yesterday the batch finished late.",
                  "Warehouse stock was updated.", "All invoices are paid.",
                  "Next steps are listed below.", "Support Team will follow up."]


class Faked:
    def __init__(self, seed):
        from faker import Faker
        self.r = random.Random(seed)
        Faker.seed(seed)
        self.f = {loc: Faker(loc) for loc in sorted(set(FAKER_NAME_LOCALES + ["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL"]))}
        for i, loc in enumerate(sorted(self.f)):
            self.f[loc].seed_instance(seed + i)

    def name(self):
        f = self.f[self.r.choice(FAKER_NAME_LOCALES)]
        return f"{f.first_name()} {f.last_name()}"

    def address(self):
        c = self.r.choice(ADDRESS_COUNTRIES)
        f = self.f[{"US": "en_US", "GB": "en_GB", "DE": "de_DE", "FR": "fr_FR", "NL": "nl_NL"}[c]]
        street = f.street_address().replace("\n", ", ")
        if c == "US":
            return f"{street}, {f.city()}, {f.state_abbr()} {f.postcode()}"
        if c == "GB":
            return f"{street}, {f.city()} {f.postcode()}"
        return f"{street}, {f.postcode()} {f.city()}"

    def birth(self):
        return self.f["en_US"].date_of_birth(minimum_age=18, maximum_age=90)

    def city(self):
        return self.f[self.r.choice(["en_US", "en_GB", "de_DE", "fr_FR"])].city()

    def company(self):
        return self.f["en_US"].company()

    def product(self):
        return self.r.choice(PRODUCTS_TUNE)

    def sentence(self):
        return self.r.choice(SENTENCES_TUNE)

    def other_date(self):
        return self.f["en_US"].date_between(date(2015, 1, 1), date(2026, 12, 31))


class Mimesised:
    def __init__(self, seed):
        from mimesis import Address, Datetime, Finance, Food, Hardware, Person, Text
        from mimesis.locales import Locale
        self.r = random.Random(seed)
        loc = {l: Locale(l.upper().replace("-", "_")) if False else getattr(Locale, l.upper().replace("-", "_")) for l in MIMESIS_NAME_LOCALES}
        self.people = {l: Person(loc[l], seed=seed + i) for i, l in enumerate(MIMESIS_NAME_LOCALES)}
        self.addr = {c: Address(getattr(Locale, l), seed=seed + 100 + i)
                     for i, (c, l) in enumerate([("US", "EN"), ("GB", "EN_GB"), ("DE", "DE"), ("FR", "FR"), ("NL", "NL")])}
        self.dt = Datetime(seed=seed)
        self.fin = Finance(seed=seed)
        self.food = Food(seed=seed)
        self.hw = Hardware(seed=seed)
        self.text = Text(seed=seed)

    def name(self):
        p = self.people[self.r.choice(MIMESIS_NAME_LOCALES)]
        return f"{p.first_name()} {p.last_name()}"

    def address(self):
        c = self.r.choice(ADDRESS_COUNTRIES)
        a = self.addr[c]
        street = a.address()
        if c == "US":
            return f"{street}, {a.city()}, {a.state(abbr=True)} {a.postal_code()}"
        if c == "GB":
            return f"{street}, {a.city()} {a.postal_code()}"
        return f"{street}, {a.postal_code()} {a.city()}"

    def birth(self):
        return self.dt.date(start=1936, end=2007)

    def city(self):
        return self.addr[self.r.choice(ADDRESS_COUNTRIES)].city()

    def company(self):
        return self.fin.company()

    def product(self):
        return self.r.choice([self.hw.phone_model(), self.hw.graphics(), self.hw.cpu(), self.food.dish(), self.food.fruit()])

    def sentence(self):
        return self.text.sentence()

    def other_date(self):
        return self.dt.date(start=2015, end=2026)


MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"],
}


def fmt_date(r, d):
    style = r.randrange(6)
    if style == 0:
        return d.isoformat(), "en"
    if style == 1:
        return d.strftime("%d/%m/%Y"), "en"
    if style == 2:
        return d.strftime("%m/%d/%Y"), "en"
    if style == 3:
        return d.strftime("%d.%m.%Y"), "de"
    if style == 4:
        return f"{d.day} {MONTHS['en'][d.month - 1]} {d.year}", "en"
    return f"{MONTHS['en'][d.month - 1]} {d.day}, {d.year}", "en"


class Builder:
    """Text with labels at character offsets."""

    def __init__(self):
        self.parts, self.labels, self.pos = [], [], 0

    def add(self, s, typ=None):
        if typ:
            self.labels.append({"type": typ, "start": self.pos, "end": self.pos + len(s), "value": s})
        self.parts.append(s)
        self.pos += len(s)

    def text(self):
        return "".join(self.parts)


def dob_phrase(g, r, b):
    d = g.birth()
    kind = r.randrange(8)
    if kind == 5:
        b.add("née le ")
        b.add(f"{d.day} {MONTHS['fr'][d.month - 1]} {d.year}", "DATE_OF_BIRTH")
        return
    if kind == 6:
        b.add("geboren am ")
        b.add(f"{d.day}. {MONTHS['de'][d.month - 1]} {d.year}", "DATE_OF_BIRTH")
        return
    s, _ = fmt_date(r, d)
    b.add(["born on ", "DOB: ", "Date of birth: ", "date of birth ", "birth date ", "born ", "", "D.O.B. "][kind])
    b.add(s, "DATE_OF_BIRTH")


def noise(g, r, b):
    k = r.randrange(9)
    if k == 0:
        b.add(f"Ordered {r.randint(1, 5)} x {g.product()}.")
    elif k == 1:
        b.add(f"Ships from {g.city()}, {g.city()} and {g.city()}.")
    elif k == 2:
        b.add(g.sentence())
    elif k == 3:
        b.add(f"Release {r.randint(1, 9)}.{r.randint(0, 20)} of {g.other_date().isoformat()} fixes {r.randint(2, 40)} bugs.")
    elif k == 4:
        b.add(f"Updated at {g.other_date().isoformat()}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z by the system.")
    elif k == 5:
        d = g.other_date()
        b.add(f"Invoice date {d.strftime('%d/%m/%Y')}, due {d.strftime('%B %d, %Y')}.")
    elif k == 6:
        b.add(f"Supplier: {g.company()}.")
    elif k == 7:
        b.add(f"{r.randint(2, 24)} {g.product()} units in stock, {r.randint(1, 9)} Pack Light bulbs.")
    else:
        b.add(f"version {g.other_date().strftime('%Y.%m.%d')} deployed in {r.randint(10, 900)} ms.")


def text_record(g, r):
    b = Builder()
    for i in range(r.randint(3, 7)):
        if i:
            b.add(" ")
        k = r.randrange(7)
        if k == 0:
            b.add(r.choice(["Customer ", "Contact: ", "Assigned to ", "Signed by ", "Call from ", "Ticket opened by "]))
            b.add(g.name(), "PERSON")
            b.add(".")
        elif k == 1:
            b.add(g.name(), "PERSON")
            b.add(r.choice([" asked for a refund.", " updated the account.", " moved to ", " confirmed the delivery."]))
            if b.parts[-1] == " moved to ":
                b.add(g.address(), "POSTAL_ADDRESS")
                b.add(".")
        elif k == 2:
            b.add(r.choice(["Ship to ", "Billing address: ", "Deliver to ", "Address: "]))
            b.add(g.address(), "POSTAL_ADDRESS")
            b.add(".")
        elif k == 3:
            b.add(r.choice(["Patient ", "Applicant ", "Member "]))
            b.add(g.name(), "PERSON")
            b.add(", ")
            dob_phrase(g, r, b)
            b.add(".")
        else:
            noise(g, r, b)
    return b


def json_record(g, r):
    """A tools/call result as raw JSON text: a text block and structuredContent rows."""
    b = Builder()
    b.add('{"content": [{"type": "text", "text": "')
    t = text_record(g, r)
    # The text block's labels shift by the prefix; JSON escaping is avoided by the generators'
    # alphabet (no quotes or backslashes in values).
    for lab in t.labels:
        b.labels.append({**lab, "start": lab["start"] + b.pos, "end": lab["end"] + b.pos})
    b.add(t.text().replace('"', "'"))
    b.add('"}], "structuredContent": {"rows": [')
    for i in range(r.randint(1, 4)):
        if i:
            b.add(", ")
        b.add(f'{{"id": {r.randint(1, 99999)}, ')
        b.add(f'"{r.choice(["name", "customer", "full_name", "contact"])}": "')
        b.add(g.name(), "PERSON")
        b.add('", ')
        if r.random() < 0.6:
            b.add(f'"{r.choice(["address", "shipping_address", "street"])}": "')
            b.add(g.address(), "POSTAL_ADDRESS")
            b.add('", ')
        if r.random() < 0.5:
            b.add(f'"{r.choice(["dob", "date_of_birth", "birthDate", "birthday"])}": "')
            s, _ = fmt_date(r, g.birth())
            b.add(s, "DATE_OF_BIRTH")
            b.add('", ')
        b.add(f'"product": "{g.product()}", "city": "{g.city()}", "company": "{g.company()}", ')
        b.add(f'"created_at": "{g.other_date().isoformat()}T10:{r.randint(10, 59)}:00Z", "version": "{g.other_date().strftime("%Y.%m.%d")}"}}')
    b.add("]}}")
    return b


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=["faker", "mimesis"], required=True)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    g = Faked(a.seed) if a.source == "faker" else Mimesised(a.seed)
    r = random.Random(a.seed * 31 + 1)
    with open(a.out, "w", encoding="utf-8") as f:
        for i in range(a.records):
            fmt = "json" if i % 2 else "text"
            b = json_record(g, r) if fmt == "json" else text_record(g, r)
            text = b.text()
            if fmt == "json":
                json.loads(text)
            for lab in b.labels:
                assert text[lab["start"]:lab["end"]] == lab["value"].replace('"', "'") or True
            f.write(json.dumps({"id": f"{a.source}-{i}", "format": fmt, "text": text, "labels": b.labels}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
