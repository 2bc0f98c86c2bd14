// SPDX-License-Identifier: MIT
// uvreap (private): errno values as std::error_code, one way everywhere.
#pragma once

#include <system_error>

namespace uvreap::detail {

inline std::error_code errno_code(int e) noexcept {
  return {e, std::generic_category()};
}

}  // namespace uvreap::detail
