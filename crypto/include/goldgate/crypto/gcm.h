// AES-256-GCM (RFC 5116 / NIST SP 800-38D) with a 12-byte nonce and a 16-byte tag, behind one
// interface with two engines:
//   ipsec-mb  intel-ipsec-mb's single-call GCM (VAES/AVX-512, AVX2 or SSE code chosen at run time),
//             the hot-path engine: several times OpenSSL's EVP on CPUs with vector AES;
//   openssl   OpenSSL 3 EVP, for CPUs intel-ipsec-mb has no code for (no AES-NI).
// Both pass the same known-answer tests. Key material is erased when an instance is destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "goldgate/common/result.h"

namespace goldgate::crypto {

enum class AeadEngine : uint8_t { kAuto, kIpsecMb, kOpenSsl };

/// "auto", "ipsec-mb", "openssl".
const char* aeadEngineName(AeadEngine e);
/// Parses a name as above; false for anything else.
bool parseAeadEngine(const std::string& s, AeadEngine* out);
/// The engine kAuto resolves to on this CPU, and the instruction set intel-ipsec-mb uses
/// ("avx512", "avx2", "avx", "sse", or "none" when it has no code for this CPU).
AeadEngine bestAeadEngine();
const char* ipsecMbArch();

class Gcm256 {
 public:
  static constexpr size_t kKeyLen = 32, kNonceLen = 12, kTagLen = 16;
  virtual ~Gcm256() = default;
  /// Encrypts `len` bytes from `in` to `out` (which may be `in`), authenticating `aad` too,
  /// and writes the tag. Never fails once constructed.
  virtual void seal(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, const uint8_t* in, uint8_t* out,
                    size_t len, uint8_t* tag) = 0;
  /// Decrypts and verifies (constant-time tag comparison). On false, `out` holds garbage that
  /// must not be used.
  virtual bool open(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, const uint8_t* in, uint8_t* out,
                    size_t len, const uint8_t* tag) = 0;
  virtual AeadEngine engine() const = 0;
};

/// A cipher for `key` (32 bytes) on engine `e` (kAuto: bestAeadEngine()). An instance is used by
/// one thread at a time. Errors: the engine cannot run on this CPU, or a library failure.
Result<std::unique_ptr<Gcm256>> makeGcm256(const uint8_t* key, AeadEngine e);

}  // namespace goldgate::crypto
