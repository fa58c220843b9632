// Client side of the switch's control API (Unix socket, length-prefixed protobuf messages).
#pragma once

#include <string>

#include "control.pb.h"
#include "goldgate/common/result.h"
#include "goldgate/common/unix_socket.h"

namespace goldgate::dataplane {

/// Largest control message accepted either way (bytes).
constexpr uint32_t kMaxControlMessage = ipc::kMaxFrame;

/// Sends `req` to the switch at `socketPath` and waits up to `timeoutMs` for the response.
/// Errors: cannot connect (with the path and errno text), timeout, malformed response.
/// Any thread.
Result<proto::Response> callSwitch(const std::string& socketPath, const proto::Request& req, int timeoutMs = 5000);

// The framing is shared with goldgate-hostmon's control socket (common/unix_socket.h).
using ipc::readFrame;
using ipc::writeFrame;

}  // namespace goldgate::dataplane
