#!/usr/bin/env bash
# A bad configuration stops goldgate-switch at start-up with exit code 2 and "file:line: reason".
# Usage: bad_config_exit.sh SWITCH_BINARY DATA_DIR
bin=$1; data=$2
out=$("$bin" -c "$data/bad-config/unknown-key.yaml" 2>&1); rc=$?
echo "$out"
[ "$rc" -eq 2 ] || { echo "FAIL: exit code $rc, want 2"; exit 1; }
echo "$out" | grep -q "unknown-key.yaml:4: unknown key 'portz'" || { echo "FAIL: no file:line in the message"; exit 1; }
echo "PASS: rejected with file:line and exit code 2"
