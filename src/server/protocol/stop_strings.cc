#include "server/protocol/stop_strings.h"

#include <algorithm>

namespace gemma::protocol {

size_t IncompleteUtf8Tail(std::string_view text) {
  for (size_t back = 1; back <= std::min<size_t>(3, text.size()); ++back) {
    const auto byte = static_cast<unsigned char>(text[text.size() - back]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    size_t length = 0;
    if ((byte & 0xE0) == 0xC0) {
      length = 2;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4;
    }
    return length > back ? back : 0;
  }
  return 0;
}

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
  for (std::string& stop : stops) {
    if (stop.empty()) continue;
    longest_ = std::max(longest_, stop.size());
    stops_.push_back(std::move(stop));
  }
}

std::string StopStringMatcher::Push(std::string_view piece) {
  if (stopped_) return "";
  // Only text from here on can hold a match not seen before: the held text
  // alone was shorter than any stop string.
  const size_t search_from = held_.size() >= longest_ ? held_.size() - longest_ + 1 : 0;
  held_.append(piece);
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) {
    const size_t at = held_.find(stop, search_from);
    if (at < first) {
      first = at;
      matched_ = stop;
    }
  }
  if (first != std::string::npos) {
    stopped_ = true;
    std::string released = held_.substr(0, first);
    held_.clear();
    return released;
  }
  // Hold the longest end that begins a stop string, and an incomplete
  // character.
  size_t hold = 0;
  for (size_t k = std::min(held_.size(), longest_ > 0 ? longest_ - 1 : 0); k > 0 && hold == 0;
       --k) {
    const std::string_view tail = std::string_view(held_).substr(held_.size() - k);
    for (const std::string& stop : stops_) {
      if (stop.size() > k && std::string_view(stop).starts_with(tail)) {
        hold = k;
        break;
      }
    }
  }
  hold = std::max(hold, IncompleteUtf8Tail(held_));
  std::string released = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return released;
}

std::string StopStringMatcher::Finish() {
  if (stopped_) return "";
  std::string released = std::move(held_);
  held_.clear();
  return released;
}

}  // namespace gemma::protocol
