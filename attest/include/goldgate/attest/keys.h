// Ed25519 signing keys for manifests (OpenSSL 3 EVP, EVP_PKEY_ED25519). A key pair lives in two
// PEM files: KEY (PKCS#8 private key, mode 0600) and KEY.pub (SubjectPublicKeyInfo).
//
// A key's id is the lower-case hex of the first 16 bytes of SHA-256 over the raw 32-byte public
// key (32 hex digits). It names the signer in DSSE envelopes; it is a hint, never trusted alone:
// a signature counts only when it verifies under a key the verifier was given.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <openssl/types.h>

#include "goldgate/common/result.h"

namespace goldgate::attest {

/// An Ed25519 public key. Copyable; verification is const and safe from any thread.
class PublicKey {
 public:
  /// Reads a PEM SubjectPublicKeyInfo file. Errors: kIo (unreadable), kParse (not PEM, or not an
  /// Ed25519 key), each naming `path`. Any thread.
  static Result<PublicKey> load(const std::string& path);
  /// Parses PEM text; `name` is used in messages. Errors as load(). Any thread.
  static Result<PublicKey> fromPem(std::string_view pem, const std::string& name);
  /// From the raw 32-byte key (RFC 8032). Errors: kInvalidArgument on a wrong length. Any thread.
  static Result<PublicKey> fromRaw(std::string_view raw);

  /// The key id (see the top of this file).
  const std::string& keyid() const { return keyid_; }
  /// The raw 32 bytes.
  const std::array<uint8_t, 32>& raw() const { return raw_; }
  /// The key as PEM SubjectPublicKeyInfo text.
  std::string toPem() const;
  /// True when `sig` is a valid Ed25519 signature of `message` under this key. Any thread.
  bool verify(std::string_view message, std::string_view sig) const;

 private:
  PublicKey() = default;
  std::array<uint8_t, 32> raw_{};
  std::string keyid_;
};

/// An Ed25519 private key. Move-only; the key material is freed (and cleansed by OpenSSL) with it.
class PrivateKey {
 public:
  /// Reads a PEM PKCS#8 private key file. Refused with kPermission (and the chmod that fixes it)
  /// when group or others may read or write the file; kIo when unreadable; kParse when it is not
  /// an unencrypted Ed25519 private key. Any thread.
  static Result<PrivateKey> load(const std::string& path);
  /// Parses PEM text; `name` is used in messages. Errors: kParse. Any thread.
  static Result<PrivateKey> fromPem(std::string_view pem, const std::string& name);
  /// From a 32-byte seed (RFC 8032 secret key): known-answer tests and fixed test keys. Errors:
  /// kInvalidArgument on a wrong length. Any thread.
  static Result<PrivateKey> fromSeed(std::string_view seed);
  /// A fresh key from the operating system's random source. Errors: kInternal. Any thread.
  static Result<PrivateKey> generate();

  PrivateKey(PrivateKey&&) noexcept;
  PrivateKey& operator=(PrivateKey&&) noexcept;
  ~PrivateKey();

  /// Its public half.
  const PublicKey& publicKey() const { return public_; }
  /// The key id of its public half.
  const std::string& keyid() const { return public_.keyid(); }
  /// The Ed25519 signature (64 bytes) of `message`. Errors: kInternal. Any thread.
  Result<std::string> sign(std::string_view message) const;
  /// The key as PEM PKCS#8 text (unencrypted).
  std::string toPem() const;

 private:
  PrivateKey(EVP_PKEY* key, PublicKey pub);
  static Result<PrivateKey> adopt(EVP_PKEY* key, const std::string& name);
  EVP_PKEY* key_ = nullptr;
  PublicKey public_;
};

/// Writes a new key pair: `outPath` (PKCS#8 PEM, created with mode 0600) and `outPath.pub` (PEM
/// SubjectPublicKeyInfo, 0644). Existing files are refused (kIo, "… exists") unless `overwrite`,
/// which replaces them. Returns the new key's id. Errors: kIo with the path and the reason. Any
/// thread.
Result<std::string> generateKeyPair(const std::string& outPath, bool overwrite = false);

/// Lower-case hex of `bytes`. Any thread.
std::string toHex(std::string_view bytes);

}  // namespace goldgate::attest
