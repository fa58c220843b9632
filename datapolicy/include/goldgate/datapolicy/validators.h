// Checksum and structure validators that the data classifier runs on candidate matches (card
// numbers, IBANs, national IDs, routing numbers, secrets), and the masking of matched values for
// alerts. Pure functions, no allocation on the validation path; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "goldgate/common/result.h"

namespace goldgate::datapolicy {

enum class Validator {
  kNone,      // no check: every candidate is accepted
  kLuhn,      // payment card number: Luhn checksum and issuer prefix/length
  kIban,      // ISO 13616 IBAN: per-country length and mod-97 check digits
  kUsSsn,     // US Social Security Number: structure and never-issued ranges
  kVerhoeff,  // Verhoeff check digit on 12 digits (India's Aadhaar)
  kAba,       // ABA routing transit number: Federal Reserve prefix and 3-7-1 checksum
  kNhs,       // UK NHS number: mod-11 check digit
  kEntropy,   // random-looking token: Shannon entropy floor, digits and letters mixed
  kCount      // (not a validator: the number of them)
};

/// What a validator's values look like in traffic: which bytes they consist of (how far a match is
/// read back and whether the run goes on), and how a value is normalised for ignore lists and exact
/// match.
enum class ValueShape : uint8_t {
  kAny,     // no shape of its own (kNone): the class's pattern decides
  kDigits,  // digits with single space or dash separators; normalised to the digits
  kIban,    // letters and digits with spaces; normalised to upper case without separators
  kToken,   // a run of letters, digits, '_' and '-'
};

/// One row per validator: adding one is an enum value, a row here, and its check function (and a
/// mask, unless the last four characters of a long value are the right thing to show).
struct ValidatorInfo {
  Validator id;
  const char* name;
  ValueShape shape;
  size_t min_digits;  // the fewest digits a value has (0: not numeric)
  bool (*check)(std::string_view candidate, double entropyFloor);
  std::string (*mask)(std::string_view value);  // for alerts: never more than four characters in clear
};

/// The row of `v` (every Validator has one).
const ValidatorInfo& validatorInfo(Validator v);

/// "none", "luhn", "iban", "us-ssn", "verhoeff", "aba", "nhs", "entropy". Errors: unknown name, listing the known ones.
Result<Validator> parseValidator(std::string_view name);
const char* validatorName(Validator v);

/// Whether `candidate` (the bytes as matched in traffic: digits possibly with spaces or dashes as
/// separators; for IBAN letters+digits possibly with spaces) is a valid value. `entropyFloor` is
/// used only by kEntropy (bits per character, Shannon). kNone always returns true.
///
/// Separators, where allowed, are used consistently: one kind (space or dash) throughout, one at a
/// time, never leading or trailing. Card numbers take any grouping; US SSNs group 3-2-4, Verhoeff
/// numbers 4-4-4, NHS numbers 3-3-4; IBANs take spaces only between groups of four (the last group
/// shorter); ABA routing numbers take no separators.
bool validate(Validator v, std::string_view candidate, double entropyFloor = 0);

/// The fewest digits a value `v` accepts (0: not a numeric validator): a candidate with fewer
/// digits in all is refused without being tried.
size_t minDigits(Validator v);

/// Shannon entropy of the bytes, bits per character (0 for empty input).
double shannonEntropy(std::string_view s);

/// Masks a value for alerts: keeps only what is safe to show. Card numbers (luhn): every digit
/// but the last four becomes '*', separators kept as is; IBAN: country code and last four kept;
/// other validators: the last four characters kept when the value is at least 12 long, else all masked;
/// the result never contains more than 4 clear alphanumeric characters from the value (plus the IBAN country code).
/// Every masked byte becomes one '*', so the result is as long as the value.
std::string mask(Validator v, std::string_view value);

}  // namespace goldgate::datapolicy
