// Validators of candidate matches and masking of matched values (see validators.h for the rules).
#include "goldgate/datapolicy/validators.h"
#include "goldgate/common/enum_table.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace goldgate::datapolicy {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool isAlpha(char c) { return isUpper(c) || (c >= 'a' && c <= 'z'); }
bool isAlnum(char c) { return isDigit(c) || isAlpha(c); }
bool isSeparator(char c) { return c == ' ' || c == '-'; }

// The digits of a candidate written as digit groups, and the sizes of those groups.
struct Groups {
  static constexpr size_t kMaxDigits = 19;  // the longest number any validator takes
  std::array<char, kMaxDigits> digits{};
  std::array<uint8_t, kMaxDigits> sizes{};
  size_t length = 0;  // digits used
  size_t count = 0;   // groups used

  std::string_view view() const { return {digits.data(), length}; }
  int digit(size_t i) const { return digits[i] - '0'; }
  // The number formed by digits [from, from + n).
  int number(size_t from, size_t n) const {
    int v = 0;
    for (size_t i = from; i < from + n; ++i) v = v * 10 + digit(i);
    return v;
  }
  bool shaped(std::initializer_list<uint8_t> want) const {
    if (want.size() != count) return false;
    size_t i = 0;
    for (uint8_t w : want)
      if (sizes[i++] != w) return false;
    return true;
  }
};

// Splits `s` into digit groups separated by single separators, all of the same kind (space or dash),
// with none leading or trailing. False for anything else, or more than kMaxDigits digits.
bool splitGroups(std::string_view s, Groups& g) {
  if (s.empty()) return false;
  char sep = 0;
  size_t run = 0;  // digits in the current group
  for (char c : s) {
    if (isDigit(c)) {
      if (g.length == Groups::kMaxDigits) return false;
      g.digits[g.length++] = c;
      ++run;
    } else if (isSeparator(c)) {
      if (run == 0) return false;  // leading or doubled separator
      if (sep != 0 && c != sep) return false;
      sep = c;
      g.sizes[g.count++] = static_cast<uint8_t>(run);
      run = 0;
    } else {
      return false;
    }
  }
  if (run == 0) return false;  // trailing separator
  g.sizes[g.count++] = static_cast<uint8_t>(run);
  return true;
}

// ---- payment cards ----

