// SPDX-License-Identifier: MIT
// uvreap tests: entry point. The binary is also its own child process in helper modes.
#define BOOST_TEST_MODULE uvreap
#include <boost/test/unit_test.hpp>
#include <cstring>

#include "support.hpp"

int main(int argc, char** argv) {
  // Children re-execute this binary; they must choose their mode before Boost starts.
  if (argc > 1 && std::strcmp(argv[1], "--child") == 0) uvreap::test::child_main(argc, argv);
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
