// SPDX-License-Identifier: MIT
// uvreap-bench-child: the exec'd child of `--spawn exec` runs. Kept tiny so that exec
// costs little: map the harness's memory, wait, stamp, exit.
//
//   uvreap-bench-child PATH ROLE INDEX
#include <cstdlib>

#include "shared_area.hpp"

int main(int argc, char** argv) {
  using namespace uvreap::bench;
  if (argc != 4) return 125;
  std::size_t size = 0;
  void* base = map_existing(argv[1], &size);
  if (base == nullptr) return 126;
  const auto r = static_cast<role>(std::atoi(argv[2]));
  const auto index = static_cast<std::uint32_t>(std::strtoul(argv[3], nullptr, 10));
  auto* h = static_cast<header*>(base);
  auto* slots = reinterpret_cast<slot*>(static_cast<char*>(base) + sizeof(header));
  if (sizeof(header) + sizeof(slot) * (static_cast<std::size_t>(index) + 1) > size) return 127;
  child_body(h, slots, r, index);
}
