// Ed25519 keys through OpenSSL 3's EVP interface.
#include "goldgate/attest/keys.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "file_io.h"
#include "goldgate/attest/manifest.h"
#include "goldgate/common/files.h"

namespace goldgate::attest {
namespace {

// A key file is a few hundred bytes; anything much larger is not one.
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// OpenSSL's reason for the last failure, and an empty error queue for the next caller.
std::string opensslReason() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

BioPtr memBio(std::string_view text) { return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))); }

std::string bioText(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

// A key file is never encrypted: refuse to prompt for a pass phrase on the terminal.
int noPassphrase(char*, int, int, void*) { return 0; }

bool isEd25519(EVP_PKEY* k) { return EVP_PKEY_is_a(k, "ED25519") == 1; }

Result<std::string> readKeyFile(const std::string& path) {
  auto text = readFileLimited(path, kMaxKeyFileBytes);
  if (!text && text.error().code == Error::Code::kResource)
    return makeError(Error::Code::kParse,
                     path + ": not a key file (larger than " + std::to_string(kMaxKeyFileBytes) + " bytes)");
  return text;
}

}  // namespace

std::string toHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

// --- PublicKey ---

Result<PublicKey> PublicKey::fromRaw(std::string_view raw) {
  if (raw.size() != 32)
    return makeError(Error::Code::kInvalidArgument,
                     "an Ed25519 public key is 32 bytes, not " + std::to_string(raw.size()));
  PublicKey k;
  std::memcpy(k.raw_.data(), raw.data(), 32);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(raw.data(), raw.size(), md, &len, EVP_sha256(), nullptr) != 1)
    return makeError(Error::Code::kInternal, "SHA-256: " + opensslReason());
  k.keyid_ = toHex(std::string_view(reinterpret_cast<const char*>(md), 16));
  return k;
}

Result<PublicKey> PublicKey::fromPem(std::string_view pem, const std::string& name) {
  auto bio = memBio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, noPassphrase, nullptr) : nullptr);
  if (!key) {
    ERR_clear_error();
    return makeError(Error::Code::kParse, name + ": not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  if (!isEd25519(key.get())) return makeError(Error::Code::kParse, name + ": not an Ed25519 key");
  std::array<uint8_t, 32> raw{};
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), raw.data(), &len) != 1 || len != raw.size())
    return makeError(Error::Code::kParse, name + ": " + opensslReason());
  return fromRaw(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
}

Result<PublicKey> PublicKey::load(const std::string& path) {
  auto text = readKeyFile(path);
  if (!text) return text.error();
  return fromPem(*text, path);
}

std::string PublicKey::toPem() const {
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw_.data(), raw_.size()));
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!key || !out || PEM_write_bio_PUBKEY(out.get(), key.get()) != 1) {
    ERR_clear_error();
    return {};
  }
  return bioText(out.get());
}

bool PublicKey::verify(std::string_view message, std::string_view sig) const {
  if (sig.size() != 64) return false;
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw_.data(), raw_.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  ERR_clear_error();
  return ok;
}

// --- PrivateKey ---

PrivateKey::PrivateKey(EVP_PKEY* key, PublicKey pub) : key_(key), public_(std::move(pub)) {}
PrivateKey::PrivateKey(PrivateKey&& o) noexcept : key_(o.key_), public_(o.public_) { o.key_ = nullptr; }
PrivateKey& PrivateKey::operator=(PrivateKey&& o) noexcept {
  if (this != &o) {
    EVP_PKEY_free(key_);
    key_ = o.key_;
    public_ = o.public_;
    o.key_ = nullptr;
  }
  return *this;
}
PrivateKey::~PrivateKey() { EVP_PKEY_free(key_); }

Result<PrivateKey> PrivateKey::adopt(EVP_PKEY* raw, const std::string& name) {
  PkeyPtr key(raw);
  if (!isEd25519(key.get())) return makeError(Error::Code::kParse, name + ": not an Ed25519 key");
  std::array<uint8_t, 32> pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != pub.size())
    return makeError(Error::Code::kParse, name + ": " + opensslReason());
  auto p = PublicKey::fromRaw(std::string_view(reinterpret_cast<const char*>(pub.data()), pub.size()));
  if (!p) return p.error();
  return PrivateKey(key.release(), *p);
}

Result<PrivateKey> PrivateKey::fromPem(std::string_view pem, const std::string& name) {
  auto bio = memBio(pem);
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr) : nullptr;
  if (!key) {
    ERR_clear_error();
    return makeError(Error::Code::kParse, name + ": not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)");
  }
  return adopt(key, name);
}

Result<PrivateKey> PrivateKey::load(const std::string& path) {
  // A signing key that others can read is no longer the admin's alone: refuse it, as SSH does.
  if (auto ok = checkPrivateFile(path); !ok) return ok.error();
  auto text = readKeyFile(path);
  if (!text) return text.error();
  auto key = fromPem(*text, path);
  OPENSSL_cleanse(text->data(), text->size());
  return key;
}

Result<PrivateKey> PrivateKey::fromSeed(std::string_view seed) {
  if (seed.size() != 32)
    return makeError(Error::Code::kInvalidArgument, "an Ed25519 seed is 32 bytes, not " + std::to_string(seed.size()));
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                               reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  if (!key) return makeError(Error::Code::kInternal, "Ed25519 key from seed: " + opensslReason());
  return adopt(key, "seed");
}

Result<PrivateKey> PrivateKey::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!key) return makeError(Error::Code::kInternal, "Ed25519 key generation: " + opensslReason());
  return adopt(key, "new key");
}

Result<std::string> PrivateKey::sign(std::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      len != 64)
    return makeError(Error::Code::kInternal, "Ed25519 signing: " + opensslReason());
  return sig;
}

std::string PrivateKey::toPem() const {
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PrivateKey(out.get(), key_, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return bioText(out.get());
}

Result<std::string> generateKeyPair(const std::string& outPath, bool overwrite) {
  const std::string pubPath = outPath + ".pub";
  struct stat st {};
  if (!overwrite)
    for (const auto& p : {outPath, pubPath})
      if (::lstat(p.c_str(), &st) == 0) return makeError(Error::Code::kIo, p + ": exists; refusing to overwrite it");
  auto key = PrivateKey::generate();
  if (!key) return key.error();
  std::string pem = key->toPem();
  std::string pub = key->publicKey().toPem();
  if (pem.empty() || pub.empty()) return makeError(Error::Code::kInternal, "PEM encoding failed");
  if (overwrite)
    for (const auto& p : {outPath, pubPath})
      if (::unlink(p.c_str()) != 0 && errno != ENOENT)
        return makeError(Error::Code::kIo, p + ": " + std::strerror(errno));
  // O_EXCL with 0600: the private key is never, even for an instant, readable by anyone else.
  auto wrote = writeFileSynced(outPath, pem, 0600, O_EXCL);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!wrote) return wrote.error();
  if (auto w = writeFileSynced(pubPath, pub, 0644, O_EXCL); !w) return w.error();
  return key->keyid();
}

}  // namespace goldgate::attest
