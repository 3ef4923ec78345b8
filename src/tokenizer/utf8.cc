#include "tokenizer/utf8.h"

#include <cstdint>

namespace gemma::utf8 {
namespace {

struct Scan {
  size_t length;   // bytes of the complete sequence, or of the valid prefix
  bool complete;   // a whole well-formed code point
  bool truncated;  // a valid prefix cut off by the end of the input
};

// Well-formed sequences per Unicode Table 3-7: the allowed range of the second
// byte depends on the lead byte (this excludes overlongs, surrogates and code
// points above U+10FFFF); later bytes are always 80..BF.
Scan ScanAt(std::string_view s, size_t pos) {
  const uint8_t lead = static_cast<uint8_t>(s[pos]);
  if (lead < 0x80) return {1, true, false};
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return {1, false, false};
  }
  for (size_t k = 1; k < need; ++k) {
    if (pos + k >= s.size()) return {k, false, true};
    const uint8_t b = static_cast<uint8_t>(s[pos + k]);
    const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return {k, false, false};
  }
  return {need, true, false};
}

}  // namespace

size_t CharLength(std::string_view s, size_t pos) {
  const Scan scan = ScanAt(s, pos);
  return scan.complete ? scan.length : 1;
}

size_t AppendValid(std::string_view s, bool final, std::string* out) {
  size_t pos = 0;
  while (pos < s.size()) {
    const Scan scan = ScanAt(s, pos);
    if (scan.complete) {
      out->append(s.data() + pos, scan.length);
    } else if (scan.truncated && !final) {
      break;  // may still complete with the next token's bytes
    } else {
      out->append("\xEF\xBF\xBD");
    }
    pos += scan.length;
  }
  return pos;
}

}  // namespace gemma::utf8
