// Unit tests of the ContentDecoder (datapolicy/src/decode*.cc) on content made by the real tools
// and libraries (tests/unit/datapolicy/make_encoded.py: gzip, brotli, zip, Python's zipfile, email
// and zlib, openpyxl, python-docx, ReportLab), fed whole and in pieces down to single bytes: the
// leaves and the paths they are found through, what cannot be read and why, bombs and nesting
// stopped within their budgets, and opaque streams told from their first bytes.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "command_output.h"
#include "goldgate/datapolicy/decode.h"

using namespace goldgate::datapolicy;

namespace {

const std::string kCard = "4539 1488 0343 6467";

std::string sample(const std::string& name, const std::string& text = "") {
  std::string cmd = "/usr/bin/python3 " GOLDGATE_SOURCE_DIR "/tests/unit/datapolicy/make_encoded.py " + name;
  if (!text.empty()) cmd += " '" + text + "'";
  return goldgate::test::commandOutput(cmd);
}

struct Collected : ContentDecoder::Sink {
  struct Leaf {
    std::string path, text;
    bool ended = false;
  };
  std::vector<Leaf> leaves;
  struct Gap {
    Unreadable why;
    std::string path, detail;
  };
  std::vector<Gap> gaps;
  bool open = false;

  void begin(std::string_view path) override {
    REQUIRE_FALSE(open);  // leaves never nest
    open = true;
    // A leaf cut by another and resumed continues the same text.
    if (!leaves.empty() && leaves.back().path == path && leaves.back().ended) leaves.back().ended = false;
    else leaves.push_back({std::string(path), "", false});
  }
  void bytes(const uint8_t* d, size_t n) override {
    REQUIRE(open);
    leaves.back().text.append(reinterpret_cast<const char*>(d), n);
  }
  void end() override {
    REQUIRE(open);
    open = false;
    leaves.back().ended = true;
  }
  void unreadable(Unreadable why, std::string_view path, std::string_view detail) override {
    gaps.push_back({why, std::string(path), std::string(detail)});
  }
  // The text of the leaf found through `path`, or "" when none was.
  std::string at(const std::string& path) const {
    std::string t;
    for (const auto& l : leaves)
      if (l.path == path) t += l.text;
    return t;
  }
  std::string paths() const {
    std::string p;
    for (const auto& l : leaves) p += "[" + l.path + "] ";
    return p;
  }
  bool has(Unreadable why) const {
    for (const auto& u : gaps)
      if (u.why == why) return true;
    return false;
  }
};

// Decodes `data` fed in pieces of `step` bytes (0: whole).
Collected decode(const std::string& data, size_t step = 0, DecodeLimits lim = {}, DecodeMemory* mem = nullptr,
                 ContentDecoder** keep = nullptr) {
  static DecodeMemory shared;
  ContentDecoder dec(lim, mem ? mem : &shared);
  Collected c;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t s = step ? step : data.size();
  for (size_t i = 0; i < data.size(); i += s) dec.feed(p + i, std::min(s, data.size() - i), c);
  dec.finish(c);
  REQUIRE_FALSE(c.open);
  REQUIRE(dec.memory() == 0);  // every layer gave its memory back
  (void)keep;
  return c;
}

// The same leaves whatever the pieces the bytes arrive in.
void checkSteps(const std::string& data, const std::string& path, const std::string& needle) {
  for (size_t step : {size_t{0}, size_t{1}, size_t{3}, size_t{7}, size_t{64}, size_t{1000}}) {
    INFO("pieces of " << step << " bytes");
    const Collected c = decode(data, step);
    INFO("leaves: " << c.paths());
    CHECK(c.at(path).find(needle) != std::string::npos);
    CHECK(c.gaps.empty());
  }
}

}  // namespace

TEST_CASE("HTTP: a body sent as it is makes no leaf (the stream's own bytes are scanned)", "[decode]") {
  const Collected c = decode(sample("plain-http"));
  CHECK(c.leaves.empty());
  CHECK(c.gaps.empty());
}

TEST_CASE("HTTP: a chunked body is joined across its chunk boundaries", "[decode]") {
  // The card number is split by two chunk boundaries: only the joined body holds it whole.
  const std::string raw = sample("chunked-http");
  CHECK(raw.find(kCard) == std::string::npos);
  checkSteps(raw, "http.body", kCard);
}

TEST_CASE("HTTP: Content-Encoding gzip, deflate, br and a list of them are undone", "[decode]") {
  checkSteps(sample("gzip-http"), "http.body > gzip", kCard);
  checkSteps(sample("deflate-http"), "http.body > deflate", kCard);
  checkSteps(sample("br-http"), "http.body > br", kCard);
  checkSteps(sample("gzip-br-http"), "http.body > br > gzip", kCard);
}

TEST_CASE("HTTP: multipart parts with base64 and quoted-printable transfer encodings", "[decode]") {
  checkSteps(sample("multipart-base64"), "http.body > multipart:cards.csv > base64", kCard);
  checkSteps(sample("multipart-qp"), "http.body > multipart:cards.txt > quoted-printable", kCard);
}

