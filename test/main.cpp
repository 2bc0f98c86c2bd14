// SPDX-License-Identifier: MIT
// uvreap tests: entry point. The binary is also its own child process in helper modes.
#define BOOST_TEST_MODULE uvreap
#include <sys/resource.h>
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstring>
#include <string>

#include "support.hpp"

int main(int argc, char** argv) {
  // Children re-execute this binary; they must choose their mode before Boost starts.
  if (argc > 1 && std::strcmp(argv[1], "--child") == 0) uvreap::test::child_main(argc, argv);

  // Our own option, taken out before Boost sees the command line.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--policy=", 0) == 0) {
      const std::string p = a.substr(9);
      if (p == "own") {
        uvreap::test::set_test_policy(uvreap::policy::own);
      } else if (p == "all") {
        uvreap::test::set_test_policy(uvreap::policy::all);
      } else if (p == "pidfd") {
        uvreap::test::set_test_policy(uvreap::policy::pidfd);
      } else {
        std::fprintf(stderr, "unknown --policy %s\n", p.c_str());
        return 2;
      }
      continue;
    }
    argv[kept++] = argv[i];
  }
  argc = kept;

  // Storms keep thousands of children alive; under policy pidfd each holds an fd.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
