// Control sockets shared by goldgate-switch and goldgate-hostmon: a Unix stream socket carrying
// length-prefixed messages (4-byte big-endian length, then the bytes), served to root and,
// optionally, the members of one group.
#pragma once

#include <cstdint>
#include <string>

#include "goldgate/common/result.h"

namespace goldgate::ipc {

/// Largest framed message accepted either way (bytes).
constexpr uint32_t kMaxFrame = 16u << 20;

/// Writes one framed message to `fd`. Returns false on error (errno says why). Any thread.
bool writeFrame(int fd, const std::string& bytes);

/// Reads one framed message from `fd`. Errors: EOF ("connection closed"), timeout (per
/// SO_RCVTIMEO), a frame larger than kMaxFrame. Any thread.
Result<std::string> readFrame(int fd);

/// Connects to the socket at `path` with send/receive timeouts of `timeoutMs`. On failure the
/// message names `peer` (e.g. "goldgate-switch") and ends with `hint` (what to check).
/// Returns the connected descriptor (the caller closes it). Any thread.
Result<int> connectUnix(const std::string& path, int timeoutMs, const std::string& peer, const std::string& hint);

/// One request/response exchange over a fresh connection (see connectUnix for the errors; also a
/// send failure or no response within `timeoutMs`). Any thread.
Result<std::string> callUnix(const std::string& path, const std::string& request, int timeoutMs,
                             const std::string& peer, const std::string& hint);

/// Creates the parent folder, replaces a stale socket file (one nobody answers on; a live one is
/// an error naming `owner`), binds with mode 0600 (0660 owned by root:`group` when `group` is
/// non-empty; the group must exist) and listens. Returns a non-blocking listening descriptor.
/// Start-up thread.
Result<int> listenUnix(const std::string& path, const std::string& group, const std::string& owner);

/// True if the peer of the connected socket `fd` is root or, when `group` is non-empty, a member
/// of `group` (SO_PEERCRED). Any thread.
bool peerAllowed(int fd, const std::string& group);

}  // namespace goldgate::ipc
