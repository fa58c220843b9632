// Standard base64 (RFC 4648, with padding, no line breaks): the guest agent's replies, etcd's JSON
// gateway. Strict on the way in.
#pragma once

#include <string>
#include <string_view>

#include "goldgate/common/result.h"

namespace goldgate {

/// Encodes `bytes`. Any thread.
std::string encodeBase64(std::string_view bytes);

/// Decodes `b64`. Errors (kParse): bad length or characters, padding in the wrong place, more than
/// `maxBytes` decoded. Any thread.
Result<std::string> decodeBase64(std::string_view b64, size_t maxBytes);

}  // namespace goldgate
