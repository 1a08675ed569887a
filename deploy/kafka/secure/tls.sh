#!/bin/sh
# Platewatch's local TLS material for the secured Kafka broker: a local CA and a broker certificate
# it signs. openssl only, POSIX sh: kafka.sh runs it on this machine, the compose file in an alpine
# container.
#
#   tls.sh ensure        create whatever is missing, or no longer fits (idempotent): the CA, the broker's
#                        key and certificate, the broker's PEM keystore. A broker certificate that expires
#                        within 7 days, does not chain to the CA, or has other SANs than asked is reissued.
#   tls.sh renew         a new broker key and certificate from the same CA (clients' ca.pem stays valid)
#   tls.sh secret FILE   write a random 48-hex-digit secret to FILE (mode 0600) unless FILE exists
#   tls.sh info          subject, SANs and validity of the broker certificate
#
# Environment:
#   PLATEWATCH_TLS_DIR        where the files live (required)
#   PLATEWATCH_TLS_DAYS       broker certificate validity, days (825: the most browsers and Apple accept)
#   PLATEWATCH_TLS_CA_DAYS    CA validity, days (3650)
#   PLATEWATCH_TLS_SANS       broker certificate SANs, which clients check (DNS:localhost,IP:127.0.0.1)
#   PLATEWATCH_TLS_BROKER_CN  broker certificate CN (platewatch-broker): the broker's Kafka principal is
#                             User:CN=<this> on the mutual-TLS controller and inter-broker listeners
#
# Files in PLATEWATCH_TLS_DIR:
#   ca.pem (0644)                 the CA certificate: the only file clients need (Python: cafile=ca.pem)
#   ca.key (0600)                 the CA key: signs broker certificates; never leaves this directory
#   broker.key (0600), broker.crt the broker's EC P-256 key (PKCS#8, unencrypted) and certificate
#   broker-keystore.pem (0600)    key + certificate + CA: Kafka's ssl.keystore.type=PEM file
set -eu

DIR="${PLATEWATCH_TLS_DIR:?set PLATEWATCH_TLS_DIR}"
DAYS="${PLATEWATCH_TLS_DAYS:-825}"
CA_DAYS="${PLATEWATCH_TLS_CA_DAYS:-3650}"
SANS="${PLATEWATCH_TLS_SANS:-DNS:localhost,IP:127.0.0.1}"
CN="${PLATEWATCH_TLS_BROKER_CN:-platewatch-broker}"
RENEW_BEFORE_SECONDS=604800
LOG="$DIR/openssl.log"

say() { echo "tls.sh: $*" >&2; }

# run CMD...: openssl's chatter goes to openssl.log; on failure it is shown with the command
run() {
  if ! "$@" >>"$LOG" 2>&1; then
    say "failed: $*"
    tail -n 20 "$LOG" >&2
    exit 1
  fi
}

make_ca() {
  say "creating a local CA in $DIR (valid $CA_DAYS days)"
  rm -f "$DIR/ca.key" "$DIR/ca.pem" "$DIR/broker.key" "$DIR/broker.crt" "$DIR/broker-keystore.pem" "$DIR/broker.meta"
  run openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -keyout "$DIR/ca.key.new" -out "$DIR/ca.pem.new" -days "$CA_DAYS" \
    -subj "/O=Platewatch/CN=Platewatch local CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
  chmod 600 "$DIR/ca.key.new"
  chmod 644 "$DIR/ca.pem.new"
  mv "$DIR/ca.key.new" "$DIR/ca.key"
  mv "$DIR/ca.pem.new" "$DIR/ca.pem"
}

issue_broker() {
  tmp="$DIR/.new"
  rm -rf "$tmp"
  mkdir -m 700 "$tmp"
  run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/broker.key"
  run openssl req -new -key "$tmp/broker.key" -subj "/CN=$CN" -out "$tmp/broker.csr"
  # serverAuth for clients, clientAuth because the broker shows the same certificate to the controller
  # and inter-broker listeners (mutual TLS)
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$SANS" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" > "$tmp/broker.ext"
  run openssl x509 -req -sha256 -in "$tmp/broker.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$DAYS" -extfile "$tmp/broker.ext" -out "$tmp/broker.crt"
  cat "$tmp/broker.key" "$tmp/broker.crt" "$DIR/ca.pem" > "$tmp/broker-keystore.pem"
  chmod 600 "$tmp/broker.key" "$tmp/broker-keystore.pem"
  chmod 644 "$tmp/broker.crt"
  mv "$tmp/broker.key" "$DIR/broker.key"
  mv "$tmp/broker.crt" "$DIR/broker.crt"
  mv "$tmp/broker-keystore.pem" "$DIR/broker-keystore.pem"
  echo "CN=$CN SANS=$SANS" > "$DIR/broker.meta"
  rm -rf "$tmp"
  say "issued the broker certificate CN=$CN ($SANS), valid $DAYS days: $DIR/broker.crt"
}

broker_fits() {
  [ -s "$DIR/broker-keystore.pem" ] && [ -s "$DIR/broker.crt" ] || return 1
  [ "$(cat "$DIR/broker.meta" 2>/dev/null)" = "CN=$CN SANS=$SANS" ] || { say "broker certificate names changed"; return 1; }
  if ! grep -q "PRIVATE KEY" "$DIR/broker-keystore.pem" ||
     ! grep -qF -- "$(sed -n 2p "$DIR/broker.crt")" "$DIR/broker-keystore.pem"; then
    say "broker keystore does not hold the key and certificate"
    return 1
  fi
  openssl verify -CAfile "$DIR/ca.pem" "$DIR/broker.crt" >/dev/null 2>&1 || { say "broker certificate is not signed by ca.pem"; return 1; }
  openssl x509 -noout -checkend "$RENEW_BEFORE_SECONDS" -in "$DIR/broker.crt" >/dev/null 2>&1 ||
    { say "broker certificate expires within 7 days"; return 1; }
}

prepare() {
  command -v openssl >/dev/null 2>&1 || { say "openssl is needed"; exit 1; }
  umask 077
  mkdir -p "$DIR"
  chmod 700 "$DIR" 2>/dev/null || true
  : > "$LOG"
}

case "${1:-}" in
  ensure)
    prepare
    if [ ! -s "$DIR/ca.pem" ] || [ ! -s "$DIR/ca.key" ]; then make_ca; fi
    broker_fits || issue_broker ;;
  renew)
    prepare
    if [ ! -s "$DIR/ca.pem" ] || [ ! -s "$DIR/ca.key" ]; then say "no CA in $DIR yet (run ensure first)"; exit 1; fi
    issue_broker ;;
  secret)
    file="${2:?tls.sh secret FILE}"
    if [ ! -s "$file" ]; then
      (umask 077 && mkdir -p "$(dirname "$file")" && printf '%s' "$(openssl rand -hex 24)" > "$file.new" && mv "$file.new" "$file")
      say "generated a random secret in $file (mode 0600)"
    fi
    chmod 600 "$file" ;;
  info)
    openssl x509 -noout -subject -issuer -enddate -ext subjectAltName -in "$DIR/broker.crt" ;;
  *) sed -n '2,27p' "$0"; exit 2 ;;
esac
