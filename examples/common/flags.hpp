// SPDX-License-Identifier: MIT
// uvreap example programs: strict parsing of numeric command-line values.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace uvreap::examples {

/// Parses `text` as a whole decimal number in [min, max]. Signs, blanks, junk after the
/// digits and values out of range are all refused (strtoull alone would take "-5" as
/// 2^64 - 5). On failure `why` says which flag takes what.
inline bool parse_uint(const char* flag, const char* text, std::uint64_t min, std::uint64_t max,
                       std::uint64_t& out, std::string& why) {
  const char* p = text;
  bool ok = *p >= '0' && *p <= '9';
  std::uint64_t v = 0;
  if (ok) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(p, &end, 10);
    ok = errno == 0 && *end == '\0' && n >= min && n <= max;
    v = n;
  }
  if (!ok) {
    why = std::string(flag) + " takes a whole number from " + std::to_string(min) + " to " +
          std::to_string(max) + ", not '" + text + "'";
    return false;
  }
  out = v;
  return true;
}

}  // namespace uvreap::examples
