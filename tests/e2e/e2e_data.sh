#!/usr/bin/env bash
# End-to-end: the data policy inline, between network namespaces with curl and an HTTP upload
# receiver. A VM uploads a file with card numbers to the outside (blocked: the connection is reset,
# the receiver never gets the file, a data.payment-card alert is written); the same upload to the
# database in the payment zone (where the class may go) arrives byte-identical; a file without
# sensitive data arrives byte-identical and raises no finding. Then the forms data really travels
# in: a gzip-encoded body, a chunked one, a multipart form with a base64 file part, a zipped CSV and
# an .xlsx, each blocked toward the outside with the decoding path in its alert and delivered
# byte-identical inside the zone; and TLS uploads, which the switch cannot read, following the
# `inspection.unreadable` rules (blocked toward an unknown server name, allowed toward a known one).
# Content that cannot be decoded (a corrupt gzip body) and a decompression bomb are gaps: reset
# toward the internet (by default: classes block there), and delivered and reported inside the
# zone (by a rule).
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
gg_enable_inspection "$work" "$src" "unreadable: [
    {from: payment, to: internet, content: tls, server_names: [updates.example.org], action: allow},
    {from: payment, to: internet, content: [tls, ssh, encrypted], action: block},
    {from: payment, to: payment, content: [decode-failed, over-budget], action: alert}]"
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

# alert_has KIND FIELD=VALUE...: an alert of KIND with every FIELD (dotted: data_class.path) equal
# to VALUE (or, for VALUE ending in '*', starting with it) is written.
alert_has() {
  /usr/bin/python3 - "$work/alerts.jsonl" "$@" <<'PY'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[3:])
def get(ev, dotted):
    for k in dotted.split("."):
        ev = ev.get(k, {}) if isinstance(ev, dict) else {}
    return ev if isinstance(ev, str) else ""
def ok(v, w):
    return v.startswith(w[:-1]) if w.endswith("*") else v == w
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev.get("kind") == sys.argv[2] and all(ok(get(ev, k), w) for k, w in want.items()):
        sys.exit(0)
sys.exit(1)
PY
}

# 1. Card numbers to the outside: blocked and reset.
gg_in gg-web1 curl -s -m 10 --data-binary @"$work/cards.csv" -o "$work/r1" http://10.0.0.254/cards.csv
rc=$?
expect "upload of card numbers to the internet fails (curl exit $rc: reset)" test "$rc" -ne 0
expect "the outside never received the complete file" \
  bash -c "! cmp -s '$work/cards.csv' '$work/out-recv/cards.csv' 2>/dev/null"
expect "a data.payment-card alert with action block was written" \
  until_ok 10 alert_has data.payment-card action=block flow.dst_ip=10.0.0.254

