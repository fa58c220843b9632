// AES-256-GCM known-answer tests (GCM specification test cases 13-16, McGrew & Viega, the
// vectors NIST SP 800-38D refers to), run on every engine this CPU has.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "goldgate/crypto/gcm.h"

using namespace goldgate::crypto;

namespace {

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

struct Vector {
  const char* name;
  const char* key;
  const char* iv;
  const char* pt;
  const char* aad;
  const char* ct;
  const char* tag;
};

const Vector kVectors[] = {
    {"case 13: empty", "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"case 14: one block", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    {"case 15: 64 bytes", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657b"
     "a637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0ab"
     "cc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"case 16: 60 bytes and AAD", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657b"
     "a637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0ab"
     "cc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

std::vector<AeadEngine> enginesHere() {
  std::vector<AeadEngine> e{AeadEngine::kOpenSsl};
  if (bestAeadEngine() == AeadEngine::kIpsecMb) e.push_back(AeadEngine::kIpsecMb);
  else WARN("intel-ipsec-mb has no AES-GCM code for this CPU: only the OpenSSL engine is tested");
  return e;
}

}  // namespace

TEST_CASE("AES-256-GCM known answers on every engine", "[crypto][gcm]") {
  for (AeadEngine eng : enginesHere()) {
    for (const Vector& v : kVectors) {
      INFO(aeadEngineName(eng) << " " << v.name);
      auto key = unhex(v.key), iv = unhex(v.iv), pt = unhex(v.pt), aad = unhex(v.aad), ct = unhex(v.ct),
           tag = unhex(v.tag);
      auto g = makeGcm256(key.data(), eng);
      REQUIRE(g);
      CHECK((*g)->engine() == eng);
      std::vector<uint8_t> out(pt.size() + 1);
      uint8_t t[16];
      (*g)->seal(iv.data(), aad.data(), aad.size(), pt.data(), out.data(), pt.size(), t);
      out.resize(pt.size());
      CHECK(out == ct);
      CHECK(std::vector<uint8_t>(t, t + 16) == tag);

      std::vector<uint8_t> back(ct.size() + 1);
      CHECK((*g)->open(iv.data(), aad.data(), aad.size(), ct.data(), back.data(), ct.size(), tag.data()));
      back.resize(ct.size());
      CHECK(back == pt);

      // In place, as the switch uses it.
      std::vector<uint8_t> buf = pt;
      buf.push_back(0);
      (*g)->seal(iv.data(), aad.data(), aad.size(), buf.data(), buf.data(), pt.size(), t);
      CHECK(std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<long>(pt.size())) == ct);

      // Any change to the tag, the AAD or the ciphertext is refused.
      tag[0] ^= 1;
      CHECK_FALSE((*g)->open(iv.data(), aad.data(), aad.size(), ct.data(), back.data(), ct.size(), tag.data()));
      tag[0] ^= 1;
      if (!aad.empty()) {
        aad[3] ^= 0x80;
        CHECK_FALSE((*g)->open(iv.data(), aad.data(), aad.size(), ct.data(), back.data(), ct.size(), tag.data()));
        aad[3] ^= 0x80;
      }
      if (!ct.empty()) {
        ct.back() ^= 1;
        CHECK_FALSE((*g)->open(iv.data(), aad.data(), aad.size(), ct.data(), back.data(), ct.size(), tag.data()));
      }
    }
  }
}

TEST_CASE("Both engines agree on long and odd-sized inputs", "[crypto][gcm]") {
  if (bestAeadEngine() != AeadEngine::kIpsecMb) {
    WARN("skipped: intel-ipsec-mb has no AES-GCM code for this CPU, so there is no second engine to compare");
    return;
  }
  uint8_t key[32], iv[12], aad[12];
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  for (int i = 0; i < 12; ++i) iv[i] = static_cast<uint8_t>(0xa0 + i), aad[i] = static_cast<uint8_t>(i);
  auto a = makeGcm256(key, AeadEngine::kIpsecMb);
  auto b = makeGcm256(key, AeadEngine::kOpenSsl);
  REQUIRE(a);
  REQUIRE(b);
  for (size_t len : {1u, 15u, 17u, 64u, 255u, 1400u, 1446u, 9000u}) {
    std::vector<uint8_t> pt(len), ca(len + 1), cb(len + 1);
    for (size_t i = 0; i < len; ++i) pt[i] = static_cast<uint8_t>(i * 31 + len);
    uint8_t ta[16], tb[16];
    (*a)->seal(iv, aad, 12, pt.data(), ca.data(), len, ta);
    (*b)->seal(iv, aad, 12, pt.data(), cb.data(), len, tb);
    INFO("length " << len);
    CHECK(ca == cb);
    CHECK(std::equal(ta, ta + 16, tb));
    std::vector<uint8_t> back(len + 1);
    CHECK((*b)->open(iv, aad, 12, ca.data(), back.data(), len, ta));
    CHECK(std::equal(pt.begin(), pt.end(), back.begin()));
  }
}

TEST_CASE("AEAD engine names parse and an unknown one is refused", "[crypto][gcm]") {
  AeadEngine e{};
  CHECK(parseAeadEngine("openssl", &e));
  CHECK(e == AeadEngine::kOpenSsl);
  CHECK(parseAeadEngine("ipsec-mb", &e));
  CHECK(e == AeadEngine::kIpsecMb);
  CHECK_FALSE(parseAeadEngine("aesni", &e));
  const std::string arch = ipsecMbArch();
  CHECK((arch == "avx512" || arch == "avx2" || arch == "avx" || arch == "sse" || arch == "none"));
  CHECK((arch == "none") == (bestAeadEngine() == AeadEngine::kOpenSsl));
}
