#!/bin/sh
# One-shot (docker-compose.yml's `tls-init`, in the soc image, as root): a private CA,
# certificates for Kafka and OpenSearch, an OpenSearch admin certificate and random
# passwords, in $TLS_DIR (the `tls` volume). Run again, it keeps what is there: Kafka's
# SCRAM users and OpenSearch's security index were made from these passwords.
#
#   $TLS_DIR/ca.crt                     the CA every client trusts (0644)
#   $TLS_DIR/kafka/                     keystore.pem, broker.password, soc.password (uid 1000)
#   $TLS_DIR/opensearch/                node.{crt,key}, admin.{crt,key}, soc.password (uid 1000)
#   $TLS_DIR/soc/                       kafka.password, opensearch.password (uid 10001)
set -eu
TLS_DIR="${TLS_DIR:-/tls}"
DAYS="${TLS_DAYS:-825}"
KAFKA_UID="${KAFKA_UID:-1000}"
OPENSEARCH_UID="${OPENSEARCH_UID:-1000}"
SOC_UID="${SOC_UID:-10001}"

if [ -s "$TLS_DIR/.complete" ]; then
  echo "tls-init: $TLS_DIR is already set up; nothing to do"
  exit 0
fi
command -v openssl >/dev/null || { echo "tls-init: openssl is missing" >&2; exit 1; }
umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days "$DAYS" \
  -subj "/O=soc/CN=soc-ca" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

# cert NAME CN EXTENDED-KEY-USAGE [SUBJECT-ALT-NAMES]
cert() {
  openssl req -newkey rsa:3072 -nodes -sha256 -subj "/O=soc/CN=$2" -keyout "$1.key" -out "$1.csr"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$3"
    [ -z "${4:-}" ] || echo "subjectAltName=$4"
  } >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
    -days "$DAYS" -extfile "$1.ext" -out "$1.crt"
}
cert kafka kafka serverAuth,clientAuth "DNS:kafka,DNS:localhost,IP:127.0.0.1"
cert opensearch opensearch serverAuth,clientAuth "DNS:opensearch,DNS:localhost,IP:127.0.0.1"
cert admin soc-opensearch-admin clientAuth
for name in kafka-broker kafka-soc opensearch-soc; do
  openssl rand -hex 24 >"$name.password"
done

mkdir -p "$TLS_DIR/kafka" "$TLS_DIR/opensearch" "$TLS_DIR/soc"
cp ca.crt "$TLS_DIR/ca.crt"
chmod 644 "$TLS_DIR/ca.crt"
# Kafka's PEM key store: the private key (PKCS#8), then its certificate.
cat kafka.key kafka.crt >"$TLS_DIR/kafka/keystore.pem"
cp kafka-broker.password "$TLS_DIR/kafka/broker.password"
cp kafka-soc.password "$TLS_DIR/kafka/soc.password"
cp opensearch.crt "$TLS_DIR/opensearch/node.crt"
cp opensearch.key "$TLS_DIR/opensearch/node.key"
cp admin.crt "$TLS_DIR/opensearch/admin.crt"
cp admin.key "$TLS_DIR/opensearch/admin.key"
cp opensearch-soc.password "$TLS_DIR/opensearch/soc.password"
cp kafka-soc.password "$TLS_DIR/soc/kafka.password"
cp opensearch-soc.password "$TLS_DIR/soc/opensearch.password"
chmod 700 "$TLS_DIR/kafka" "$TLS_DIR/opensearch" "$TLS_DIR/soc"
chmod 600 "$TLS_DIR"/kafka/* "$TLS_DIR"/opensearch/* "$TLS_DIR"/soc/*
chown -R "$KAFKA_UID:$KAFKA_UID" "$TLS_DIR/kafka"
chown -R "$OPENSEARCH_UID:$OPENSEARCH_UID" "$TLS_DIR/opensearch"
chown -R "$SOC_UID:$SOC_UID" "$TLS_DIR/soc"
# The CA's key is not kept: nothing else is ever signed with it.
date -u +%Y-%m-%dT%H:%M:%SZ >"$TLS_DIR/.complete"
echo "tls-init: CA, certificates and passwords written to $TLS_DIR"
