// The tag scanner the XML annotation readers share (ASAP, annotations_asap.cpp; Aperio ImageScope,
// annotations_aperio.cpp): start and end tags with their attributes, in document order, and
// nothing else. No tree is built and nothing recurses, so a hostile file can neither exhaust the
// stack nor cost more than a few times its size. Comments, processing instructions and CDATA are
// skipped; a DTD (<!DOCTYPE ...>, <!ENTITY ...>: any other <! declaration) is refused, since
// entity definitions are how a small XML file expands into gigabytes, and no annotation tool
// writes one. Only the five predefined entities are replaced in attribute values.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace ds {

struct XmlTag {
  std::string name;
  bool closing = false, self_closing = false;
  std::vector<std::pair<std::string, std::string>> attrs;
  const std::string* attr(const std::string& k) const;  // nullptr when absent
};

class XmlTagScanner {
 public:
  // `text` and `path` must outlive the scanner; `path` names the file in errors.
  XmlTagScanner(const std::string& text, const std::string& path) : t_(text), path_(path) {}
  // The next tag into `tag`; false at the end. InputError naming the file on malformed tags or a DTD.
  bool next(XmlTag& tag);
  [[noreturn]] void fail(const std::string& why) const;  // InputError "<path>: XML: <why>"

 private:
  bool skip(const char* open, const char* close);
  const std::string& t_;
  const std::string& path_;
  size_t pos_ = 0;
};

// The name of the first element of `text` (the root), "" when there is none.
std::string xml_root_name(const std::string& text, const std::string& path);

// A coordinate value: a finite decimal number, leading spaces and '+' allowed; a decimal comma
// (ASAP files written under some locales) when the text has no '.'.
bool parse_xml_number(std::string s, double& v);

}  // namespace ds
