// Text rendering of control API responses for goldgatectl.
#pragma once

#include <string>

#include "control.pb.h"

namespace goldgate::cli {

std::string formatStatus(const proto::StatusResponse& s, bool all);
std::string formatFlows(const proto::FlowsResponse& f);
std::string formatRules(const proto::RulesResponse& r, bool hits);
/// "1.2 M", "934 k": compact counts for tables.
std::string humanCount(uint64_t v);

}  // namespace goldgate::cli
