#include "goldgate/datapolicy/tls_hello.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>

namespace goldgate::datapolicy {
namespace {

constexpr size_t kMaxRecord = (16u << 10) + 256;

bool grease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// A bounded reader: every read checks what is left, and a failed read poisons the reader.
struct Reader {
  const uint8_t* p;
  size_t left;
  bool ok = true;
  bool need(size_t n) {
    if (left < n) ok = false;
    return ok;
  }
  uint8_t u8() { return need(1) ? (--left, *p++) : 0; }
  uint16_t u16() {
    if (!need(2)) return 0;
    const uint16_t v = static_cast<uint16_t>(p[0] << 8 | p[1]);
    p += 2, left -= 2;
    return v;
  }
  uint32_t u24() {
    if (!need(3)) return 0;
    const uint32_t v = uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2];
    p += 3, left -= 3;
    return v;
  }
  Reader sub(size_t n) {
    if (!need(n)) return Reader{p, 0, false};
    Reader r{p, n};
    p += n, left -= n;
    return r;
  }
};

std::string hex4(uint16_t v) {
  char b[5];
  std::snprintf(b, sizeof b, "%04x", v);
  return b;
}

std::string sha12(const std::string& s) {
  if (s.empty()) return "000000000000";
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  std::string out;
  for (int i = 0; i < 6; ++i) out += hex4(static_cast<uint16_t>(d[i])).substr(2);
  return out;
}

std::string joined(const std::vector<uint16_t>& v) {
  std::string s;
  for (uint16_t x : v) s += (s.empty() ? "" : ",") + hex4(x);
  return s;
}

}  // namespace

uint16_t TlsClientHello::maxVersion() const {
  return versions.empty() ? legacy_version : *std::max_element(versions.begin(), versions.end());
}

TlsHelloParse parseClientHello(const uint8_t* data, size_t len, TlsClientHello* out, std::string* why) {
  auto bad = [&](const char* w) {
    *why = w;
    return TlsHelloParse::kBad;
  };
  if (len >= 1 && data[0] != 22) return TlsHelloParse::kNotTls;  // handshake record
  if (len >= 2 && data[1] != 3) return TlsHelloParse::kNotTls;   // SSL 3 / TLS record versions
  if (len < 5) return TlsHelloParse::kNeedMore;
  const size_t recLen = size_t{data[3]} << 8 | data[4];
  if (recLen == 0 || recLen > kMaxRecord) return bad("record length out of range");
  if (len < 5 + recLen) return TlsHelloParse::kNeedMore;
  Reader r{data + 5, recLen};
  if (r.u8() != 1) return bad("not a ClientHello");
  const uint32_t hsLen = r.u24();
  if (!r.ok || hsLen > r.left) return bad("ClientHello longer than its record (split across records)");
  Reader h = r.sub(hsLen);
  TlsClientHello ch;
  ch.legacy_version = h.u16();
  h.sub(32);      // random
  h.sub(h.u8());  // legacy session id
  Reader cs = h.sub(h.u16());
  if (!h.ok || cs.left % 2) return bad("malformed cipher suites");
  while (cs.left) {
    const uint16_t c = cs.u16();
    if (!grease(c)) ch.ciphers.push_back(c);
  }
  h.sub(h.u8());  // compression methods
  if (!h.ok) return bad("truncated before the extensions");
  if (h.left) {
    Reader exts = h.sub(h.u16());
    if (!h.ok) return bad("extensions longer than the ClientHello");
    while (exts.left) {
      const uint16_t type = exts.u16();
      Reader e = exts.sub(exts.u16());
      if (!exts.ok) return bad("an extension longer than the extensions");
      if (!grease(type)) ch.extensions.push_back(type);
      if (type == 0) {  // server_name: a list of (type, name); host_name is type 0
        Reader list = e.sub(e.u16());
        while (list.ok && list.left) {
          const uint8_t nt = list.u8();
          Reader name = list.sub(list.u16());
          if (list.ok && nt == 0 && ch.sni.empty()) ch.sni.assign(reinterpret_cast<const char*>(name.p), name.left);
        }
        if (!list.ok) return bad("malformed server_name");
      } else if (type == 16) {  // ALPN: a list of length-prefixed names
        Reader list = e.sub(e.u16());
        while (list.ok && list.left) {
          Reader name = list.sub(list.u8());
          if (list.ok) ch.alpn.emplace_back(reinterpret_cast<const char*>(name.p), name.left);
        }
        if (!list.ok) return bad("malformed ALPN");
      } else if (type == 43) {  // supported_versions
        Reader list = e.sub(e.u8());
        while (list.ok && list.left >= 2) {
          const uint16_t v = list.u16();
          if (!grease(v)) ch.versions.push_back(v);
        }
        if (!list.ok) return bad("malformed supported_versions");
      } else if (type == 13) {  // signature_algorithms
        Reader list = e.sub(e.u16());
        while (list.ok && list.left >= 2) ch.signature_algorithms.push_back(list.u16());
        if (!list.ok) return bad("malformed signature_algorithms");
      }
    }
  }
  for (const auto& s : ch.sni)
    if (static_cast<unsigned char>(s) < 0x21 || static_cast<unsigned char>(s) > 0x7e)
      return bad("server name with non-printable bytes");
  *out = std::move(ch);
  return TlsHelloParse::kHello;
}

std::string ja4Fingerprint(const TlsClientHello& h) {
  std::string version;
  switch (h.maxVersion()) {
    case 0x0304: version = "13"; break;
    case 0x0303: version = "12"; break;
    case 0x0302: version = "11"; break;
    case 0x0301: version = "10"; break;
    default: version = "00"; break;
  }
  auto two = [](size_t n) {
    char b[3];
    std::snprintf(b, sizeof b, "%02zu", std::min<size_t>(n, 99));
    return std::string(b);
  };
  std::string alpn = "00";
  if (!h.alpn.empty() && !h.alpn[0].empty()) alpn = std::string{h.alpn[0].front(), h.alpn[0].back()};
  std::string a = "t" + version + (h.sni.empty() ? "i" : "d") + two(h.ciphers.size()) + two(h.extensions.size()) + alpn;
  std::vector<uint16_t> ciphers = h.ciphers;
  std::sort(ciphers.begin(), ciphers.end());
  std::vector<uint16_t> exts;
  for (uint16_t e : h.extensions)
    if (e != 0 && e != 16) exts.push_back(e);
  std::sort(exts.begin(), exts.end());
  std::string c = joined(exts);
  if (!h.signature_algorithms.empty()) c += "_" + joined(h.signature_algorithms);
  return a + "_" + sha12(joined(ciphers)) + "_" + sha12(c);
}

}  // namespace goldgate::datapolicy
