// RFC 3339 UTC timestamps and dates for a manifest's `issued` and `expires`.
#include <chrono>
#include <cstdio>

#include "goldgate/attest/manifest.h"

namespace goldgate::attest {
namespace {

// The digits of text[pos, pos + n) as a number, or -1 when any is not a digit.
int digits(std::string_view text, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

// 9999-12-31T23:59:59Z: the last second a four-digit year can name.
constexpr int64_t kMaxTimestamp = 253402300799;

}  // namespace

Result<int64_t> parseTimestamp(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return makeError(
        Error::Code::kInvalidArgument,
        "'" + std::string(text) + "' " + why + " (expected a UTC timestamp 2027-06-30T00:00:00Z or a date 2027-06-30)");
  };
  const bool date = text.size() == 10;
  const bool full = text.size() == 20 && (text[10] == 'T' || text[10] == 't') && (text[19] == 'Z' || text[19] == 'z');
  if (!date && !full) {
    if (text.size() > 19 && text[10] == 'T' && (text.back() != 'Z' && text.back() != 'z')) return bad("is not in UTC");
    return bad("is not a timestamp");
  }
  if (text[4] != '-' || text[7] != '-' || (full && (text[13] != ':' || text[16] != ':')))
    return bad("is not a timestamp");
  int y = digits(text, 0, 4), mo = digits(text, 5, 2), d = digits(text, 8, 2);
  int h = full ? digits(text, 11, 2) : 0, mi = full ? digits(text, 14, 2) : 0, s = full ? digits(text, 17, 2) : 0;
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return bad("is not a timestamp");
  using namespace std::chrono;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || y < 1970) return bad("is not a date from 1970 on");
  if (h > 23 || mi > 59 || s > 59) return bad("is not a time of day");
  return static_cast<int64_t>(sys_days{ymd}.time_since_epoch().count()) * 86400 + h * 3600 + mi * 60 + s;
}

std::string formatTimestamp(int64_t unixSeconds) {
  if (unixSeconds < 0 || unixSeconds > kMaxTimestamp) return std::to_string(unixSeconds);
  using namespace std::chrono;
  sys_seconds tp{seconds{unixSeconds}};
  auto dp = floor<days>(tp);
  year_month_day ymd{dp};
  hh_mm_ss hms{tp - dp};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

}  // namespace goldgate::attest
