#!/usr/bin/env bash
# goldgatectl classify over gzip files written by gzip(1): the same findings as the plain file,
# marked "path":"gzip"; gzip members one after another; a truncated or corrupt file and a
# decompression bomb are errors (exit 2) that say why, after the findings before the damage.
# Then documents as an operator would test a class against them: a ZIP, an .xlsx, a .docx, a PDF,
# an email with an attachment and a multipart HTTP request, each found with its path; an encrypted
# ZIP is an error that says so; --raw reads the bytes as they are.
# Usage: classify_cli.sh GOLDGATECTL SOURCE_DIR
set -uo pipefail
ctl=$1; src=$2
work=$(mktemp -d /tmp/gg-classify.XXXXXX)
trap 'rm -rf "$work"' EXIT
classes="$src/configs/datapolicy"
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }

# A Luhn-valid card number (Visa range), made here so no fixed test number is relied on.
card=$(/usr/bin/python3 -c '
import random
d=[4]+[random.randrange(10) for _ in range(14)]
s=sum((x*2-9 if x*2>9 else x*2) if i%2==0 else x for i,x in enumerate(reversed(d)))
d.append((10-s%10)%10)
n="".join(map(str,d)); print(n[0:4]+" "+n[4:8]+" "+n[8:12]+" "+n[12:16])')
{ for i in $(seq 1 2000); do echo "line $i of an ordinary report, nothing to see"; done
  echo "payment card: $card exp 12/29"; } > "$work/report.txt"

"$ctl" classify --classes "$classes" --text "$work/report.txt" > "$work/plain.out"; rc=$?
check "plain file: a card found (exit $rc)" '[ $rc -eq 0 ] && grep -q "\"class\":\"payment-card\"" "$work/plain.out"'

gzip -c "$work/report.txt" > "$work/report.txt.gz"
"$ctl" classify --classes "$classes" "$work/report.txt.gz" > "$work/gz.out"; rc=$?
check "gzip file: the same card, through gzip (exit $rc)" \
  '[ $rc -eq 0 ] && grep -q "\"class\":\"payment-card\"" "$work/gz.out" && grep -q "\"path\":\"gzip\"" "$work/gz.out"'
check "gzip file: the same offset as in the plain file" \
  '[ "$(grep -o "\"offset\":[0-9]*" "$work/plain.out")" = "$(grep -o "\"offset\":[0-9]*" "$work/gz.out")" ]'

{ echo "first member, nothing"; } | gzip -c > "$work/two.gz"
gzip -c "$work/report.txt" >> "$work/two.gz"
"$ctl" classify --classes "$classes" "$work/two.gz" > "$work/two.out"; rc=$?
check "two gzip members: the card in the second is found (exit $rc)" '[ $rc -eq 0 ] && grep -q payment-card "$work/two.out"'

size=$(stat -c %s "$work/report.txt.gz")
head -c $((size - 20)) "$work/report.txt.gz" > "$work/cut.gz"
"$ctl" classify --classes "$classes" "$work/cut.gz" > /dev/null 2> "$work/cut.err"; rc=$?
check "truncated gzip: exit 2, says truncated (exit $rc)" '[ $rc -eq 2 ] && grep -q "truncated" "$work/cut.err"'

head -c 20000000 /dev/zero | gzip -c > "$work/bomb.gz"
"$ctl" classify --classes "$classes" --max-ratio 100 "$work/bomb.gz" > /dev/null 2> "$work/bomb.err"; rc=$?
check "a bomb: exit 2, stopped by the ratio (exit $rc)" '[ $rc -eq 2 ] && grep -q "expands more than 100:1" "$work/bomb.err"'
"$ctl" classify --classes "$classes" --max-ratio 1000000 --max-decoded-mb 4 "$work/bomb.gz" > /dev/null 2> "$work/bomb2.err"; rc=$?
check "a bomb: exit 2, stopped by the size (exit $rc)" '[ $rc -eq 2 ] && grep -q "over the budget of 4194304 bytes" "$work/bomb2.err"'

# Documents and messages, made by the real tools and libraries (tests/unit/datapolicy/make_encoded.py).
text="name,card
Ada Lovelace,$card
Charles Babbage,$card"
make() { /usr/bin/python3 "$src/tests/unit/datapolicy/make_encoded.py" "$1" "$text" > "$work/$2"; }
make zip report.zip
make xlsx report.xlsx
make docx report.docx
make pdf report.pdf
make email mail.eml
make multipart-base64 upload.http
make zip-encrypted secret.zip
for f in "report.zip|zip:report.csv" "report.xlsx|zip:xl/worksheets/sheet1.xml" "report.docx|zip:word/document.xml" \
  "report.pdf|pdf" "mail.eml|base64" "upload.http|http.body > multipart:cards.csv > base64"; do
  IFS='|' read -r file path <<<"$f"
  "$ctl" classify --classes "$classes" "$work/$file" > "$work/$file.out"; rc=$?
  check "$file: the card found through '$path' (exit $rc)" \
    '[ $rc -eq 0 ] && grep "\"class\":\"payment-card\"" "$work/$file.out" | grep -qF "\"path\":\"$path\""'
done
"$ctl" classify --classes "$classes" --raw "$work/report.zip" > /dev/null; rc=$?
check "--raw: the ZIP's compressed bytes hold no card (exit $rc)" '[ $rc -eq 1 ]'
"$ctl" classify --classes "$classes" "$work/secret.zip" > /dev/null 2> "$work/secret.err"; rc=$?
check "an encrypted ZIP: exit 2, says encrypted (exit $rc)" '[ $rc -eq 2 ] && grep -q "zip:report.csv: an encrypted ZIP member" "$work/secret.err"'

# Without --classes on a machine with no /etc/goldgate: the source tree's shipped classes.
if [ ! -d /etc/goldgate/datapolicy ]; then
  env -u GOLDGATE_DATAPOLICY "$ctl" classify "$work/report.txt" > "$work/default.out" 2> "$work/default.err"; rc=$?
  check "without --classes, the tree's configs/datapolicy is used (exit $rc)" \
    '[ $rc -eq 0 ] && grep -q "\"class\":\"payment-card\"" "$work/default.out"'
else
  echo "SKIP: /etc/goldgate/datapolicy exists here: the default from the source tree is not what runs"
fi

[ $fail -eq 0 ] && echo "PASS: classify over gzip and documents" || { echo "FAIL: classify over gzip and documents"; exit 1; }
