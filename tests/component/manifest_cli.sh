#!/usr/bin/env bash
# goldgatectl manifest keygen / sign / verify / show / diff: exit codes and one-line reasons.
# Usage: manifest_cli.sh GOLDGATECTL SOURCE_DIR
set -u
ctl=$(realpath "$1"); src=$(realpath "$2")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fails=0
# expect RC PATTERN -- CMD...: CMD exits with RC and its output (both streams) matches PATTERN.
expect() {
  local want=$1 pattern=$2; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (want $want), output: $out (want /$pattern/)"; fails=$((fails + 1))
  else
    echo "ok: $* -> $rc"
  fi
}
cp "$src/configs/manifests/demo-web.yaml" web.yaml
cp "$src/configs/manifests/demo-db.yaml" db.yaml

expect 0 '^key id [0-9a-f]{32}$' -- "$ctl" manifest keygen --out a.key
[ "$(stat -c %a a.key)" = 600 ] || { echo "FAIL: a.key is $(stat -c %a a.key), not 600"; fails=$((fails + 1)); }
expect 1 'exists' -- "$ctl" manifest keygen --out a.key
"$ctl" manifest keygen --out b.key >/dev/null; "$ctl" manifest keygen --out c.key >/dev/null

expect 1 'web.yaml: unsigned: ' -- "$ctl" manifest verify --pub a.key.pub web.yaml
expect 0 'signed by key' -- "$ctl" manifest sign --key a.key web.yaml
expect 0 'web.yaml: ok: shop-web version 3' -- "$ctl" manifest verify --pub a.key.pub web.yaml
expect 1 'web.yaml: unknown-key: ' -- "$ctl" manifest verify --pub b.key.pub web.yaml
expect 1 'web.yaml: threshold: 1 trusted signer, 2 required' -- "$ctl" manifest verify --pub a.key.pub --pub b.key.pub --threshold 2 web.yaml
expect 0 '2 signatures' -- "$ctl" manifest sign --key b.key web.yaml
expect 1 'already signed' -- "$ctl" manifest sign --key b.key web.yaml
expect 0 'ok' -- "$ctl" manifest verify --pub a.key.pub --pub b.key.pub --pub c.key.pub --threshold 2 web.yaml
expect 2 'can never be met' -- "$ctl" manifest verify --pub a.key.pub --threshold 2 web.yaml
expect 1 'web.yaml: expired: ' -- "$ctl" manifest verify --pub a.key.pub --at 2027-07-01 web.yaml

# Rollback: version 3 accepted, then a validly signed version 2 is refused.
expect 0 'ok' -- "$ctl" manifest verify --pub a.key.pub --state versions --accept web.yaml
cp web.yaml old.yaml; sed -i 's/^version: 3$/version: 2/' old.yaml
"$ctl" manifest sign --key a.key old.yaml >/dev/null
expect 0 'ok' -- "$ctl" manifest verify --pub a.key.pub old.yaml
expect 1 'old.yaml: rollback: version 2 of shop-web is older than the accepted version 3' -- \
  "$ctl" manifest verify --pub a.key.pub --state versions old.yaml

# One byte changed after signing.
cp web.yaml web.orig; sed -i 's/port: 443/port: 444/' web.yaml
expect 1 'web.yaml: tampered: ' -- "$ctl" manifest verify --pub a.key.pub web.yaml
expect 1 'signs other bytes' -- "$ctl" manifest sign --key a.key web.yaml
expect 0 '1 signature\)' -- "$ctl" manifest sign --key a.key --replace web.yaml
expect 0 'ok' -- "$ctl" manifest verify --pub a.key.pub web.yaml

echo '{"payloadType":' > db.yaml.sig
expect 1 'db.yaml: malformed: ' -- "$ctl" manifest verify --pub a.key.pub db.yaml
chmod 644 a.key
expect 1 'too open' -- "$ctl" manifest sign --key a.key --replace db.yaml

expect 0 'shop-web \(version 3\)' -- "$ctl" manifest show web.yaml
expect 0 '"app": "shop-web"' -- "$ctl" manifest show --json web.yaml
expect 0 '^$' -- "$ctl" manifest diff web.yaml web.yaml
expect 1 '^- listeners tcp/443 /usr/sbin/nginx' -- "$ctl" manifest diff web.orig web.yaml
expect 2 'no-such.yaml' -- "$ctl" manifest diff web.yaml no-such.yaml
expect 1 'bad.yaml:2: unknown key' -- bash -c "printf 'schema: 1\ncolour: red\n' > bad.yaml; '$ctl' manifest show bad.yaml"

[ "$fails" -eq 0 ] && echo "PASS: manifest CLI" || { echo "FAIL: $fails check(s)"; exit 1; }
