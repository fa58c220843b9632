#include "goldgate/attest/verify.h"

#include <catch2/catch.hpp>

#include "attest_fixtures.h"
#include "goldgate/attest/dsse.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::attest;
using goldgate::test::fixedKey;
using goldgate::test::kNow;
using goldgate::test::manifestText;

namespace {

std::string signedBy(const std::string& payload, std::initializer_list<const PrivateKey*> keys) {
  std::string env;
  for (const auto* k : keys) {
    auto r = signEnvelope(payload, *k, env.empty() ? nullptr : &env);
    REQUIRE(r.has_value());
    env = *r;
  }
  return env;
}

TrustPolicy trust(std::initializer_list<const PrivateKey*> keys, unsigned threshold = 1) {
  TrustPolicy p;
  for (const auto* k : keys) p.keys.push_back(k->publicKey());
  p.threshold = threshold;
  return p;
}

// Expects a refusal with `reason`, a message "m.yaml: <reason>: …" containing `text`.
void expectRejected(const Result<Verified, Rejection>& r, RejectReason reason, const std::string& text = "") {
  REQUIRE_FALSE(r.has_value());
  INFO(r.error().message);
  CHECK(r.error().reason == reason);
  CHECK_THAT(r.error().message, Catch::Matchers::StartsWith("m.yaml: " + std::string(reasonName(reason)) + ": "));
  CHECK_THAT(r.error().message, Catch::Matchers::Contains(text));
}

proto::DsseEnvelope envelopeOf(const std::string& json) {
  auto e = parseEnvelope(json);
  REQUIRE(e.has_value());
  return *e;
}

}  // namespace

