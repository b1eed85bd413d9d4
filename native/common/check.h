// Invariant checks for the native core. A failed check throws nodellm::Error, which the addon
// turns into a JS Error, so a broken invariant never takes the whole process down.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace nodellm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  throw Error(out.str());
}

}  // namespace nodellm

#define NODELLM_CHECK(cond, ...)                                                          \
  do {                                                                                    \
    if (!(cond)) ::nodellm::fail("internal check failed (" #cond ") at " __FILE__ ": ", \
                                 __VA_ARGS__);                                            \
  } while (0)