bool luhnChecksum(std::string_view digits) {
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

constexpr uint32_t lengths(int lo, int hi) {
  uint32_t m = 0;
  for (int l = lo; l <= hi; ++l) m |= 1u << l;
  return m;
}

// Issuer identification number ranges: numbers whose first `digits` digits lie in [lo, hi] and
// whose length is in the `lengths` bit set.
struct IssuerRange {
  int lo, hi;
  int digits;
  uint32_t lengths;
};

constexpr IssuerRange kIssuers[] = {
    {4, 4, 1, (1u << 13) | (1u << 16) | (1u << 19)},  // Visa
    {51, 55, 2, lengths(16, 16)},                     // Mastercard
    {2221, 2720, 4, lengths(16, 16)},                 // Mastercard 2-series
    {34, 34, 2, lengths(15, 15)},                     // American Express
    {37, 37, 2, lengths(15, 15)},                     // American Express
    {6011, 6011, 4, lengths(16, 19)},                 // Discover
    {644, 649, 3, lengths(16, 19)},                   // Discover
    {65, 65, 2, lengths(16, 19)},                     // Discover
    {3528, 3589, 4, lengths(16, 19)},                 // JCB
    {300, 305, 3, lengths(14, 19)},                   // Diners Club
    {36, 36, 2, lengths(14, 19)},                     // Diners Club
    {38, 39, 2, lengths(14, 19)},                     // Diners Club
    {62, 62, 2, lengths(16, 19)},                     // UnionPay
    {50, 50, 2, lengths(12, 19)},                     // Maestro
    {56, 58, 2, lengths(12, 19)},                     // Maestro
    {6304, 6304, 4, lengths(12, 19)},                 // Maestro
    {6759, 6759, 4, lengths(12, 19)},                 // Maestro
    {676770, 676770, 6, lengths(12, 19)},             // Maestro
    {676774, 676774, 6, lengths(12, 19)},             // Maestro
};

bool knownIssuer(const Groups& g) {
  for (const IssuerRange& r : kIssuers) {
    if ((r.lengths & (1u << g.length)) == 0) continue;
    int prefix = g.number(0, static_cast<size_t>(r.digits));
    if (prefix >= r.lo && prefix <= r.hi) return true;
  }
  return false;
}

bool validCard(std::string_view s) {
  Groups g;
  if (!splitGroups(s, g)) return false;
  if (g.length < 12 || g.length > 19) return false;
  return luhnChecksum(g.view()) && knownIssuer(g);
}

// ---- IBAN ----

struct IbanLength {
  char country[3];
  uint8_t length;
};

// Total IBAN length per country, from the SWIFT IBAN registry (release 101).
constexpr IbanLength kIbanLengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28},
    {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28},
    {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22},
    {"MK", 19}, {"MN", 20}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23},
    {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
    {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28},
    {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

constexpr size_t kMaxIban = 34;  // ISO 13616: at most 34 characters

// Length of a country's IBANs, 0 for a country without IBANs.
size_t ibanLength(char a, char b) {
  for (const IbanLength& e : kIbanLengths)
    if (e.country[0] == a && e.country[1] == b) return e.length;
  return 0;
}

bool validIban(std::string_view s) {
  std::array<char, kMaxIban> iban{};
  size_t n = 0;
  size_t run = 0;  // characters in the current space-separated group
  bool spaced = false;
  for (char c : s) {
    if (c == ' ') {
      if (run != 4) return false;  // spaces only after a full group of four
      spaced = true;
      run = 0;
      continue;
    }
    if (n == kMaxIban) return false;
    iban[n++] = c;
    ++run;
  }
  if (run == 0 || (spaced && run > 4)) return false;  // trailing space, or a long last group

  if (n < 5 || !isUpper(iban[0]) || !isUpper(iban[1]) || !isDigit(iban[2]) || !isDigit(iban[3])) return false;
  if (ibanLength(iban[0], iban[1]) != n) return false;
  for (size_t i = 4; i < n; ++i)
    if (!isUpper(iban[i]) && !isDigit(iban[i])) return false;

  // ISO 7064 mod 97-10 over the BBAN followed by the country code and check digits, letters as
  // 10..35, one digit or letter at a time: the remainder always stays below 97.
  unsigned r = 0;
  for (size_t k = 0; k < n; ++k) {
    char c = iban[(k + 4) % n];
    if (isDigit(c)) r = (r * 10 + static_cast<unsigned>(c - '0')) % 97;
    else r = (r * 100 + static_cast<unsigned>(c - 'A' + 10)) % 97;
  }
  return r == 1;
}

// ---- national identifiers and routing numbers ----

bool validUsSsn(std::string_view s) {
  Groups g;
  if (!splitGroups(s, g) || !(g.shaped({9}) || g.shaped({3, 2, 4}))) return false;
  int area = g.number(0, 3), group = g.number(3, 2), serial = g.number(5, 4);
  if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return false;
  // Published as examples (the Woolworth wallet card, a 1940s advertisement) or commonly made up.
  std::string_view d = g.view();
  return d != "078051120" && d != "219099999" && d != "123456789";
}

// Verhoeff's dihedral group D5: multiplication table, position permutation and inverses.
constexpr uint8_t kVerhoeffD[10][10] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
    {3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
    {6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
    {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
};
constexpr uint8_t kVerhoeffP[8][10] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
    {8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
    {2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
};

bool verhoeffChecksum(std::string_view digits) {
  uint8_t c = 0;
  size_t pos = 0;  // position from the right, the check digit being 0
  for (size_t i = digits.size(); i-- > 0; ++pos) c = kVerhoeffD[c][kVerhoeffP[pos % 8][digits[i] - '0']];
  return c == 0;
}

bool validVerhoeff(std::string_view s) {
  Groups g;
  if (!splitGroups(s, g) || !(g.shaped({12}) || g.shaped({4, 4, 4}))) return false;
  return g.digits[0] >= '2' && verhoeffChecksum(g.view());
}

bool validAba(std::string_view s) {
  if (s.size() != 9) return false;
  for (char c : s)
    if (!isDigit(c)) return false;
  int d[9];
  for (size_t i = 0; i < 9; ++i) d[i] = s[i] - '0';
  // Federal Reserve routing symbol: 00 (US government), 01-12 (Federal Reserve districts),
  // 21-32 (thrifts), 61-72 (electronic), 80 (traveller's cheques).
  int prefix = d[0] * 10 + d[1];
  if (!(prefix <= 12 || (prefix >= 21 && prefix <= 32) || (prefix >= 61 && prefix <= 72) || prefix == 80)) return false;
  if (s == "000000000") return false;
  int sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
  return sum % 10 == 0;
}

bool validNhs(std::string_view s) {
  Groups g;
  if (!splitGroups(s, g) || !(g.shaped({10}) || g.shaped({3, 3, 4}))) return false;
  int sum = 0;
  for (size_t i = 0; i < 9; ++i) sum += g.digit(i) * static_cast<int>(10 - i);
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  return check != 10 && check == g.digit(9);
}

bool validEntropy(std::string_view s, double floor) {
  bool digit = false, alpha = false;
  for (char c : s) {
    digit = digit || isDigit(c);
    alpha = alpha || isAlpha(c);
  }
  return digit && alpha && shannonEntropy(s) >= floor;
}

bool accept(std::string_view, double) { return true; }
bool checkCard(std::string_view s, double) { return validCard(s); }
bool checkIban(std::string_view s, double) { return validIban(s); }
bool checkUsSsn(std::string_view s, double) { return validUsSsn(s); }
bool checkVerhoeff(std::string_view s, double) { return validVerhoeff(s); }
bool checkAba(std::string_view s, double) { return validAba(s); }
bool checkNhs(std::string_view s, double) { return validNhs(s); }

// Masks for alerts: never more than four characters in clear.
// A card number: the last four digits stay, and the separators; everything else, digit or not, is masked.
std::string maskCard(std::string_view value) {
  std::string out(value.size(), '*');
  size_t digits = 0;
  for (char c : value) digits += isDigit(c);
  size_t seen = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (isSeparator(c)) out[i] = c;
    else if (isDigit(c) && seen++ + 4 >= digits) out[i] = c;
  }
  return out;
}

// An IBAN: the country code (two leading letters) stays, and the spaces, and the last four letters
// or digits after it; everything else is masked.
std::string maskIban(std::string_view value) {
  std::string out(value.size(), '*');
  size_t start = value.size() >= 2 && isAlpha(value[0]) && isAlpha(value[1]) ? 2 : 0;
  for (size_t i = 0; i < start; ++i) out[i] = value[i];
  size_t alnum = 0;
  for (size_t i = start; i < value.size(); ++i) alnum += isAlnum(value[i]);
  size_t seen = 0;
  for (size_t i = start; i < value.size(); ++i) {
    char c = value[i];
    if (c == ' ') out[i] = c;
    else if (isAlnum(c) && seen++ + 4 >= alnum) out[i] = c;
  }
  return out;
}

// Anything else: the last four characters of a value of 12 or more, nothing of a shorter one.
std::string maskTail(std::string_view value) {
  std::string out(value.size(), '*');
  if (value.size() >= 12)
    for (size_t i = value.size() - 4; i < value.size(); ++i) out[i] = value[i];
  return out;
}

// In the order of the Validator enum (checked below).
constexpr ValidatorInfo kValidators[] = {
    {Validator::kNone, "none", ValueShape::kAny, 0, accept, maskTail},
    {Validator::kLuhn, "luhn", ValueShape::kDigits, 12, checkCard, maskCard},
    {Validator::kIban, "iban", ValueShape::kIban, 0, checkIban, maskIban},
    {Validator::kUsSsn, "us-ssn", ValueShape::kDigits, 9, checkUsSsn, maskTail},
    {Validator::kVerhoeff, "verhoeff", ValueShape::kDigits, 12, checkVerhoeff, maskTail},
    {Validator::kAba, "aba", ValueShape::kDigits, 9, checkAba, maskTail},
    {Validator::kNhs, "nhs", ValueShape::kDigits, 10, checkNhs, maskTail},
    {Validator::kEntropy, "entropy", ValueShape::kToken, 0, validEntropy, maskTail},
};
static_assert(rowsInEnumOrder(kValidators, &ValidatorInfo::id) &&
                  std::size(kValidators) == static_cast<size_t>(Validator::kCount),
              "kValidators: one row per Validator, in enum order");

}  // namespace

const ValidatorInfo& validatorInfo(Validator v) { return kValidators[static_cast<size_t>(v)]; }

Result<Validator> parseValidator(std::string_view name) {
  std::string known;
  for (const auto& v : kValidators) {
    if (name == v.name) return v.id;
    known += std::string(known.empty() ? "" : ", ") + v.name;
  }
  return makeError(Error::Code::kInvalidArgument, "unknown validator '" + std::string(name) + "' (" + known + ")");
}

const char* validatorName(Validator v) { return validatorInfo(v).name; }

size_t minDigits(Validator v) { return validatorInfo(v).min_digits; }

bool validate(Validator v, std::string_view candidate, double entropyFloor) {
  return validatorInfo(v).check(candidate, entropyFloor);
}

double shannonEntropy(std::string_view s) {
  if (s.empty()) return 0;
  std::array<uint32_t, 256> counts{};
  for (char c : s) ++counts[static_cast<unsigned char>(c)];
  // H = log2(n) - (1/n) * sum(k * log2(k)): one logarithm per count, from a table up to 256.
  static const std::array<double, 257> kLog = [] {
    std::array<double, 257> t{};
    for (size_t k = 1; k < t.size(); ++k) t[k] = static_cast<double>(k) * std::log2(static_cast<double>(k));
    return t;
  }();
  double n = static_cast<double>(s.size());
  double sum = 0;
  // Each distinct byte once, in the order of first appearance (not all 256 counters).
  for (char c : s) {
    uint32_t& k = counts[static_cast<unsigned char>(c)];
    if (!k) continue;
    sum += k < kLog.size() ? kLog[k] : static_cast<double>(k) * std::log2(static_cast<double>(k));
    k = 0;
  }
  return std::max(0.0, std::log2(n) - sum / n);
}

std::string mask(Validator v, std::string_view value) { return validatorInfo(v).mask(value); }

}  // namespace goldgate::datapolicy
