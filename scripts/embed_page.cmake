# Writes a C++ source holding a file's text as a raw string literal (the chat
# page, built into the binary): cmake -DIN=page.html -DOUT=page.cc -P embed_page.cmake
file(READ "${IN}" text)
string(FIND "${text}" ")gemma_page\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string's delimiter")
endif()
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by scripts/embed_page.cmake; do not edit.
#include <string_view>
namespace gemma::server {
std::string_view ChatPageHtml() {
  static constexpr std::string_view kHtml = R\"gemma_page(${text})gemma_page\";
  return kHtml;
}
}  // namespace gemma::server
")
file(RENAME "${OUT}.tmp" "${OUT}")
