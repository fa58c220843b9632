#!/usr/bin/env bash
# The fleet's etcd, set up as docs/fleet.md describes: certificates for mutual TLS, and etcd users
# and roles so that each host may write only its own status keys and nobody but the admin may
# write the policy. The tests use it as an operator would.
#
#   fleet-etcd.sh pki DIR MEMBER... -- HOST...
#       A CA (DIR/ca.pem), a certificate for each etcd member (DIR/MEMBER.pem, -key.pem; server and
#       peer use, for 127.0.0.1 and localhost and the member's name), one for the admin who pushes
#       policy (DIR/admin.pem), one for etcd's root (DIR/root.pem: CN root, etcdctl's user), one for
#       each host's agent (DIR/host-HOST.pem). The admin's and the hosts' carry no CN: they speak
#       etcd's JSON gateway, which refuses a CN once authentication is on; they log in as users.
#   fleet-etcd.sh member-flags DIR MEMBER: the TLS flags of one member (client and peer, both verified).
#   fleet-etcd.sh roles DIR ENDPOINTS HOST...
#       Users and roles, then authentication on: goldgate-admin reads and writes PREFIX/;
#       host-HOST reads PREFIX/policy/ and PREFIX/hosts/ and writes PREFIX/hosts/HOST/ only.
#       PREFIX is $GOLDGATE_FLEET_PREFIX (default /goldgate). Each user's password is written to
#       DIR/USER.password (0600): etcd's JSON gateway, which Goldgate speaks, authenticates by
#       user and password over the mutual-TLS connection (it does not take the certificate's CN).
#       Run once, against a fresh cluster.
set -euo pipefail

cmd=${1:-}
shift || true
prefix=${GOLDGATE_FLEET_PREFIX:-/goldgate}

cert() {  # cert DIR NAME SUBJECT USAGE [SAN]
  local dir=$1 name=$2 subject=$3 usage=$4 san=${5:-}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$name-key.pem" \
    -subj "$subject" -out "$dir/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
    -days 825 -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  chmod 600 "$dir/$name-key.pem"
}

case "$cmd" in
  pki)
    dir=$1; shift
    mkdir -p "$dir"
    members=() hosts=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do members+=("$1"); shift; done
    [ "${1:-}" = "--" ] && shift
    hosts=("$@")
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ca-key.pem" \
      -subj "/CN=goldgate fleet etcd CA" -days 3650 -sha256 -out "$dir/ca.pem" 2>/dev/null
    chmod 600 "$dir/ca-key.pem"
    for m in "${members[@]}"; do
      cert "$dir" "$m" "/CN=$m" serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost,DNS:$m"
    done
    # Clients of etcd's JSON gateway (goldgatectl, goldgate-fleet) carry no CN: the gateway refuses a
    # certificate with one once authentication is on. They log in as users (the roles command).
    cert "$dir" admin "/O=goldgate/OU=goldgate-admin" clientAuth
    cert "$dir" root "/CN=root" clientAuth
    for h in "${hosts[@]}"; do cert "$dir" "host-$h" "/O=goldgate/OU=host-$h" clientAuth; done
    echo "fleet-etcd: certificates in $dir (CA, ${#members[@]} members, admin, root, ${#hosts[@]} hosts)"
    ;;
  member-flags)
    dir=$1 m=$2
    echo "--client-cert-auth --trusted-ca-file $dir/ca.pem --cert-file $dir/$m.pem --key-file $dir/$m-key.pem" \
         "--peer-client-cert-auth --peer-trusted-ca-file $dir/ca.pem --peer-cert-file $dir/$m.pem --peer-key-file $dir/$m-key.pem"
    ;;
  roles)
    dir=$1 endpoints=$2; shift 2
    ctl() { etcdctl --endpoints "$endpoints" --cacert "$dir/ca.pem" --cert "$dir/root.pem" --key "$dir/root-key.pem" "$@" >/dev/null; }
    # etcd's JSON gateway does not pass a client certificate's CN on as the user: each user also
    # gets a password, kept in DIR/USER.password (0600), with which it takes a token.
    pw() { local p; p=$(openssl rand -hex 24); (umask 077; printf '%s' "$p" > "$dir/$1.password"); printf '%s' "$p"; }
    ctl user add "root:$(pw root)"
    ctl role add root
    ctl user grant-role root root
    ctl user add "goldgate-admin:$(pw goldgate-admin)"
    ctl role add goldgate-admin
    ctl role grant-permission goldgate-admin readwrite "$prefix/" --prefix=true
    ctl user grant-role goldgate-admin goldgate-admin
    for h in "$@"; do
      ctl user add "host-$h:$(pw "host-$h")"
      ctl role add "host-$h"
      ctl role grant-permission "host-$h" read "$prefix/policy/" --prefix=true
      ctl role grant-permission "host-$h" read "$prefix/hosts/" --prefix=true
      ctl role grant-permission "host-$h" readwrite "$prefix/hosts/$h/" --prefix=true
      ctl user grant-role "host-$h" "host-$h"
    done
    ctl auth enable
    echo "fleet-etcd: authentication on; roles: goldgate-admin, $(printf 'host-%s ' "$@")"
    ;;
  *)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
