// The XML tag scanner of the annotation readers (see xml_tags.h).
#include "slide/windows/xml_tags.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/error.h"

namespace ds {

namespace {

std::string unescape(const std::string& s) {
  static const std::pair<const char*, char> kEnt[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool done = false;
    for (const auto& [ent, c] : kEnt) {
      const size_t n = std::char_traits<char>::length(ent);
      if (s.compare(i, n, ent) == 0) {
        out += c;
        i += n;
        done = true;
        break;
      }
    }
    if (!done) out += s[i++];
  }
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

const std::string* XmlTag::attr(const std::string& k) const {
  for (const auto& a : attrs)
    if (a.first == k) return &a.second;
  return nullptr;
}

void XmlTagScanner::fail(const std::string& why) const { throw InputError(path_, "XML: " + why); }

bool XmlTagScanner::skip(const char* open, const char* close) {
  if (t_.compare(pos_, std::char_traits<char>::length(open), open) != 0) return false;
  const size_t e = t_.find(close, pos_);
  if (e == std::string::npos) fail(std::string("unterminated ") + open);
  pos_ = e + std::char_traits<char>::length(close);
  return true;
}

bool XmlTagScanner::next(XmlTag& tag) {
  for (;;) {
    pos_ = t_.find('<', pos_);
    if (pos_ == std::string::npos) return false;
    if (skip("<!--", "-->") || skip("<![CDATA[", "]]>") || skip("<?", "?>")) continue;
    if (t_.compare(pos_, 2, "<!") == 0)
      fail("a DTD (" + t_.substr(pos_, std::min<size_t>(9, t_.size() - pos_)) +
           "...) is refused: its entities can expand a small file without bound, and annotation tools write none");
    break;
  }
  tag = XmlTag();
  size_t i = pos_ + 1;
  if (i < t_.size() && t_[i] == '/') tag.closing = true, ++i;
  while (i < t_.size() && !is_space(t_[i]) && t_[i] != '>' && t_[i] != '/') tag.name += t_[i++];
  for (;;) {
    while (i < t_.size() && is_space(t_[i])) ++i;
    if (i >= t_.size()) fail("unterminated tag <" + tag.name);
    if (t_[i] == '>') break;
    if (t_[i] == '/') {
      tag.self_closing = true;
      ++i;
      continue;
    }
    std::string key;
    while (i < t_.size() && t_[i] != '=' && !is_space(t_[i]) && t_[i] != '>') key += t_[i++];
    while (i < t_.size() && is_space(t_[i])) ++i;
    if (i >= t_.size() || t_[i] != '=') fail("attribute '" + key + "' of <" + tag.name + "> has no value");
    ++i;
    while (i < t_.size() && is_space(t_[i])) ++i;
    if (i >= t_.size() || (t_[i] != '"' && t_[i] != '\'')) fail("attribute '" + key + "' is not quoted");
    const size_t end = t_.find(t_[i], i + 1);
    if (end == std::string::npos) fail("unterminated attribute '" + key + "'");
    tag.attrs.emplace_back(key, unescape(t_.substr(i + 1, end - i - 1)));
    i = end + 1;
  }
  pos_ = i + 1;
  return true;
}

std::string xml_root_name(const std::string& text, const std::string& path) {
  XmlTagScanner sc(text, path);
  XmlTag tag;
  while (sc.next(tag))
    if (!tag.closing) return tag.name;
  return "";
}

bool parse_xml_number(std::string s, double& v) {
  if (s.find('.') == std::string::npos) std::replace(s.begin(), s.end(), ',', '.');
  const char* b = s.data();
  const char* e = b + s.size();
  while (b < e && *b == ' ') ++b;
  if (b < e && *b == '+') ++b;
  const auto r = std::from_chars(b, e, v);
  return r.ec == std::errc() && r.ptr == e && std::isfinite(v);
}

}  // namespace ds
