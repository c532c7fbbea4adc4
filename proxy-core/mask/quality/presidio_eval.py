#!/usr/bin/env python3
"""Run Microsoft Presidio's pattern recognizers over the corpus (offline) or time them.

Usage:
  presidio_eval.py CORPUS.jsonl OUT.jsonl       findings per record, character offsets
  presidio_eval.py --bench FILE...              MB/s of AnalyzerEngine.analyze on each file

Presidio runs without a downloaded spaCy model: a blank English pipeline is saved to a temporary
folder and given to SpacyNlpEngine as the model, so only tokenisation runs (no NER) and the
recognizers that matter here are regex/checksum ones: CreditCardRecognizer (Luhn),
IbanRecognizer (mod-97), UsSsnRecognizer, EmailRecognizer, PhoneRecognizer
(python-phonenumbers; default regions US, GB, DE, FR, IL, IN, CA, BR) and IpRecognizer,
each with Presidio's default context words and settings. Every result is kept (the analyzer's
default score_threshold of 0), as a user of these recognizers gets them.
"""

import json
import sys
import tempfile
import time

import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

ENTITIES = ["CREDIT_CARD", "IBAN_CODE", "US_SSN", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS"]


def offline_tldextract():
    """EmailRecognizer validates domains with tldextract, which fetches the public-suffix list
    from the network on first use; use the snapshot bundled with the package instead."""
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())


def analyzer(model_dir):
    offline_tldextract()
    nlp = spacy.blank("en")
    nlp.to_disk(model_dir)
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model_dir}])
    engine.load()
    for m in engine.nlp.values():
        m.max_length = 5_000_000
    registry = RecognizerRegistry(supported_languages=["en"])
    for r in [CreditCardRecognizer(), IbanRecognizer(), UsSsnRecognizer(), EmailRecognizer(),
              PhoneRecognizer(), IpRecognizer()]:
        registry.add_recognizer(r)
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


def main():
    args = sys.argv[1:]
    with tempfile.TemporaryDirectory() as model_dir:
        a = analyzer(model_dir)
        if args and args[0] == "--bench":
            for path in args[1:]:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                size = len(text.encode())
                a.analyze(text=text[:2000], language="en", entities=ENTITIES)
                t = time.perf_counter()
                a.analyze(text=text, language="en", entities=ENTITIES)
                secs = time.perf_counter() - t
                print(json.dumps({"file": path, "bytes": size, "seconds": secs, "mb_s": size / secs / 1e6}))
            return
        if len(args) != 2:
            sys.exit(__doc__)
        with open(args[0], encoding="utf-8") as fin, open(args[1], "w", encoding="utf-8") as fout:
            for line in fin:
                rec = json.loads(line)
                res = a.analyze(text=rec["text"], language="en", entities=ENTITIES)
                findings = [{"type": r.entity_type, "start": r.start, "end": r.end, "score": r.score} for r in res]
                fout.write(json.dumps({"id": rec["id"], "findings": findings}) + "\n")


if __name__ == "__main__":
    main()
