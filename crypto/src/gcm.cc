#include "goldgate/crypto/gcm.h"

#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <mutex>
#include <new>

namespace goldgate::crypto {
namespace {

// One manager per process: the single-call GCM API only dispatches through its function table.
struct MbManager {
  IMB_MGR* mgr = nullptr;
  IMB_ARCH arch = IMB_ARCH_NONE;
};

const MbManager& mbManager() {
  static MbManager m = [] {
    MbManager r;
    r.mgr = alloc_mb_mgr(0);
    if (!r.mgr) return r;
    init_mb_mgr_auto(r.mgr, &r.arch);
    if (imb_get_errno(r.mgr) != 0 || r.arch == IMB_ARCH_NONE || r.arch == IMB_ARCH_NOAESNI) {
      free_mb_mgr(r.mgr);
      r.mgr = nullptr;
      r.arch = IMB_ARCH_NONE;
    }
    return r;
  }();
  return m;
}

class MbGcm final : public Gcm256 {
 public:
  explicit MbGcm(const uint8_t* key) : mgr_(mbManager().mgr) { IMB_AES256_GCM_PRE(mgr_, key, &keys_); }
  ~MbGcm() override { OPENSSL_cleanse(&keys_, sizeof keys_); }
  void seal(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, const uint8_t* in, uint8_t* out, size_t len,
            uint8_t* tag) override {
    gcm_context_data ctx;
    IMB_AES256_GCM_ENC(mgr_, &keys_, &ctx, out, in, len, nonce, aad, aadLen, tag, kTagLen);
  }
  bool open(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, const uint8_t* in, uint8_t* out, size_t len,
            const uint8_t* tag) override {
    gcm_context_data ctx;
    uint8_t calc[kTagLen];
    IMB_AES256_GCM_DEC(mgr_, &keys_, &ctx, out, in, len, nonce, aad, aadLen, calc, kTagLen);
    return CRYPTO_memcmp(calc, tag, kTagLen) == 0;
  }
  AeadEngine engine() const override { return AeadEngine::kIpsecMb; }

 private:
  IMB_MGR* mgr_;
  alignas(64) gcm_key_data keys_;
};

class EvpGcm final : public Gcm256 {
 public:
  EvpGcm() = default;
  bool init(const uint8_t* key) {
    enc_ = EVP_CIPHER_CTX_new();
    dec_ = EVP_CIPHER_CTX_new();
    return enc_ && dec_ && EVP_EncryptInit_ex(enc_, EVP_aes_256_gcm(), nullptr, key, nullptr) == 1 &&
           EVP_DecryptInit_ex(dec_, EVP_aes_256_gcm(), nullptr, key, nullptr) == 1;
  }
  ~EvpGcm() override {
    EVP_CIPHER_CTX_free(enc_);  // clears the key schedule
    EVP_CIPHER_CTX_free(dec_);
  }
  void seal(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, const uint8_t* in, uint8_t* out, size_t len,
            uint8_t* tag) override {
    int n = 0;
    // The default IV length of EVP's GCM is 12 bytes: only the nonce changes per call.
    EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr, nonce);
    if (aadLen) EVP_EncryptUpdate(enc_, nullptr, &n, aad, static_cast<int>(aadLen));
    if (len) EVP_EncryptUpdate(enc_, out, &n, in, static_cast<int>(len));
    EVP_EncryptFinal_ex(enc_, out + len, &n);
    EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagLen), tag);
  }
  bool open(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, const uint8_t* in, uint8_t* out, size_t len,
            const uint8_t* tag) override {
    int n = 0;
    EVP_DecryptInit_ex(dec_, nullptr, nullptr, nullptr, nonce);
    if (aadLen && EVP_DecryptUpdate(dec_, nullptr, &n, aad, static_cast<int>(aadLen)) != 1) return false;
    if (len && EVP_DecryptUpdate(dec_, out, &n, in, static_cast<int>(len)) != 1) return false;
    EVP_CIPHER_CTX_ctrl(dec_, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagLen), const_cast<uint8_t*>(tag));
    return EVP_DecryptFinal_ex(dec_, out + len, &n) == 1;
  }
  AeadEngine engine() const override { return AeadEngine::kOpenSsl; }

 private:
  EVP_CIPHER_CTX* enc_ = nullptr;
  EVP_CIPHER_CTX* dec_ = nullptr;
};

}  // namespace

const char* aeadEngineName(AeadEngine e) {
  switch (e) {
    case AeadEngine::kAuto: return "auto";
    case AeadEngine::kIpsecMb: return "ipsec-mb";
    case AeadEngine::kOpenSsl: return "openssl";
  }
  return "?";
}

bool parseAeadEngine(const std::string& s, AeadEngine* out) {
  for (AeadEngine e : {AeadEngine::kAuto, AeadEngine::kIpsecMb, AeadEngine::kOpenSsl}) {
    if (s == aeadEngineName(e)) {
      *out = e;
      return true;
    }
  }
  return false;
}

AeadEngine bestAeadEngine() { return mbManager().mgr ? AeadEngine::kIpsecMb : AeadEngine::kOpenSsl; }

const char* ipsecMbArch() {
  switch (mbManager().arch) {
    case IMB_ARCH_SSE: return "sse";
    case IMB_ARCH_AVX: return "avx";
    case IMB_ARCH_AVX2: return "avx2";
    case IMB_ARCH_AVX512: return "avx512";
    default: return "none";
  }
}

Result<std::unique_ptr<Gcm256>> makeGcm256(const uint8_t* key, AeadEngine e) {
  if (e == AeadEngine::kAuto) e = bestAeadEngine();
  if (e == AeadEngine::kIpsecMb) {
    if (!mbManager().mgr)
      return makeError(Error::Code::kResource,
                       "intel-ipsec-mb has no AES-GCM code for this CPU (no AES-NI); use the openssl engine");
    return std::unique_ptr<Gcm256>(new MbGcm(key));
  }
  auto g = std::make_unique<EvpGcm>();
  if (!g->init(key)) return makeError(Error::Code::kInternal, "OpenSSL could not set up AES-256-GCM");
  return std::unique_ptr<Gcm256>(std::move(g));
}

}  // namespace goldgate::crypto
