#include "goldgate/alerts/format.h"

#include <string>

namespace goldgate::alerts {

Result<Format> parseFormat(std::string_view name) {
  if (name == "json") return Format::kJson;
  if (name == "ocsf") return Format::kOcsf;
  if (name == "cef") return Format::kCef;
  if (name == "leef") return Format::kLeef;
  if (name == "rfc5424" || name == "syslog") return Format::kRfc5424;
  return makeError(Error::Code::kInvalidArgument,
                   "unknown alert format '" + std::string(name) + "' (json, ocsf, cef, leef, rfc5424)");
}

const char* formatName(Format f) {
  switch (f) {
    case Format::kJson: return "json";
    case Format::kOcsf: return "ocsf";
    case Format::kCef: return "cef";
    case Format::kLeef: return "leef";
    case Format::kRfc5424: return "rfc5424";
  }
  return "?";
}

}  // namespace goldgate::alerts
