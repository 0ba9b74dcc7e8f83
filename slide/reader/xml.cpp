// The XML reader (see xml.h): one recursive-descent pass over the text, one element per level of
// recursion, capped at kMaxDepth so a hostile description cannot exhaust the stack.
#include "slide/reader/xml.h"

#include <cstdint>
#include <cstdlib>
#include <stdexcept>

namespace ds {

namespace {

constexpr int kMaxDepth = 256;
// Elements and attributes together. An element costs ~150 bytes in the tree for as little as 4
// in the text ("<a/>"), so the tree is capped on its own: real descriptions hold a few thousand
// (a large Ventana BIF's tile joints some 10^5).
constexpr size_t kMaxNodes = 1u << 21;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_name_char(char c) {
  return !is_space(c) && c != '>' && c != '/' && c != '=' && c != '<' && c != '"' && c != '\'' && c != '\0';
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += (char)cp;
  } else if (cp < 0x800) {
    out += (char)(0xC0 | (cp >> 6));
    out += (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += (char)(0xE0 | (cp >> 12));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  } else {
    out += (char)(0xF0 | (cp >> 18));
    out += (char)(0x80 | ((cp >> 12) & 0x3F));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  std::unique_ptr<XmlElement> document() {
    skip_misc();
    if (!at("<")) fail("no root element");
    auto root = element(0);
    skip_misc();
    if (p_ < s_.size() && !(s_[p_] == '\0' && s_.find_first_not_of('\0', p_) == std::string::npos))
      fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    size_t line = 1;
    for (size_t i = 0; i < p_ && i < s_.size(); ++i) line += s_[i] == '\n';
    throw std::runtime_error("line " + std::to_string(line) + ": " + why);
  }
  bool at(const char* lit) const { return s_.compare(p_, std::char_traits<char>::length(lit), lit) == 0; }
  void skip_spaces() {
    while (p_ < s_.size() && is_space(s_[p_])) ++p_;
  }
  void skip_past(const char* end, const char* what) {
    size_t e = s_.find(end, p_);
    if (e == std::string::npos) fail(std::string("unterminated ") + what);
    p_ = e + std::char_traits<char>::length(end);
  }
  // Comments, processing instructions (the <?xml ?> declaration), the DOCTYPE and white space.
  void skip_misc() {
    for (;;) {
      skip_spaces();
      if (at("<!--")) skip_past("-->", "comment");
      else if (at("<?")) skip_past("?>", "processing instruction");
      else if (at("<!DOCTYPE")) skip_doctype();
      else return;
    }
  }
  void skip_doctype() {
    int bracket = 0;
    for (p_ += 9; p_ < s_.size(); ++p_) {
      if (s_[p_] == '[') ++bracket;
      else if (s_[p_] == ']') --bracket;
      else if (s_[p_] == '>' && bracket <= 0) {
        ++p_;
        return;
      }
    }
    fail("unterminated DOCTYPE");
  }
  std::string name() {
    size_t b = p_;
    while (p_ < s_.size() && is_name_char(s_[p_])) ++p_;
    if (p_ == b) fail("expected a name");
    return s_.substr(b, p_ - b);
  }
  // Character data up to `stop` with entities and character references replaced.
  void decode_until(char stop, std::string& out) {
    while (p_ < s_.size() && s_[p_] != stop) {
      char c = s_[p_];
      if (c == '<' && stop != '<') fail("'<' in an attribute value");
      if (c == '\r' || (stop != '<' && (c == '\n' || c == '\t'))) {
        // Line ends become \n in text and white space becomes a space in attribute values, as
        // every conforming parser (libxml2 in OpenSlide) normalizes them.
        if (c == '\r' && p_ + 1 < s_.size() && s_[p_ + 1] == '\n') ++p_;
        out += stop == '<' ? '\n' : ' ';
        ++p_;
        continue;
      }
      if (c != '&') {
        out += c;
        ++p_;
        continue;
      }
      size_t semi = s_.find(';', p_);
      if (semi == std::string::npos || semi - p_ > 12) fail("bad entity reference");
      std::string ent = s_.substr(p_ + 1, semi - p_ - 1);
      if (ent == "lt") out += '<';
      else if (ent == "gt") out += '>';
      else if (ent == "amp") out += '&';
      else if (ent == "quot") out += '"';
      else if (ent == "apos") out += '\'';
      else if (ent.size() > 1 && ent[0] == '#') {
        bool hex = ent[1] == 'x' || ent[1] == 'X';
        const char* digits = ent.c_str() + (hex ? 2 : 1);
        char* end = nullptr;
        unsigned long cp = std::strtoul(digits, &end, hex ? 16 : 10);
        if (*digits == '\0' || *end != '\0' || cp == 0 || cp > 0x10FFFF) fail("bad character reference &" + ent + ";");
        append_utf8(out, (uint32_t)cp);
      } else {
        fail("unknown entity &" + ent + ";");
      }
      p_ = semi + 1;
    }
  }
  std::unique_ptr<XmlElement> element(int depth) {
    if (depth >= kMaxDepth) fail("elements nested deeper than " + std::to_string(kMaxDepth));
    ++p_;  // '<'
    count_node();
    auto e = std::make_unique<XmlElement>();
    e->name = name();
    for (;;) {
      skip_spaces();
      if (p_ >= s_.size()) fail("unclosed start tag <" + e->name + ">");
      if (at("/>")) {
        p_ += 2;
        return e;
      }
      if (s_[p_] == '>') {
        ++p_;
        break;
      }
      std::string key = name();
      skip_spaces();
      if (!at("=")) fail("attribute " + key + " without a value");
      ++p_;
      skip_spaces();
      if (p_ >= s_.size() || (s_[p_] != '"' && s_[p_] != '\'')) fail("attribute " + key + " not quoted");
      char q = s_[p_++];
      std::string value;
      decode_until(q, value);
      if (p_ >= s_.size()) fail("unterminated attribute " + key);
      ++p_;
      count_node();
      e->attributes.emplace_back(std::move(key), std::move(value));
    }
    for (;;) {
      decode_until('<', e->text);
      if (p_ >= s_.size()) fail("unclosed element <" + e->name + ">");
      if (at("</")) {
        p_ += 2;
        std::string end = name();
        if (end != e->name) fail("</" + end + "> closes <" + e->name + ">");
        skip_spaces();
        if (!at(">")) fail("bad end tag </" + end);
        ++p_;
        return e;
      }
      if (at("<!--")) {
        skip_past("-->", "comment");
      } else if (at("<![CDATA[")) {
        size_t b = p_ + 9;
        skip_past("]]>", "CDATA section");
        e->text.append(s_, b, p_ - 3 - b);
      } else if (at("<?")) {
        skip_past("?>", "processing instruction");
      } else {
        e->children.push_back(element(depth + 1));
      }
    }
  }

  void count_node() {
    if (++nodes_ > kMaxNodes) fail("more than " + std::to_string(kMaxNodes) + " elements and attributes");
  }

  const std::string& s_;
  size_t p_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

const std::string* XmlElement::attribute(const std::string& key) const {
  for (const auto& [k, v] : attributes)
    if (k == key) return &v;
  return nullptr;
}

const XmlElement* XmlElement::child(const std::string& n) const {
  for (const auto& c : children)
    if (c->name == n) return c.get();
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::children_named(const std::string& n) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children)
    if (c->name == n) out.push_back(c.get());
  return out;
}

const XmlElement* XmlElement::find(const std::string& n) const {
  if (name == n) return this;
  for (const auto& c : children)
    if (const XmlElement* f = c->find(n)) return f;
  return nullptr;
}

std::unique_ptr<XmlElement> parse_xml(const std::string& xml) { return Parser(xml).document(); }

}  // namespace ds