TEST_CASE("PAE as the DSSE specification gives it", "[attest][dsse]") {
  CHECK(pae("http://example.com/HelloWorld", "hello world") ==
        "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  CHECK(pae("", "") == "DSSEv1 0  0 ");
}

TEST_CASE("a signed manifest verifies; its signers are named", "[attest][verify]") {
  auto a = fixedKey(1);
  const std::string file = manifestText();
  const std::string env = signedBy(file, {&a});
  auto e = envelopeOf(env);
  CHECK(e.payload_type() == kManifestPayloadType);
  CHECK(e.payload() == file);
  REQUIRE(e.signatures_size() == 1);
  CHECK(e.signatures(0).keyid() == a.keyid());
  CHECK(a.publicKey().verify(pae(e.payload_type(), file), e.signatures(0).sig()));
  CHECK_FALSE(a.publicKey().verify(file, e.signatures(0).sig()));  // over PAE, never the bare payload

  auto v = verifyManifest(file, env, trust({&a}), kNow, "m.yaml");
  REQUIRE(v.has_value());
  CHECK(v->manifest.app() == "shop-web");
  CHECK(v->signers == std::vector<std::string>{a.keyid()});
}

TEST_CASE("tampering is refused", "[attest][verify]") {
  auto a = fixedKey(1);
  const std::string file = manifestText();
  const std::string env = signedBy(file, {&a});

  SECTION("the file changed by one byte") {
    for (size_t pos : {size_t{0}, file.size() / 2, file.size() - 1}) {
      std::string changed = file;
      changed[pos] ^= 0x01;
      expectRejected(verifyManifest(changed, env, trust({&a}), kNow, "m.yaml"), RejectReason::kTampered,
                     "differs from the file");
    }
    expectRejected(verifyManifest(file + "\n", env, trust({&a}), kNow, "m.yaml"), RejectReason::kTampered);
  }
  SECTION("payload and file changed alike: the signature no longer verifies") {
    auto e = envelopeOf(env);
    std::string changed = manifestText("shop-web", 9);
    e.set_payload(changed);
    expectRejected(verifyManifest(changed, envelopeToJson(e), trust({&a}), kNow, "m.yaml"), RejectReason::kTampered,
                   "signature of trusted key " + a.keyid() + " does not verify");
  }
  SECTION("a signature changed by one bit") {
    auto e = envelopeOf(env);
    std::string sig = e.signatures(0).sig();
    sig[5] ^= 0x20;
    e.mutable_signatures(0)->set_sig(sig);
    expectRejected(verifyManifest(file, envelopeToJson(e), trust({&a}), kNow, "m.yaml"), RejectReason::kTampered);
  }
  SECTION("a payload type changed: PAE covers it") {
    auto e = envelopeOf(env);
    e.set_payload_type("application/vnd.goldgate.manifest+json");
    expectRejected(verifyManifest(file, envelopeToJson(e), trust({&a}), kNow, "m.yaml"), RejectReason::kMalformed,
                   "payloadType");
  }
}

TEST_CASE("keys that are not trusted do not count", "[attest][verify]") {
  auto a = fixedKey(1), b = fixedKey(2), c = fixedKey(3);
  const std::string file = manifestText();

  SECTION("signed by the wrong key") {
    expectRejected(verifyManifest(file, signedBy(file, {&a}), trust({&b}), kNow, "m.yaml"), RejectReason::kUnknownKey,
                   "no valid signature from a trusted key");
  }
  SECTION("no trusted keys at all") {
    expectRejected(verifyManifest(file, signedBy(file, {&a}), TrustPolicy{}, kNow, "m.yaml"),
                   RejectReason::kUnknownKey);
  }
  SECTION("an unknown signer beside a trusted one is ignored") {
    auto v = verifyManifest(file, signedBy(file, {&c, &a}), trust({&a}), kNow, "m.yaml");
    REQUIRE(v.has_value());
    CHECK(v->signers == std::vector<std::string>{a.keyid()});
  }
  SECTION("a keyid is only a hint: a signature without one counts when a trusted key verifies it") {
    auto e = envelopeOf(signedBy(file, {&a}));
    e.mutable_signatures(0)->clear_keyid();
    auto v = verifyManifest(file, envelopeToJson(e), trust({&b, &a}), kNow, "m.yaml");
    REQUIRE(v.has_value());
    CHECK(v->signers == std::vector<std::string>{a.keyid()});
    expectRejected(verifyManifest(file, envelopeToJson(e), trust({&b}), kNow, "m.yaml"), RejectReason::kUnknownKey);
  }
  SECTION("a signature under a trusted keyid that is really another key's is tampering") {
    auto e = envelopeOf(signedBy(file, {&c}));
    e.mutable_signatures(0)->set_keyid(a.keyid());
    expectRejected(verifyManifest(file, envelopeToJson(e), trust({&a}), kNow, "m.yaml"), RejectReason::kTampered);
  }
}

TEST_CASE("thresholds count distinct trusted signers", "[attest][verify]") {
  auto a = fixedKey(1), b = fixedKey(2), c = fixedKey(3);
  const std::string file = manifestText();
  const TrustPolicy twoOfThree = trust({&a, &b, &c}, 2);

  SECTION("2 of 3 met") {
    auto v = verifyManifest(file, signedBy(file, {&a, &c}), twoOfThree, kNow, "m.yaml");
    REQUIRE(v.has_value());
    CHECK(v->signers.size() == 2);
  }
  SECTION("3 of 3 signed, 2 needed") {
    CHECK(verifyManifest(file, signedBy(file, {&a, &b, &c}), twoOfThree, kNow, "m.yaml").has_value());
  }
  SECTION("2 of 3 not met") {
    expectRejected(verifyManifest(file, signedBy(file, {&b}), twoOfThree, kNow, "m.yaml"), RejectReason::kThreshold,
                   "1 trusted signer, 2 required");
  }
  SECTION("an untrusted second signer does not make up the number") {
    auto d = fixedKey(4);
    expectRejected(verifyManifest(file, signedBy(file, {&a, &d}), twoOfThree, kNow, "m.yaml"),
                   RejectReason::kThreshold);
  }
  SECTION("the same signer twice counts once") {
    auto e = envelopeOf(signedBy(file, {&a}));
    *e.add_signatures() = e.signatures(0);
    expectRejected(verifyManifest(file, envelopeToJson(e), twoOfThree, kNow, "m.yaml"), RejectReason::kThreshold,
                   "1 trusted signer, 2 required");
    // Nor does a key given twice to the verifier.
    expectRejected(verifyManifest(file, signedBy(file, {&a}), trust({&a, &a}, 2), kNow, "m.yaml"),
                   RejectReason::kThreshold);
  }
  SECTION("signEnvelope refuses the same key twice") {
    std::string env = signedBy(file, {&a});
    auto again = signEnvelope(file, a, &env);
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().code == Error::Code::kInvalidArgument);
    CHECK_THAT(again.error().message, Catch::Matchers::Contains("already signed by key " + a.keyid()));
  }
  SECTION("a threshold of 0 is taken as 1") {
    CHECK(verifyManifest(file, signedBy(file, {&a}), trust({&a}, 0), kNow, "m.yaml").has_value());
  }
}

TEST_CASE("expired and invalid manifests are refused after their signatures check", "[attest][verify]") {
  auto a = fixedKey(1);
  SECTION("expired") {
    const std::string file = manifestText("shop-web", 3, "2026-12-31T23:59:59Z");
    expectRejected(verifyManifest(file, signedBy(file, {&a}), trust({&a}), kNow, "m.yaml"), RejectReason::kExpired,
                   "expired at 2026-12-31T23:59:59Z");
    // The instant of expiry is already too late; a second before is not.
    expectRejected(verifyManifest(file, signedBy(file, {&a}), trust({&a}), kNow - 1, "m.yaml"), RejectReason::kExpired);
    CHECK(verifyManifest(file, signedBy(file, {&a}), trust({&a}), kNow - 2, "m.yaml").has_value());
  }
  SECTION("invalid: file:line of the signed file") {
    const std::string file = manifestText() + "colour: blue\n";
    expectRejected(verifyManifest(file, signedBy(file, {&a}), trust({&a}), kNow, "m.yaml"), RejectReason::kInvalid,
                   "m.yaml:8: unknown key 'colour'");
  }
  SECTION("an invalid manifest with a bad signature is tampered, not invalid") {
    const std::string file = "not: a manifest\n";
    auto b = fixedKey(2);
    auto e = envelopeOf(signedBy(file, {&b}));
    e.mutable_signatures(0)->set_keyid(a.keyid());
    expectRejected(verifyManifest(file, envelopeToJson(e), trust({&a}), kNow, "m.yaml"), RejectReason::kTampered);
  }
}

