// Renderers of the canonical AlertEvent into the formats SIEMs ingest. Pure functions of the event:
// the same event always renders to the same bytes (golden-file tested).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "alert.pb.h"
#include "goldgate/alerts/format.h"
#include "goldgate/common/result.h"

namespace goldgate::alerts {

/// Renders one event as one record without a trailing newline; every format keeps a record on
/// one line (RFC 5424 MSG control characters become "#ooo", as rsyslog writes them). RFC 5424
/// records are cut to `maxBytes` (at a UTF-8 character boundary of the MSG part; 0 = no limit).
/// Any thread.
std::string render(const proto::AlertEvent& ev, Format f, size_t maxBytes = 0);

/// The RFC 5424 message a syslog sink sends: the record itself for `rfc5424`; otherwise the
/// rendered record as MSG behind an RFC 5424 header (APP-NAME the source, MSGID the kind).
std::string syslogMessage(const proto::AlertEvent& ev, Format f, size_t maxBytes);

/// Escaping rules, exposed for tests and fuzzing.
std::string cefHeaderEscape(std::string_view s);     // '\' and '|' backslash-escaped
std::string cefExtensionEscape(std::string_view s);  // '\', '=' escaped; CR/LF as \r \n
std::string leefEscape(std::string_view s);          // '\', tab, '|' escaped; CR/LF as \r \n
std::string sdParamEscape(std::string_view s);  // '"', '\', ']' backslash-escaped (RFC 5424 6.3.3); controls as #ooo
std::string jsonEscape(std::string_view s);     // JSON string body; invalid UTF-8 becomes U+FFFD

/// Syslog severity (0 emergency .. 7 debug) for a Goldgate severity (0 info .. 10 critical).
int syslogSeverity(uint32_t goldgateSeverity);

}  // namespace goldgate::alerts
