// The transports behind alerts::Sink (internal to alerts/).
#pragma once

#include <memory>

#include "goldgate/alerts/sink.h"

namespace goldgate::alerts {

/// Syslog over UDP (RFC 5426, one message a datagram), TCP (RFC 6587 octet counting) or TLS
/// (RFC 5425: octet counting inside TLS, server certificate and name verified, optional client
/// certificate). Errors: unusable TLS files, a malformed address.
Result<std::unique_ptr<Connection>> makeSyslogConnection(const SinkConfig& cfg);

/// Kafka through librdkafka (idempotent producer, acks=all; a record counts as delivered on its
/// delivery report). Errors: unusable settings.
Result<std::unique_ptr<Connection>> makeKafkaConnection(const SinkConfig& cfg);

}  // namespace goldgate::alerts
