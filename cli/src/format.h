// Text rendering of control API responses for goldgatectl.
#pragma once

#include <optional>
#include <string>

#include "control.pb.h"
#include "hostmon.pb.h"

namespace goldgate::cli {

/// An IP protocol as goldgatectl's options take it: tcp, udp, icmp, icmpv6, sctp, any (0) or a
/// number 0-255; nothing for anything else.
std::optional<uint32_t> protocolNumber(const std::string& s);
std::string formatStatus(const proto::StatusResponse& s, bool all);
std::string formatFlows(const proto::FlowsResponse& f);
std::string formatRules(const proto::RulesResponse& r, bool hits);
/// One line per port of a SetIdentities answer: port, VM, segment, or the error.
std::string formatIdentities(const proto::SetIdentitiesResponse& r);
/// goldgatectl vms: one VM a line (name, state, UUID, NICs as MAC->socket or network, segment),
/// after a line on hostmon's libvirt connection.
std::string formatVms(const proto::ListVmsResponse& l, const proto::HostmonStatus& st);
/// goldgatectl vm show: everything hostmon knows about one VM.
std::string formatVm(const proto::VmRecord& vm);
/// "2026-11-26T21:00:00Z" for a Unix time in ns; "-" for 0.
std::string utcTime(int64_t ns);
/// "1.2 M", "934 k": compact counts for tables.
std::string humanCount(uint64_t v);

}  // namespace goldgate::cli
