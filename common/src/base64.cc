#include "goldgate/common/base64.h"

#include <openssl/evp.h>

#include <cctype>
#include <limits>

namespace goldgate {

std::string encodeBase64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> decodeBase64(std::string_view b64, size_t maxBytes) {
  auto malformed = [](const std::string& why) { return makeError(Error::Code::kParse, why); };
  if (b64.empty()) return std::string();
  if (b64.size() % 4 != 0)
    return malformed("base64 text of " + std::to_string(b64.size()) + " characters (not a multiple of 4)");
  if (b64.size() / 4 * 3 > maxBytes + 2 || b64.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return malformed("base64 text decodes to more than " + std::to_string(maxBytes) + " bytes");
  // EVP_DecodeBlock is lenient (blanks, '=' in odd places): check the alphabet and padding first.
  const size_t pad = b64.back() == '=' ? (b64[b64.size() - 2] == '=' ? 2 : 1) : 0;
  for (size_t i = 0; i < b64.size() - pad; ++i) {
    char c = b64[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return malformed("bad base64 text");
  }
  // EVP_DecodeBlock counts the padding as decoded zero bytes.
  std::string out(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) return malformed("bad base64 text");
  if (static_cast<size_t>(n) < pad) return malformed("bad base64 text");
  out.resize(static_cast<size_t>(n) - pad);
  if (out.size() > maxBytes)
    return malformed("base64 text decodes to more than " + std::to_string(maxBytes) + " bytes");
  return out;
}

}  // namespace goldgate
