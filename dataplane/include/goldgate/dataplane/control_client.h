// Client side of the switch's control API (Unix socket, length-prefixed protobuf messages).
#pragma once

#include <string>

#include "control.pb.h"
#include "goldgate/common/result.h"

namespace goldgate::dataplane {

/// Largest control message accepted either way (bytes).
constexpr uint32_t kMaxControlMessage = 16u << 20;

/// Sends `req` to the switch at `socketPath` and waits up to `timeoutMs` for the response.
/// Errors: cannot connect (with the path and errno text), timeout, malformed response.
/// Any thread.
Result<proto::Response> callSwitch(const std::string& socketPath, const proto::Request& req, int timeoutMs = 5000);

/// Writes one framed message to `fd` (4-byte big-endian length, then the bytes). Returns false on error.
bool writeFrame(int fd, const std::string& bytes);
/// Reads one framed message from `fd`. Errors: EOF, timeout (per SO_RCVTIMEO), oversized frame.
Result<std::string> readFrame(int fd);

}  // namespace goldgate::dataplane
