#include "goldgate/alerts/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace goldgate::alerts {
namespace {

constexpr size_t kHeader = 4 + 1 + 8 + 4;
// Sequences stay far from wrapping: a record numbered kSeqLimit or above is damage. A spool whose
// records are numbered from kSeqRenumberAbove up when it opens (only a damaged file's are: a real
// spool needs 2^61 events to get there) numbers them afresh, so what it appends next reads back.
constexpr uint64_t kSeqLimit = uint64_t{1} << 62;
constexpr uint64_t kSeqRenumberAbove = uint64_t{1} << 61;

uint32_t fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

void putLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t getLe(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Error ioError(const std::string& path, const char* what) {
  return makeError(Error::Code::kIo, path + ": " + what + ": " + std::strerror(errno));
}

bool writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::open(const std::string& dir, uint64_t maxBytes) {
  std::unique_ptr<Spool> s(new Spool());
  s->dir_ = dir;
  s->max_bytes_ = maxBytes;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return makeError(Error::Code::kIo, dir + ": cannot create the spool folder: " + ec.message());
  if (auto r = s->load(); !r) return r.error();
  return s;
}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
}

std::string Spool::encode(const Record& r) {
  std::string out;
  out.reserve(kHeader + r.payload.size());
  putLe(out, r.payload.size(), 4);
  putLe(out, r.severity, 1);
  putLe(out, r.seq, 8);
  putLe(out, fnv1a(r.payload), 4);
  out += r.payload;
  return out;
}

Result<void> Spool::load() {
  std::string path = dir_ + "/spool";
  std::string cursorPath = dir_ + "/cursor";
  uint64_t cursor = 0;
  if (FILE* f = std::fopen(cursorPath.c_str(), "r")) {
    unsigned long long v = 0;
    if (std::fscanf(f, "%llu", &v) == 1) cursor = v;
    std::fclose(f);
  }
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return ioError(path, "cannot open the spool");
  struct stat st {};
  if (fstat(fd_, &st) != 0) return ioError(path, "cannot stat the spool");
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t r = ::pread(fd_, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return ioError(path, "cannot read the spool");
    got += static_cast<size_t>(r);
  }
  uint64_t off = 0;
  uint64_t lastSeq = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  while (off + kHeader <= data.size()) {
    uint64_t len = getLe(p + off, 4);
    if (off + kHeader + len > data.size()) break;
    Record r;
    r.severity = static_cast<uint8_t>(p[off + 4]);
    r.seq = getLe(p + off + 5, 8);
    uint32_t sum = static_cast<uint32_t>(getLe(p + off + 13, 4));
    r.payload.assign(data.data() + off + kHeader, len);
    if (fnv1a(r.payload) != sum) break;
    // Sequences only grow (and stay below kSeqLimit): anything else is damage, cut like a torn tail.
    if (r.seq <= lastSeq || r.seq >= kSeqLimit) break;
    uint64_t end = off + kHeader + len;
    lastSeq = std::max(lastSeq, r.seq);
    if (off >= cursor) {
      bytes_ += kHeader + len;
      entries_.push_back(Entry{std::move(r), end});
    }
    off = end;
  }
  if (off < data.size()) {
    // A torn or corrupt tail: everything from here is cut so later appends stay readable.
    ++torn_on_open_;
    if (::ftruncate(fd_, static_cast<off_t>(off)) != 0) return ioError(path, "cannot cut a torn spool tail");
  }
  file_size_ = off;
  next_seq_ = lastSeq + 1;
  // A cursor past the end (the file was emptied before the cursor was rewritten) means "nothing left".
  if (cursor > off) {
    if (auto r = writeCursor(off); !r) return r;
  } else {
    cursor_ = cursor;
  }
  if (lastSeq >= kSeqRenumberAbove) {
    // Nothing has read a sequence yet (the sender starts after open): renumbering is safe here.
    uint64_t seq = 0;
    for (auto& e : entries_) e.rec.seq = ++seq;
    next_seq_ = seq + 1;
    renumbered_on_open_ = true;
    return rewrite();
  }
  return {};
}

Result<void> Spool::writeCursor(uint64_t offset) {
  std::string tmp = dir_ + "/cursor.tmp";
  std::string text = std::to_string(offset) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ioError(tmp, "cannot write the spool cursor");
  bool ok = writeAll(fd, text.data(), text.size());
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), (dir_ + "/cursor").c_str()) != 0)
    return ioError(tmp, "cannot write the spool cursor");
  cursor_ = offset;
  return {};
}

