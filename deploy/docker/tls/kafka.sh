#!/bin/bash
# Kafka's command in docker-compose.yml (apache/kafka image): one KRaft node whose
# clients and broker talk SASL_SSL (SCRAM-SHA-512) with tls-init's certificate; the
# controller listener is on localhost only. The users `broker` and `soc` are made when
# the data volume is formatted (first start), from the passwords tls-init wrote.
set -euo pipefail
T="${TLS_DIR:-/tls}/kafka"
CONF=/tmp/kafka-secure
mkdir -p "$CONF"
chmod 700 "$CONF"
broker_pw="$(<"$T/broker.password")"
soc_pw="$(<"$T/soc.password")"
cat >"$CONF/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
controller.listener.names=CONTROLLER
listeners=SASL_SSL://:9092,CONTROLLER://localhost:9093
advertised.listeners=SASL_SSL://kafka:9092
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$broker_pw";
ssl.keystore.type=PEM
ssl.keystore.location=$T/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=${TLS_DIR:-/tls}/ca.crt
ssl.client.auth=none
log.dirs=/var/lib/kafka/data
num.partitions=6
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
PROPS
# For the health check and the command-line tools inside the container.
cat >"$CONF/client.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$broker_pw";
ssl.truststore.type=PEM
ssl.truststore.location=${TLS_DIR:-/tls}/ca.crt
PROPS
chmod 600 "$CONF"/*.properties
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted \
  --cluster-id "${CLUSTER_ID:-c29jLWRvY2tlci1rYWZrYQ}" --config "$CONF/server.properties" \
  --add-scram "SCRAM-SHA-512=[name=broker,password=$broker_pw]" \
  --add-scram "SCRAM-SHA-512=[name=soc,password=$soc_pw]"
exec /opt/kafka/bin/kafka-server-start.sh "$CONF/server.properties"
