#!/usr/bin/env bash
# Fails when the committed JSON Schema of the C ABI (include/o365.schema.json) is stale or
# not a valid JSON Schema:
#   1. the contract registry (src/service/contract.rs) generates it anew (through the test
#      binary tests/schema.rs); the committed copy must be byte for byte the same (else: run
#      `make schema` and commit include/);
#   2. it is committed;
#   3. Python's jsonschema accepts it as a draft 2020-12 schema, it has the agreed top-level
#      shape, and every $ref is local and resolves.
# (The crate's own cargo test checks 1 as well; this script is the belt to its braces.)
#
#   scripts/check-schema.sh
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
err() { echo "schema check: $*" >&2; fail=1; }
schema=include/o365.schema.json

[[ -f "$schema" ]] || { err "$schema is missing (run make schema)"; exit 1; }
git ls-files --error-unmatch "$schema" >/dev/null 2>&1 || err "$schema is not committed (git add it)"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if ! O365_SCHEMA_OUT="$tmp" ${CARGO:-cargo} test -q --test schema committed_schema_is_current \
        >/dev/null 2>&1; then
    err "the schema generator (cargo test --test schema) failed"
elif ! cmp -s "$tmp" "$schema"; then
    err "$schema is stale: it differs from what src/service/contract.rs generates." \
        "Run \`make schema\` and commit include/. Diff (committed vs generated):"
    diff -u "$schema" "$tmp" | head -n 40 >&2 || true
fi

if ! python3 - "$schema" <<'PY'
import json, sys
import jsonschema

doc = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(doc)
problems = []
if doc.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
    problems.append("$schema is not draft 2020-12")
for key in ("title", "$defs", "x-o365-calls", "x-o365-error", "x-o365-error-kinds"):
    if key not in doc:
        problems.append("no " + key)
defs = doc.get("$defs", {})

def refs(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "$ref":
                yield x
            else:
                yield from refs(x)
    elif isinstance(v, list):
        for x in v:
            yield from refs(x)

for r in refs(doc):
    if not r.startswith("#/$defs/") or r[len("#/$defs/"):] not in defs:
        problems.append("unresolved $ref " + r)
for name, row in doc.get("x-o365-calls", {}).items():
    for side in ("request", "response"):
        if side not in row or not (row[side] is None or set(row[side]) == {"$ref"}):
            problems.append(f"{name}.{side} is neither null nor a $ref")
for k in doc.get("x-o365-error-kinds", []):
    if set(k) != {"kind", "status", "status_name", "description"}:
        problems.append("error kind row " + json.dumps(k))
# Every response is checkable: the error document validates as one.
jsonschema.Draft202012Validator({"$ref": "#/$defs/ErrorBody", "$defs": defs}).validate(
    {"status": 1, "error": "unknown_field", "message": "m", "details": {"field": "x"}})
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY
then
    err "$schema is not a valid draft 2020-12 schema of the agreed shape (see above)"
fi

if ((fail)); then
    exit 1
fi
echo "schema check: $schema is current and valid" \
     "($(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["x-o365-calls"]), "calls,", len(d["$defs"]), "types,", len(d["x-o365-error-kinds"]), "error kinds")' "$schema"))"