TEST_CASE("malformed envelopes", "[attest][verify][dsse]") {
  auto a = fixedKey(1);
  const std::string file = manifestText();
  const std::string good = signedBy(file, {&a});
  struct Case {
    const char* name;
    std::string json;
    const char* text;
  } cases[] = {
      {"empty", "", "not a DSSE envelope"},
      {"not JSON", "hello", "not a DSSE envelope"},
      {"a JSON list", "[]", "not a DSSE envelope"},
      {"truncated", good.substr(0, good.size() / 2), "not a DSSE envelope"},
      {"unknown field", R"({"payloadType":"x","payload":"","signatures":[{"sig":"AA=="}],"extra":1})",
       "not a DSSE envelope"},
      {"payload not base64", R"({"payloadType":"x","payload":"***","signatures":[{"sig":"AA=="}]})",
       "not a DSSE envelope"},
      {"no payloadType", R"({"payload":"","signatures":[{"sig":"AA=="}]})", "no payloadType"},
      {"no signatures", R"({"payloadType":"x","payload":"","signatures":[]})", "no signatures"},
      {"a signature without sig", R"({"payloadType":"x","payload":"","signatures":[{"keyid":"ab"}]})",
       "signature 1 has no sig"},
      {"other payload type", R"({"payloadType":"text/plain","payload":"","signatures":[{"sig":"AA=="}]})",
       "payloadType 'text/plain'"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      expectRejected(verifyManifest(file, c.json, trust({&a}), kNow, "m.yaml"), RejectReason::kMalformed, c.text);
    }
  }
  SECTION("too many signatures") {
    auto e = envelopeOf(good);
    while (static_cast<size_t>(e.signatures_size()) <= kMaxSignatures) *e.add_signatures() = e.signatures(0);
    expectRejected(verifyManifest(file, envelopeToJson(e), trust({&a}), kNow, "m.yaml"), RejectReason::kMalformed,
                   "at most 32");
  }
  SECTION("too large") {
    expectRejected(verifyManifest(file, std::string(kMaxEnvelopeBytes + 1, ' '), trust({&a}), kNow, "m.yaml"),
                   RejectReason::kMalformed, "larger than");
  }
}

TEST_CASE("signEnvelope with an existing envelope", "[attest][dsse]") {
  auto a = fixedKey(1), b = fixedKey(2);
  const std::string file = manifestText();
  std::string env = signedBy(file, {&a});
  auto other = signEnvelope(manifestText("shop-web", 4), b, &env);
  REQUIRE_FALSE(other.has_value());
  CHECK_THAT(other.error().message, Catch::Matchers::Contains("other bytes"));
  std::string garbage = "{";
  auto bad = signEnvelope(file, b, &garbage);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Error::Code::kParse);
  auto both = signEnvelope(file, b, &env);
  REQUIRE(both.has_value());
  auto e = envelopeOf(*both);
  REQUIRE(e.signatures_size() == 2);
  CHECK(e.signatures(0).keyid() == a.keyid());
  CHECK(e.signatures(1).keyid() == b.keyid());
}

TEST_CASE("verifyManifestFile: the envelope beside the file, or unsigned", "[attest][verify]") {
  test::TempDir dir;
  auto a = fixedKey(1);
  const std::string path = (dir.path() / "m.yaml").string();
  dir.write("m.yaml", manifestText());
  auto r = verifyManifestFile(path, trust({&a}), kNow);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().reason == RejectReason::kUnsigned);
  CHECK(r.error().message == path + ": unsigned: no signature envelope (" + path + ".sig)");
  CHECK(unsignedManifest("x.yaml").reason == RejectReason::kUnsigned);

  dir.write("m.yaml.sig", signedBy(manifestText(), {&a}));
  auto ok = verifyManifestFile(path, trust({&a}), kNow);
  REQUIRE(ok.has_value());
  CHECK(ok->manifest.version() == 3);

  auto missing = verifyManifestFile((dir.path() / "none.yaml").string(), trust({&a}), kNow);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().reason == RejectReason::kInvalid);
}

TEST_CASE("reason names are stable", "[attest][verify]") {
  CHECK(reasonName(RejectReason::kUnsigned) == "unsigned");
  CHECK(reasonName(RejectReason::kMalformed) == "malformed");
  CHECK(reasonName(RejectReason::kTampered) == "tampered");
  CHECK(reasonName(RejectReason::kUnknownKey) == "unknown-key");
  CHECK(reasonName(RejectReason::kThreshold) == "threshold");
  CHECK(reasonName(RejectReason::kExpired) == "expired");
  CHECK(reasonName(RejectReason::kInvalid) == "invalid");
  CHECK(reasonName(RejectReason::kRollback) == "rollback");
}