# 2. The same file inside the payment zone (web1 -> db1): allowed, byte-identical.
out=$(gg_in gg-web1 curl -s -m 20 --data-binary @"$work/cards.csv" http://10.0.0.2:5432/cards.csv)
expect "the upload inside the payment zone succeeded and arrived byte-identical" test "$out" = "$(sha "$work/cards.csv")"
expect "the switch's flow table names the classes the allowed flow carried" \
  bash -c "$ctl flows --port web1 | grep ':5432 ' | grep -q payment-card"

# 3. A file without sensitive data to the outside: untouched.
lines_before=$(wc -l < "$work/alerts.jsonl")
out=$(gg_in gg-web1 curl -s -m 20 --data-binary @"$work/clean.txt" http://10.0.0.254/clean.txt)
expect "a clean file reached the outside byte-identical" test "$out" = "$(sha "$work/clean.txt")"
expect "received copy identical on disk" cmp -s "$work/clean.txt" "$work/out-recv/clean.txt"
# Alerts are written in order: once an alert raised after the clean upload is there, any finding of
# the clean upload would be too.
gg_in gg-web1 curl -s -m 20 --data-binary "contact marker.after.clean@example.org" -o /dev/null http://10.0.0.254/marker
expect "the marker upload after it was alerted" until_ok 10 alert_has data.email flow.dst_ip=10.0.0.254
after=$(grep -v '"kind":"data.email"' "$work/alerts.jsonl" | grep -c '"kind":"data\.' || true)
before=$(head -n "$lines_before" "$work/alerts.jsonl" | grep -v '"kind":"data.email"' | grep -c '"kind":"data\.' || true)
expect "the clean file raised no data finding ($before -> $after)" test "$before" = "$after"

# 4. The counters say what happened.
drops=$($ctl --json status | /usr/bin/python3 -c "
import json, sys
s = json.load(sys.stdin)['status']
print(sum(int(c.get('value', 0)) for c in s.get('drops', []) if c['name'] == 'data_policy'))")
expect "data_policy drops counted ($drops)" test "$drops" -ge 1

# 5. Encoded, compressed and packaged uploads: blocked toward the outside with the path they were
# found through; delivered as they are inside the payment zone.
gzip -c "$work/cards.csv" > "$work/cards.csv.gz"
(cd "$work" && zip -q cards.zip cards.csv)
/usr/bin/python3 - "$work/cards.csv" "$work/cards.xlsx" <<'PY'
import csv, sys, openpyxl
wb = openpyxl.Workbook()
ws = wb.active
for row in csv.reader(open(sys.argv[1])):
    ws.append(row)
wb.save(sys.argv[2])
PY
upload() {  # upload NAME DEST CURL-ARGS...: curl's exit code; the answer in $work/answer
  local name=$1 dest=$2
  shift 2
  gg_in gg-web1 curl -s -m 15 -o "$work/answer" "$@" "http://$dest/$name"
}
declare -A kinds=(
  [gzip]="-H Content-Encoding:gzip -H Content-Type:text/csv --data-binary @$work/cards.csv.gz|http.body > gzip|$work/cards.csv.gz"
  [chunked]="-H Transfer-Encoding:chunked -H Content-Type:text/csv --data-binary @$work/cards.csv||$work/cards.csv"
  [multipart]="-F file=@$work/cards.csv;type=text/csv;encoder=base64|http.body > multipart:cards.csv > base64|$work/cards.csv"
  [zip]="-H Content-Type:application/zip --data-binary @$work/cards.zip|http.body > zip:cards.csv|$work/cards.zip"
  [xlsx]="-H Content-Type:application/octet-stream --data-binary @$work/cards.xlsx|http.body > zip:xl/worksheets/sheet1.xml|$work/cards.xlsx"
)
for k in gzip chunked multipart zip xlsx; do
  IFS='|' read -r args path file <<<"${kinds[$k]}"
  # shellcheck disable=SC2086
  upload "up-$k" 10.0.0.254 $args
  rc=$?
  expect "$k upload of card numbers to the internet is reset (curl exit $rc)" test "$rc" -ne 0
  expect "the outside never received the $k upload whole" \
    bash -c "! cmp -s '$file' '$work/out-recv/up-$k' 2>/dev/null && ! cmp -s '$work/cards.csv' '$work/out-recv/cards.csv' 2>/dev/null"
  if [ -n "$path" ]; then
    expect "a blocking data.payment-card alert names the path '$path'" \
      until_ok 10 alert_has data.payment-card "data_class.path=$path" action=block
  fi
  # shellcheck disable=SC2086
  upload "in-$k" 10.0.0.2:5432 $args
  expect "the $k upload inside the payment zone arrived byte-identical" test "$(cat "$work/answer" 2>/dev/null)" = "$(sha "$file")"
done

# 6. What cannot be decoded: a gzip body corrupted past its header (of a file with nothing
# sensitive), and a bomb (64 MiB of zeros in 64 KiB). Toward the internet no rule applies: a gap
# with its reason, reset because classes block there; inside the zone a rule reports it instead.
/usr/bin/python3 - "$work/clean.txt" "$work/corrupt.gz" "$work/bomb.gz" <<'PY'
import gzip, sys
data = gzip.compress(open(sys.argv[1], "rb").read())
bad = bytearray(data)
for i in range(40, 60):
    bad[i] ^= 0xa5
open(sys.argv[2], "wb").write(bytes(bad))
open(sys.argv[3], "wb").write(gzip.compress(b"\0" * (64 << 20), 9))
PY
for k in corrupt bomb; do
  upload "up-$k" 10.0.0.254 -H Content-Encoding:gzip -H Content-Type:text/plain --data-binary @"$work/$k.gz"
  rc=$?
  expect "a $k gzip body toward the internet is reset (curl exit $rc)" test "$rc" -ne 0
  upload "in-$k" 10.0.0.2:5432 -H Content-Encoding:gzip -H Content-Type:text/plain --data-binary @"$work/$k.gz"
  expect "the $k gzip body inside the payment zone arrived byte-identical" \
    test "$(cat "$work/answer" 2>/dev/null)" = "$(sha "$work/$k.gz")"
done
expect "an inspection.gap alert blocks the corrupt body, category decode-failed, reason corrupt, path http.body > gzip" \
  until_ok 10 alert_has inspection.gap action=block content.category=decode-failed content.reason=corrupt \
  "content.path=http.body > gzip" flow.dst_ip=10.0.0.254
expect "an inspection.gap alert blocks the bomb, category over-budget, reason ratio" \
  until_ok 10 alert_has inspection.gap action=block content.category=over-budget content.reason=ratio flow.dst_ip=10.0.0.254
expect "inside the zone the bomb is reported by its rule, not blocked" \
  until_ok 10 alert_has inspection.gap action=alert content.category=over-budget flow.dst_ip=10.0.0.2

# 7. TLS, which the switch cannot read: the unreadable rules decide, with the ClientHello's server
# name in the alert. No interception: the content stays unread either way.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=upload.example.net \
  -addext "subjectAltName=DNS:upload.example.net,DNS:updates.example.org" \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
mkdir -p "$work/tls-recv"
gg_in gg-out /usr/bin/python3 "$here/upload_server.py" 10.0.0.254 443 "$work/tls-recv" --tls "$work/tls.crt" "$work/tls.key" \
  2>"$work/tls-server.log" &
until_ok 10 gg_in gg-web1 nc -z -w 1 10.0.0.254 443
tls_upload() {  # tls_upload HOST: curl's exit code
  gg_in gg-web1 curl -s -m 15 --cacert "$work/tls.crt" --resolve "$1:443:10.0.0.254" -o "$work/answer" \
    --data-binary @"$work/clean.txt" "https://$1/tls-$1"
}
tls_upload upload.example.net
rc=$?
expect "a TLS upload to a server name no rule allows is reset (curl exit $rc)" test "$rc" -ne 0
expect "an inspection.opaque alert blocks it, naming the server, ALPN and fingerprint" \
  until_ok 10 alert_has inspection.opaque action=block content.server_name=upload.example.net content.alpn=h2,http/1.1 \
  "content.ja4=t13d*"
tls_upload updates.example.org
expect "a TLS upload to an allowed server name arrives (its content unread)" \
  test "$(cat "$work/answer" 2>/dev/null)" = "$(sha "$work/clean.txt")"

expect "no clear card number in the alert file (every data.payment-card alert, aggregated repeats included)" \
  bash -c "! grep -Eq '[0-9]{13,19}' <(grep '\"kind\":\"data.payment-card\"' '$work/alerts.jsonl' | sed 's/time_unix_ns\":\"[0-9]*\"//g; s/\"id\":\"[^\"]*\"//')"

echo "e2e data policy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
