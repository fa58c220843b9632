#!/usr/bin/env bash
# End-to-end: the data policy inline, between network namespaces with curl and an HTTP upload
# receiver. A VM uploads a file with card numbers to the outside (blocked: the connection is reset,
# the receiver never gets the file, a data.payment-card alert is written); the same upload to the
# database in the payment zone (where the class may go) arrives byte-identical; a file without
# sensitive data arrives byte-identical and raises no finding.
# Usage: e2e_data.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$(cd "${1:-build}" && pwd)
source "$here/lib.sh"
gg_need_root

work=$(mktemp -d /tmp/gg-e2e-data.XXXXXX)
ctl="$bin/cli/goldgatectl -s $work/switch.sock"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; gg_cleanup; rm -rf "$work"' EXIT

gg_on_fail() { $ctl status 2>&1 | sed -n '/DROP REASON/,/^$/p' | sed 's/^/    /'; }

gg_topology_up
gg_write_config "$work"
gg_enable_inspection "$work" "$src"
gg_switch_start "$work" "$bin" || exit 1

mkdir -p "$work/out-recv" "$work/db-recv"
gg_in gg-out /usr/bin/python3 "$here/upload_server.py" 10.0.0.254 80 "$work/out-recv" 2>"$work/out-server.log" &
gg_in gg-db1 /usr/bin/python3 "$here/upload_server.py" 10.0.0.2 5432 "$work/db-recv" 2>"$work/db-server.log" &
for _ in $(seq 1 50); do
  gg_in gg-web1 nc -z -w 1 10.0.0.254 80 2>/dev/null && gg_in gg-web1 nc -z -w 1 10.0.0.2 5432 2>/dev/null && break
  sleep 0.1
done

# A customer export with card numbers (valid check digits, not published test numbers), ~200 KB.
/usr/bin/python3 - "$work/cards.csv" "$work/clean.txt" "$src/tests/datapolicy" <<'PY'
import random, sys
sys.path.insert(0, sys.argv[3])
from corpus import luhn_complete
random.seed(7)
def card(prefix, length):
    return luhn_complete(prefix + "".join(str(random.randrange(10)) for _ in range(length - len(prefix) - 1)))
words = "order shipped invoice customer basket delivery address street city amount total status".split()
with open(sys.argv[1], "w") as f:
    f.write("customer,name,card,amount\n")
    for i in range(4000):
        f.write("%d,%s %s,%s,%d.%02d\n" % (10000 + i, random.choice(words), random.choice(words),
                                             card(random.choice(["4556", "5191", "3782"]), 16 if i % 3 else 15) if i % 50 == 0 else "n/a",
                                             random.randrange(1000), random.randrange(100)))
with open(sys.argv[2], "w") as f:
    for i in range(20000):
        f.write("%s %s %s order %d of week %d\n" % (random.choice(words), random.choice(words), random.choice(words),
                                                    random.randrange(100000), random.randrange(52)))
PY
sha() { sha256sum "$1" | cut -d' ' -f1; }

# 1. Card numbers to the outside: blocked and reset.
gg_in gg-web1 curl -s -m 10 --data-binary @"$work/cards.csv" -o "$work/r1" http://10.0.0.254/cards.csv
rc=$?
expect "upload of card numbers to the internet fails (curl exit $rc: reset)" test "$rc" -ne 0
expect "the outside never received the complete file" \
  bash -c "! cmp -s '$work/cards.csv' '$work/out-recv/cards.csv' 2>/dev/null"
sleep 2.5
expect "a data.payment-card alert with action block was written" \
  bash -c "grep '\"kind\":\"data.payment-card\"' '$work/alerts.jsonl' | grep -q '\"action\":\"block\"'"
expect "no clear card number in the alert file" \
  bash -c "! grep -Eq '[0-9]{13,19}' <(grep '\"kind\":\"data.payment-card\"' '$work/alerts.jsonl' | sed 's/\"time_unix_ns\":\"[0-9]*\"//; s/\"id\":\"[^\"]*\"//')"

# 2. The same file inside the payment zone (web1 -> db1): allowed, byte-identical.
out=$(gg_in gg-web1 curl -s -m 20 --data-binary @"$work/cards.csv" http://10.0.0.2:5432/cards.csv)
expect "the upload inside the payment zone succeeded and arrived byte-identical" test "$out" = "$(sha "$work/cards.csv")"
expect "the switch's flow table names the classes the allowed flow carried" \
  bash -c "$ctl flows --port web1 | grep ':5432 ' | grep -q payment-card"

# 3. A file without sensitive data to the outside: untouched.
before=$(grep -c '"kind":"data\.' "$work/alerts.jsonl" || true)
out=$(gg_in gg-web1 curl -s -m 20 --data-binary @"$work/clean.txt" http://10.0.0.254/clean.txt)
expect "a clean file reached the outside byte-identical" test "$out" = "$(sha "$work/clean.txt")"
expect "received copy identical on disk" cmp -s "$work/clean.txt" "$work/out-recv/clean.txt"
sleep 2.5
after=$(grep -c '"kind":"data\.' "$work/alerts.jsonl" || true)
expect "the clean file raised no data finding ($before -> $after)" test "$before" = "$after"

# 4. The counters say what happened.
drops=$($ctl --json status | /usr/bin/python3 -c "
import json, sys
s = json.load(sys.stdin)['status']
print(sum(int(c.get('value', 0)) for c in s.get('drops', []) if c['name'] == 'data_policy'))")
expect "data_policy drops counted ($drops)" test "$drops" -ge 1

echo "e2e data policy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
