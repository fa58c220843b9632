// Client side of goldgate-hostmon's control API, for goldgatectl. Links no libvirt.
#pragma once

#include <string>

#include "goldgate/common/result.h"
#include "hostmon.pb.h"

namespace goldgate::hostmon {

/// Default control socket, beside the switch's /run/goldgate/switch.sock.
inline constexpr const char* kDefaultHostmonSocket = "/run/goldgate/hostmon.sock";

/// Sends `req` to goldgate-hostmon at `socketPath` and waits up to `timeoutMs` for the answer.
/// Errors: cannot connect (path, errno text and a hint that hostmon may not be running),
/// timeout, malformed response. Any thread.
Result<proto::HostmonResponse> callHostmon(const std::string& socketPath, const proto::HostmonRequest& req,
                                           int timeoutMs = 5000);

}  // namespace goldgate::hostmon