TEST_CASE("HTTP: a URL-encoded form is decoded", "[decode]") {
  const std::string raw = sample("urlencoded");
  CHECK(raw.find(kCard) == std::string::npos);
  checkSteps(raw, "http.body > urlencoded", kCard);
}

TEST_CASE("HTTP: pipelined messages each get their body decoded", "[decode]") {
  const std::string one = sample("gzip-http"), two = sample("br-http");
  const Collected c = decode(one + two, 5);
  CHECK(c.at("http.body > gzip").find(kCard) != std::string::npos);
  CHECK(c.at("http.body > br").find(kCard) != std::string::npos);
}

TEST_CASE("HTTP: a header block over the bound, a bad chunk size, an unknown coding are reported", "[decode]") {
  Collected c = decode("POST / HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  CHECK(c.has(Unreadable::kHeaderTooLong));
  c = decode("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
  CHECK(c.has(Unreadable::kCorrupt));
  c = decode("POST / HTTP/1.1\r\nContent-Encoding: zstd\r\nContent-Length: 3\r\n\r\nabc");
  REQUIRE(c.has(Unreadable::kUnsupported));
  CHECK(c.gaps[0].detail.find("zstd") != std::string::npos);
  c = decode("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
  CHECK(c.has(Unreadable::kCorrupt));
}

TEST_CASE("ZIP: stored, deflated and streamed (data descriptor) members by name", "[decode]") {
  checkSteps(sample("zip"), "zip:report.csv", kCard);
  checkSteps(sample("zip-stored"), "zip:report.csv", kCard);
  checkSteps(sample("zip-stream"), "zip:report.csv", kCard);
  const Collected c = decode(sample("zip-stream"));
  CHECK(c.at("zip:notes.txt") == "nothing here\n");  // the member after a data descriptor
  checkSteps(sample("zip-http"), "http.body > zip:report.csv", kCard);
}

TEST_CASE("Office documents: the text of an .xlsx and a .docx", "[decode]") {
  const Collected x = decode(sample("xlsx"));
  INFO(x.paths());
  CHECK(x.at("zip:xl/worksheets/sheet1.xml").find(kCard) != std::string::npos);
  // Numbers in cells of their own never run together.
  CHECK(x.at("zip:xl/worksheets/sheet1.xml").find("1234567\n") != std::string::npos);
  const Collected d = decode(sample("docx"), 13);
  INFO(d.paths());
  CHECK(d.at("zip:word/document.xml").find("Ada Lovelace," + kCard) != std::string::npos);
}

TEST_CASE("PDF: the strings of Flate (and ASCII85) text streams", "[decode]") {
  checkSteps(sample("pdf"), "pdf", kCard);
}

TEST_CASE("MIME: an email's base64 attachment, found as a bare base64 run", "[decode]") {
  // An attachment of a few lines: its base64 is a run long enough to be decoded as content.
  const std::string raw =
      sample("email", "name,card\nAda Lovelace," + kCard + "\nCharles Babbage,5500 0000 0000 0004\n");
  CHECK(raw.find(kCard) == std::string::npos);
  checkSteps(raw, "base64", kCard);
}

TEST_CASE("gzip stream: whole, truncated and corrupted", "[decode]") {
  const std::string gz = sample("gzip");
  checkSteps(gz, "gzip", kCard);
  Collected c = decode(gz.substr(0, gz.size() - 6));
  CHECK(c.has(Unreadable::kTruncated));
  std::string bad = gz;
  bad[12] ^= 0x55;
  bad[13] ^= 0x55;
  c = decode(bad);
  CHECK((c.has(Unreadable::kCorrupt) || c.has(Unreadable::kTruncated)));
}

TEST_CASE("Bombs: a ZIP member of 10 GiB of zeros in 10 MiB is stopped by the ratio, bounded", "[decode]") {
  const std::string bomb = sample("bomb");
  REQUIRE(bomb.size() > 10'000'000);
  DecodeMemory mem;
  ContentDecoder dec({}, &mem);
  Collected c;
  uint64_t peak = 0;
  const auto* p = reinterpret_cast<const uint8_t*>(bomb.data());
  for (size_t i = 0; i < bomb.size(); i += 1460) {
    dec.feed(p + i, std::min<size_t>(1460, bomb.size() - i), c);
    peak = std::max(peak, mem.used);
  }
  dec.finish(c);
  REQUIRE(c.has(Unreadable::kRatio));
  CHECK(dec.produced() < (4u << 20));  // stopped soon after the ratio is judged (past 1 MiB)
  CHECK(peak <= DecodeLimits{}.max_memory);
  CHECK(mem.used == 0);
  // The same with the ratio off: the output budget stops it.
  DecodeLimits lim;
  lim.max_ratio = UINT32_MAX;
  lim.max_output = 8 << 20;
  const Collected o = decode(bomb, 65536, lim);
  CHECK(o.has(Unreadable::kOutputBudget));
}

TEST_CASE("Nesting: an archive twelve deep stops at the depth bound", "[decode]") {
  const Collected c = decode(sample("nested-zip"));
  REQUIRE(c.has(Unreadable::kDepth));
  DecodeLimits deep;
  deep.max_depth = 16;
  deep.max_memory = 1 << 20;  // a window for each of the twelve inflaters
  const Collected d = decode(sample("nested-zip"), 0, deep);
  CHECK_FALSE(d.has(Unreadable::kDepth));
  bool found = false;
  for (const auto& l : d.leaves) found |= l.text.find(kCard) != std::string::npos;
  CHECK(found);
}

TEST_CASE("Encrypted ZIP members are unreadable, and said so", "[decode]") {
  const Collected c = decode(sample("zip-encrypted"));
  REQUIRE(c.has(Unreadable::kEncrypted));
  CHECK(c.gaps[0].path == "zip:report.csv");
}

TEST_CASE("Memory: decoders over the bound (per direction, and in all) fail and say so", "[decode]") {
  DecodeLimits small;
  small.max_memory = 8 << 10;  // less than zlib's window
  Collected c = decode(sample("gzip-http"), 0, small);
  CHECK(c.has(Unreadable::kMemory));
  DecodeMemory tight{16 << 10, 0};
  c = decode(sample("gzip-http"), 0, {}, &tight);
  CHECK(c.has(Unreadable::kMemory));
  CHECK(tight.used == 0);
  // A share of the worker's memory (one VM port's): its bound holds though the total has room.
  DecodeMemory total{64 << 20, 0}, port{16 << 10, 0};
  {
    ContentDecoder dec({}, &total, &port);
    Collected g;
    const std::string gz = sample("gzip-http");
    dec.feed(reinterpret_cast<const uint8_t*>(gz.data()), gz.size(), g);
    dec.finish(g);
    CHECK(g.has(Unreadable::kMemory));
    CHECK(port.peak <= port.limit);
  }
  CHECK(total.used == 0);
  CHECK(port.used == 0);
}

TEST_CASE("Opaque: TLS ClientHello (with its server name), SSH, and high-entropy bytes", "[decode]") {
  const std::string py =
      "import ssl,sys\n"
      "c=ssl.create_default_context()\n"
      "i,o=ssl.MemoryBIO(),ssl.MemoryBIO()\n"
      "s=c.wrap_bio(i,o,server_hostname='vault.example.org')\n"
      "try: s.do_handshake()\n"
      "except ssl.SSLWantReadError: pass\n"
      "sys.stdout.buffer.write(o.read())\n";
  const std::string hello = goldgate::test::commandOutput("/usr/bin/python3 -c \"" + py + "\"");
  for (size_t step : {size_t{0}, size_t{1}, size_t{100}}) {
    DecodeMemory mem;
    std::optional<ContentDecoder> holder;
    holder.emplace(DecodeLimits{}, &mem);
    ContentDecoder& dec = *holder;
    Collected c;
    const auto* p = reinterpret_cast<const uint8_t*>(hello.data());
    for (size_t i = 0; i < hello.size(); i += step ? step : hello.size())
      dec.feed(p + i, std::min(step ? step : hello.size(), hello.size() - i), c);
    REQUIRE(dec.opaque() == Opaque::kTls);
    REQUIRE(dec.tlsHello());
    CHECK(dec.tlsHello()->sni == "vault.example.org");
    holder.reset();
    CHECK(mem.used == 0);
  }
  {
    ContentDecoder dec({}, nullptr);
    Collected c;
    const std::string ssh = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    dec.feed(reinterpret_cast<const uint8_t*>(ssh.data()), ssh.size(), c);
    CHECK(dec.opaque() == Opaque::kSsh);
  }
  {
    const std::string rnd = goldgate::test::commandOutput("head -c 8192 /dev/urandom | tr -d '\\037'");
    ContentDecoder dec({}, nullptr);
    Collected c;
    dec.feed(reinterpret_cast<const uint8_t*>(rnd.data()), rnd.size(), c);
    CHECK(dec.opaque() == Opaque::kHighEntropy);
    CHECK(c.has(Unreadable::kHighEntropy));
    // Text is not.
    ContentDecoder t({}, nullptr);
    Collected ct;
    std::string text;
    while (text.size() < 8192) text += "The quick brown fox jumps over the lazy dog 0123456789. ";
    t.feed(reinterpret_cast<const uint8_t*>(text.data()), text.size(), ct);
    CHECK(t.opaque() == Opaque::kNone);
  }
}

TEST_CASE("A gap ends decoding quietly; nothing more is decoded", "[decode]") {
  const std::string gz = sample("gzip-http");
  ContentDecoder dec({}, nullptr);
  Collected c;
  dec.feed(reinterpret_cast<const uint8_t*>(gz.data()), 80, c);
  dec.gap(c);
  dec.feed(reinterpret_cast<const uint8_t*>(gz.data()) + 80, gz.size() - 80, c);
  dec.finish(c);
  CHECK(c.gaps.empty());
  CHECK(dec.memory() == 0);
  CHECK(c.at("http.body > gzip").find(kCard) == std::string::npos);
}
