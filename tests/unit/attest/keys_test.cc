#include "goldgate/attest/keys.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <filesystem>

#include "attest_fixtures.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::attest;
namespace fs = std::filesystem;

namespace {

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

mode_t modeOf(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("Ed25519 known answers (RFC 8032 section 7.1, tests 1 and 2)", "[attest][keys]") {
  struct Vector {
    const char *secret, *pub, *message, *sig;
  } vectors[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe2"
       "4655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302ae"
       "eb00d291612bb0c00"},
  };
  for (const auto& v : vectors) {
    auto key = PrivateKey::fromSeed(unhex(v.secret));
    REQUIRE(key.has_value());
    CHECK(toHex(std::string(key->publicKey().raw().begin(), key->publicKey().raw().end())) == v.pub);
    auto sig = key->sign(unhex(v.message));
    REQUIRE(sig.has_value());
    CHECK(toHex(*sig) == v.sig);
    CHECK(key->publicKey().verify(unhex(v.message), *sig));
    std::string flipped = *sig;
    flipped[10] ^= 1;
    CHECK_FALSE(key->publicKey().verify(unhex(v.message), flipped));
    CHECK_FALSE(key->publicKey().verify(unhex(v.message) + "x", *sig));
    CHECK_FALSE(key->publicKey().verify(unhex(v.message), sig->substr(0, 63)));
  }
}

TEST_CASE("key ids: first 16 bytes of SHA-256 over the raw public key, in hex", "[attest][keys]") {
  auto pub = PublicKey::fromRaw(unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
  REQUIRE(pub.has_value());
  CHECK(pub->keyid().size() == 32);
  // SHA-256 of the 32 raw bytes is 21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9.
  CHECK(pub->keyid() == "21fe31dfa154a261626bf854046fd227");
  CHECK(test::fixedKey(1).keyid() != test::fixedKey(2).keyid());
  CHECK_FALSE(PublicKey::fromRaw("short").has_value());
  CHECK_FALSE(PrivateKey::fromSeed("short").has_value());
}

TEST_CASE("PEM: private and public keys round-trip; other keys are refused", "[attest][keys]") {
  auto key = test::fixedKey(7);
  auto back = PrivateKey::fromPem(key.toPem(), "k");
  REQUIRE(back.has_value());
  CHECK(back->keyid() == key.keyid());
  CHECK_THAT(key.toPem(), Catch::Matchers::StartsWith("-----BEGIN PRIVATE KEY-----"));
  auto pub = PublicKey::fromPem(key.publicKey().toPem(), "k.pub");
  REQUIRE(pub.has_value());
  CHECK(pub->keyid() == key.keyid());

  auto notPem = PublicKey::fromPem("hello", "x.pub");
  REQUIRE_FALSE(notPem.has_value());
  CHECK(notPem.error().code == Error::Code::kParse);
  CHECK_THAT(notPem.error().message, Catch::Matchers::StartsWith("x.pub: not a PEM public key"));
  // A private key given where a public key is expected.
  CHECK_FALSE(PublicKey::fromPem(key.toPem(), "k").has_value());

  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  REQUIRE(ec != nullptr);
  auto pem = [&](bool priv) {
    BIO* b = BIO_new(BIO_s_mem());
    if (priv) PEM_write_bio_PrivateKey(b, ec, nullptr, nullptr, 0, nullptr, nullptr);
    else PEM_write_bio_PUBKEY(b, ec);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(b);
    return out;
  };
  const std::string privPem = pem(true), pubPem = pem(false);
  EVP_PKEY_free(ec);
  auto ecPriv = PrivateKey::fromPem(privPem, "ec.key");
  REQUIRE_FALSE(ecPriv.has_value());
  CHECK(ecPriv.error().message == "ec.key: not an Ed25519 key");
  auto ecPub = PublicKey::fromPem(pubPem, "ec.pub");
  REQUIRE_FALSE(ecPub.has_value());
  CHECK(ecPub.error().message == "ec.pub: not an Ed25519 key");
}

TEST_CASE("generateKeyPair writes KEY 0600 and KEY.pub, and refuses to overwrite", "[attest][keys]") {
  test::TempDir dir;
  const std::string key = (dir.path() / "admin.key").string();
  auto id = generateKeyPair(key);
  REQUIRE(id.has_value());
  CHECK(modeOf(key) == 0600);
  auto priv = PrivateKey::load(key);
  REQUIRE(priv.has_value());
  CHECK(priv->keyid() == *id);
  auto pub = PublicKey::load(key + ".pub");
  REQUIRE(pub.has_value());
  CHECK(pub->keyid() == *id);

  auto again = generateKeyPair(key);
  REQUIRE_FALSE(again.has_value());
  CHECK_THAT(again.error().message, Catch::Matchers::Contains("admin.key: exists"));
  CHECK(PrivateKey::load(key)->keyid() == *id);  // untouched

  // Only the .pub in the way: nothing is written either.
  const std::string other = (dir.path() / "other.key").string();
  dir.write("other.key.pub", "x");
  CHECK_FALSE(generateKeyPair(other).has_value());
  CHECK_FALSE(fs::exists(other));

  auto replaced = generateKeyPair(key, true);
  REQUIRE(replaced.has_value());
  CHECK(*replaced != *id);
  CHECK(modeOf(key) == 0600);
  CHECK(PublicKey::load(key + ".pub")->keyid() == *replaced);

  auto noDir = generateKeyPair((dir.path() / "no" / "such.key").string());
  REQUIRE_FALSE(noDir.has_value());
  CHECK(noDir.error().code == Error::Code::kIo);
}

TEST_CASE("PrivateKey::load refuses a key file group or others can read", "[attest][keys]") {
  test::TempDir dir;
  const fs::path key = dir.path() / "k.key";
  REQUIRE(generateKeyPair(key.string()).has_value());
  for (mode_t mode : {0640, 0604, 0660}) {
    ::chmod(key.c_str(), mode);
    auto r = PrivateKey::load(key.string());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Error::Code::kPermission);
    CHECK_THAT(r.error().message, Catch::Matchers::Contains("too open") && Catch::Matchers::Contains("chmod 600"));
  }
  ::chmod(key.c_str(), 0400);
  CHECK(PrivateKey::load(key.string()).has_value());
  auto missing = PrivateKey::load((dir.path() / "none").string());
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == Error::Code::kIo);
  dir.write("garbage.key", "not a key");
  ::chmod((dir.path() / "garbage.key").c_str(), 0600);
  auto garbage = PrivateKey::load((dir.path() / "garbage.key").string());
  REQUIRE_FALSE(garbage.has_value());
  CHECK(garbage.error().code == Error::Code::kParse);
}
