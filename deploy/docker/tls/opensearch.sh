#!/bin/bash
# OpenSearch's command in docker-compose.yml (opensearchproject/opensearch image): the
# security plugin on, TLS on transport and HTTP with tls-init's certificates (no demo
# certificates, no demo users), one internal user `soc` (all_access) whose bcrypt hash is
# made here from the password tls-init wrote. Then the image's own entrypoint.
set -euo pipefail
T="${TLS_DIR:-/tls}"
HOME_OS=/usr/share/opensearch
C="$HOME_OS/config"
mkdir -p "$C/tls"
cp "$T/ca.crt" "$T/opensearch/node.crt" "$T/opensearch/node.key" "$C/tls/"
chmod 700 "$C/tls"
chmod 600 "$C/tls/"*
# The image's bundled JDK runs the plugin's hasher.
hash="$(SOC_PW="$(<"$T/opensearch/soc.password")" OPENSEARCH_JAVA_HOME="${OPENSEARCH_JAVA_HOME:-$HOME_OS/jdk}" \
  bash "$HOME_OS/plugins/opensearch-security/tools/hash.sh" -env SOC_PW | grep -E '^\$2[aby]\$' | tail -n 1)"
[[ -n "$hash" ]] || { echo "opensearch.sh: could not hash the soc password" >&2; exit 1; }
S="$C/opensearch-security"
cat >"$S/internal_users.yml" <<YML
_meta:
  type: "internalusers"
  config_version: 2
soc:
  hash: "$hash"
  reserved: true
  description: "The SOC's services (deploy/docker/tls)"
YML
cat >"$S/roles_mapping.yml" <<'YML'
_meta:
  type: "rolesmapping"
  config_version: 2
all_access:
  reserved: true
  users: ["soc"]
YML
cat >"$S/config.yml" <<'YML'
_meta:
  type: "config"
  config_version: 2
config:
  dynamic:
    http:
      anonymous_auth_enabled: false
    authc:
      basic_internal_auth_domain:
        http_enabled: true
        transport_enabled: true
        order: 0
        http_authenticator:
          type: basic
          challenge: true
        authentication_backend:
          type: intern
YML
# For the health check: curl reads the user from this file, not its command line.
printf 'user = "soc:%s"\n' "$(<"$T/opensearch/soc.password")" >"$C/tls/curl.conf"
chmod 600 "$C/tls/curl.conf"
# Once per container (a restart keeps its opensearch.yml).
grep -q '^plugins.security.ssl.http.enabled' "$C/opensearch.yml" || cat >>"$C/opensearch.yml" <<'YML'
plugins.security.ssl.transport.pemcert_filepath: tls/node.crt
plugins.security.ssl.transport.pemkey_filepath: tls/node.key
plugins.security.ssl.transport.pemtrustedcas_filepath: tls/ca.crt
plugins.security.ssl.transport.enforce_hostname_verification: false
plugins.security.ssl.http.enabled: true
plugins.security.ssl.http.pemcert_filepath: tls/node.crt
plugins.security.ssl.http.pemkey_filepath: tls/node.key
plugins.security.ssl.http.pemtrustedcas_filepath: tls/ca.crt
plugins.security.allow_default_init_securityindex: true
plugins.security.authcz.admin_dn: ["CN=soc-opensearch-admin,O=soc"]
plugins.security.nodes_dn: ["CN=opensearch,O=soc"]
plugins.security.restapi.roles_enabled: ["all_access"]
YML
exec "$HOME_OS/opensearch-docker-entrypoint.sh" opensearch
