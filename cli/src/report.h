// goldgatectl report VM: one VM judged against its birth certificate, expected next to observed,
// as a terminal report and as a self-contained HTML page. Pure functions from the control API's
// VmRecord (with its attestation and guest state) to text.
#pragma once

#include <cstdint>
#include <string>

#include "hostmon.pb.h"

namespace goldgate::cli {

/// The console report: header (VM, manifest, signers, expiry, state), expected / observed per
/// category, red flags, response actions.
std::string formatReport(const proto::VmRecord& vm);

/// The same as one HTML page (inline CSS, no scripts, no external resources; every string from the
/// guest or the manifest escaped). `host` and `nowNs` go in its footer.
std::string formatReportHtml(const proto::VmRecord& vm, const std::string& host, int64_t nowNs);

/// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string htmlEscape(const std::string& s);

}  // namespace goldgate::cli
