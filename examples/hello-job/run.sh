#!/bin/bash
# An example job: summarise a CSV that the data owner exposes read-only under $DATA_DIR,
# and write only aggregate numbers to $OUTPUT_DIR.
set -euo pipefail
csv="$(ls "$DATA_DIR"/*/patients.csv | head -n 1)"
echo "reading $csv"
awk -F, 'NR > 1 { n++; sum += $3 } END { printf "patients: %d\nmean age: %.1f\n", n, sum / n }' "$csv" > "$OUTPUT_DIR/summary.txt"
cat "$OUTPUT_DIR/summary.txt"