Result<void> Spool::rewrite() {
  std::string path = dir_ + "/spool";
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ioError(tmp, "cannot rewrite the spool");
  std::string buf;
  uint64_t off = 0;
  for (auto& e : entries_) {
    std::string rec = encode(e.rec);
    off += rec.size();
    e.end_offset = off;
    buf += rec;
    if (buf.size() > (1u << 20)) {
      if (!writeAll(fd, buf.data(), buf.size())) {
        ::close(fd);
        return ioError(tmp, "cannot rewrite the spool");
      }
      buf.clear();
    }
  }
  if (!writeAll(fd, buf.data(), buf.size())) {
    ::close(fd);
    return ioError(tmp, "cannot rewrite the spool");
  }
  // Cursor 0 first, then the new file: a crash in between resends (at-least-once), never skips.
  if (auto r = writeCursor(0); !r) {
    ::close(fd);
    return r;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::close(fd);
    return ioError(path, "cannot replace the spool");
  }
  ::close(fd_);
  fd_ = fd;
  file_size_ = off;
  dirty_ = false;
  return {};
}

uint64_t Spool::shedLocked(uint64_t need) {
  // Drop the oldest records of the lowest severity present until `need` more bytes fit, and a
  // tenth of the bound more, so a full spool is not rewritten for every new event.
  if (bytes_ + need <= max_bytes_) return 0;
  uint64_t target = max_bytes_ - std::min<uint64_t>(max_bytes_, need);
  target -= std::min<uint64_t>(target, max_bytes_ / 10);
  uint64_t dropped = 0;
  while (bytes_ > target && !entries_.empty()) {
    uint8_t lowest = 255;
    for (const auto& e : entries_) lowest = std::min(lowest, e.rec.severity);
    for (auto it = entries_.begin(); it != entries_.end() && bytes_ > target;) {
      if (it->rec.severity != lowest) {
        ++it;
        continue;
      }
      bytes_ -= kHeader + it->rec.payload.size();
      it = entries_.erase(it);
      ++dropped;
    }
  }
  dirty_ = true;
  return dropped;
}

Result<uint64_t> Spool::append(std::string payload, uint8_t severity) {
  std::lock_guard lock(mu_);
  Record r;
  r.seq = next_seq_++;
  r.severity = severity;
  r.payload = std::move(payload);
  uint64_t need = kHeader + r.payload.size();
  if (need > max_bytes_) {
    ++dropped_;
    return uint64_t{1};
  }
  uint64_t dropped = shedLocked(need);
  dropped_ += dropped;
  std::string rec = encode(r);
  bytes_ += need;
  entries_.push_back(Entry{std::move(r), 0});
  if (dirty_) {
    if (auto w = rewrite(); !w) return w.error();
    return dropped;
  }
  if (::lseek(fd_, static_cast<off_t>(file_size_), SEEK_SET) < 0 || !writeAll(fd_, rec.data(), rec.size())) {
    dirty_ = true;  // memory still has it; the next append rewrites the file
    // Cut whatever part was written so the file stays parseable.
    [[maybe_unused]] int rc = ::ftruncate(fd_, static_cast<off_t>(file_size_));
    return ioError(dir_ + "/spool", "cannot append to the spool");
  }
  file_size_ += rec.size();
  entries_.back().end_offset = file_size_;
  return dropped;
}

void Spool::peek(uint64_t afterSeq, size_t max, std::vector<Record>& out) const {
  std::lock_guard lock(mu_);
  out.clear();
  for (const auto& e : entries_) {
    if (out.size() >= max) break;
    if (e.rec.seq > afterSeq) out.push_back(e.rec);
  }
}

uint64_t Spool::confirm(uint64_t seq) {
  std::lock_guard lock(mu_);
  uint64_t end = 0;
  uint64_t n = 0;
  while (!entries_.empty() && entries_.front().rec.seq <= seq) {
    bytes_ -= kHeader + entries_.front().rec.payload.size();
    end = entries_.front().end_offset;
    entries_.pop_front();
    ++n;
  }
  if (n == 0 || dirty_) return n;
  if (entries_.empty()) {
    // Everything delivered: start the file afresh (file first, then cursor: a crash between
    // leaves a cursor past the end, which open() reads as empty).
    if (::ftruncate(fd_, 0) == 0) {
      file_size_ = 0;
      (void)writeCursor(0);
      return n;
    }
  }
  (void)writeCursor(end);
  return n;
}

uint64_t Spool::backlogEvents() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}
uint64_t Spool::backlogBytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}
uint64_t Spool::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}
uint64_t Spool::lastSeq() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

}  // namespace goldgate::alerts
