// ASAP XML annotations in (CAMELYON's format):
//   <ASAP_Annotations><Annotations>
//     <Annotation Name="..." Type="Polygon" PartOfGroup="tumor" Color="#F4FA58">
//       <Coordinates><Coordinate Order="0" X="..." Y="..."/>...</Coordinates>
//     </Annotation>
//   </Annotations><AnnotationGroups>...</AnnotationGroups></ASAP_Annotations>
// The class is PartOfGroup ("None" or absent: unclassified); Polygon, Rectangle and Spline (its
// control points) bound areas, dots and point sets do not and are refused. Only start and end
// tags and their attributes matter here, so a small tag scanner does (no nesting is kept and
// nothing recurses, so a hostile file cannot exhaust the stack).
#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/error.h"
#include "slide/windows/annotations.h"

namespace ds {

namespace {

struct Tag {
  std::string name;
  bool closing = false, self_closing = false;
  std::vector<std::pair<std::string, std::string>> attrs;
  const std::string* attr(const std::string& k) const {
    for (const auto& a : attrs)
      if (a.first == k) return &a.second;
    return nullptr;
  }
};

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

// Yields the tags of `text` in order; comments, declarations and CDATA are skipped.
class TagScanner {
 public:
  TagScanner(const std::string& text, const std::string& path) : t_(text), path_(path) {}
  bool next(Tag& tag) {
    for (;;) {
      pos_ = t_.find('<', pos_);
      if (pos_ == std::string::npos) return false;
      if (skip("<!--", "-->") || skip("<![CDATA[", "]]>") || skip("<?", "?>") || skip("<!", ">")) continue;
      break;
    }
    tag = Tag();
    size_t i = pos_ + 1;
    if (i < t_.size() && t_[i] == '/') tag.closing = true, ++i;
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
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
  [[noreturn]] void fail(const std::string& why) const { throw InputError(path_, "XML: " + why); }

 private:
  bool skip(const char* open, const char* close) {
    if (t_.compare(pos_, std::char_traits<char>::length(open), open) != 0) return false;
    const size_t e = t_.find(close, pos_);
    if (e == std::string::npos) fail(std::string("unterminated ") + open);
    pos_ = e + std::char_traits<char>::length(close);
    return true;
  }
  const std::string& t_;
  const std::string& path_;
  size_t pos_ = 0;
};

// A coordinate value; ASAP files written under some locales use a decimal comma.
bool parse_number(std::string s, double& v) {
  if (s.find('.') == std::string::npos) std::replace(s.begin(), s.end(), ',', '.');
  const char* b = s.data();
  const char* e = b + s.size();
  while (b < e && *b == ' ') ++b;
  if (b < e && *b == '+') ++b;
  const auto r = std::from_chars(b, e, v);
  return r.ec == std::errc() && r.ptr == e && std::isfinite(v);
}

}  // namespace

SlideAnnotations parse_asap_annotations(const std::string& text, const std::string& path) {
  SlideAnnotations out;
  out.path = path;
  TagScanner sc(text, path);
  Tag tag;
  bool in_annotation = false, seen_root = false;
  std::string name, type;
  size_t idx = 0;                                // of the annotation being read
  std::vector<std::pair<double, Point>> coords;  // (Order, point)
  auto where = [&] { return "feature " + std::to_string(idx) + " ('" + name + "'): "; };
  while (sc.next(tag)) {
    if (tag.name == "ASAP_Annotations") seen_root = true;
    if (tag.name == "Annotation" && !tag.closing) {
      if (in_annotation) sc.fail(where() + "<Annotation> inside another");
      in_annotation = true;
      idx = out.items.size();
      name = tag.attr("Name") ? *tag.attr("Name") : "";
      type = tag.attr("Type") ? *tag.attr("Type") : "Polygon";
      const std::string* group = tag.attr("PartOfGroup");
      Annotation a;
      a.cls = group && *group != "None" ? *group : "";
      out.items.push_back(a);
      coords.clear();
      if (tag.self_closing) sc.fail(where() + "no coordinates");
    } else if (tag.name == "Coordinate" && !tag.closing) {
      if (!in_annotation) sc.fail("<Coordinate> outside an <Annotation>");
      Point q;
      double order = (double)coords.size();
      const std::string* x = tag.attr("X");
      const std::string* y = tag.attr("Y");
      const std::string* o = tag.attr("Order");
      if (!x || !y || !parse_number(*x, q.x) || !parse_number(*y, q.y))
        throw InputError(path, where() + "a Coordinate without numeric X and Y");
      if (o && !parse_number(*o, order)) throw InputError(path, where() + "Order is not a number");
      coords.emplace_back(order, q);
    } else if (tag.name == "Annotation" && tag.closing) {
      if (!in_annotation) sc.fail("</Annotation> without <Annotation>");
      in_annotation = false;
      Annotation& a = out.items.back();
      if (type != "Polygon" && type != "Rectangle" && type != "Spline")
        throw InputError(path, where() + "type '" + type + "' bounds no area (Polygon, Rectangle or Spline expected)");
      std::stable_sort(coords.begin(), coords.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
      Ring r;
      for (const auto& c : coords) r.push_back(c.second);
      if (r.size() >= 2 && r.front().x == r.back().x && r.front().y == r.back().y) r.pop_back();
      if (r.size() < 3) throw InputError(path, where() + "fewer than 3 coordinates");
      a.polygons.push_back(Polygon{{r}});
    }
  }
  if (!seen_root) throw InputError(path, "not an ASAP annotation file (no <ASAP_Annotations> element)");
  if (in_annotation) sc.fail(where() + "unterminated <Annotation>");
  return out;
}

}  // namespace ds
