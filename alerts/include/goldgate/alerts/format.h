// The alert formats by name: a value of the configuration (alerts.format, each sink's format),
// kept apart from the renderers (render.h) so a configuration can hold it without the event.
#pragma once

#include <string_view>

#include "goldgate/common/result.h"

namespace goldgate::alerts {

enum class Format {
  kJson,     // Goldgate JSON: the event's protobuf JSON mapping, one object a line
  kOcsf,     // OCSF 1.1 JSON (Network Activity for policy decisions, Detection Finding otherwise)
  kCef,      // ArcSight Common Event Format 0
  kLeef,     // IBM QRadar Log Event Extended Format 2.0 (tab-delimited attributes)
  kRfc5424,  // syslog message with structured data (RFC 5424), without transport framing
};

/// "json", "ocsf", "cef", "leef", "rfc5424" (also "syslog"). Errors: unknown name, listing the
/// known ones. Any thread.
Result<Format> parseFormat(std::string_view name);
/// The name parseFormat reads ("rfc5424" for kRfc5424). Any thread.
const char* formatName(Format f);

}  // namespace goldgate::alerts
