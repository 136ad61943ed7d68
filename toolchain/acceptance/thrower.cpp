// stage1 acceptance: an exception thrown from a (shared) library.
#include <stdexcept>
#include <string>

void throw_from_library(const std::string &what) { throw std::runtime_error(what); }
