// Range checks for 64-bit integer options (see integer_options.h).
#include "cli/integer_options.h"

#include <cerrno>
#include <cstdlib>
#include <string>

namespace ds::cli {

namespace {

// Empty when `text` is not an integer at all (CLI11's own conversion then reports it), or when it
// fits; else why it does not. Base 0 as CLI11 parses (0x.., 0..).
std::string out_of_range(const std::string& text, bool is_unsigned) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  char* end = nullptr;
  errno = 0;
  if (is_unsigned) {
    (void)std::strtoull(text.c_str(), &end, 0);
    if (*end != '\0' || end == text.c_str()) return {};
    if (text[first] == '-') return "must not be negative";
  } else {
    (void)std::strtoll(text.c_str(), &end, 0);
    if (*end != '\0' || end == text.c_str()) return {};
  }
  return errno == ERANGE ? "is out of range" : std::string();
}

void add_checks(CLI::App& app) {
  for (CLI::Option* o : app.get_options()) {
    const std::string type = o->get_type_name();
    const bool is_unsigned = type.rfind("UINT", 0) == 0;
    if (!is_unsigned && type.rfind("INT", 0) != 0) continue;
    o->check(CLI::Validator(
        [is_unsigned](std::string& value) {
          const std::string why = out_of_range(value, is_unsigned);
          return why.empty() ? why : "value " + value + " " + why;
        },
        "", ""));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) add_checks(*sub);
}

}  // namespace

void refuse_out_of_range_integers(CLI::App& app) { add_checks(app); }

}  // namespace ds::cli
