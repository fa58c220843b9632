// What goldgatectl prints for attestation: the VM report (one VM judged against its birth
// certificate, expected next to observed, as terminal text and as a self-contained HTML page), the
// manifests hostmon holds, a release and a learned draft. Pure functions from the control API's
// messages to text; any thread.
#pragma once

#include <cstdint>
#include <string>

#include "hostmon.pb.h"

namespace goldgate::cli {

/// goldgatectl report: header (VM, app, manifest, signers, expiry, attestation state, last check,
/// responses in force), expected / observed per category, red flags with their evidence, response
/// actions. A VM no manifest applies to gets what hostmon observed in its guest instead (every
/// process and module with `allProcesses`, as `vm show --processes`). Control characters from the
/// guest are shown as \xNN, never sent to the terminal.
std::string formatReport(const proto::VmRecord& vm, bool allProcesses = false);

/// The same as one HTML page (inline CSS, no scripts, no external resources, a Content-Security-
/// Policy that forbids both; every string escaped). `host` and `nowNs` say where and when it was
/// generated.
std::string formatReportHtml(const proto::VmRecord& vm, const std::string& host, int64_t nowNs);

/// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string htmlEscape(const std::string& s);

/// goldgatectl manifests: one manifest file a line (file, app, version, signers, expiry, state,
/// VMs, why it was refused). `nowUnix` tells an accepted manifest that has expired.
std::string formatManifests(const proto::ListManifestsResponse& l, int64_t nowUnix);

/// goldgatectl vm release: one line per undone action of `vm`, or that nothing was in force.
std::string formatRelease(const std::string& vm, const proto::ReleaseResponse& r);

/// goldgatectl manifest learn: the one-line summary of a draft (what it declares, and how many
/// observations and flows went into it); `out` is the file it went to ("" for standard output).
std::string formatLearnSummary(const proto::LearnResponse& l, const std::string& out);

}  // namespace goldgate::cli
