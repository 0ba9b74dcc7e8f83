// A small XML reader for the metadata vendors put in TIFF descriptions (OME-XML, Philips'
// DataObject tree, Leica's SCN collection, Ventana's XMP): elements, attributes, text, the five
// predefined entities and character references, CDATA; comments, processing instructions and the
// DOCTYPE are skipped. Not validating, no namespaces (prefixes stay part of the name), no
// external entities. Bounded: nesting depth and the number of elements and attributes are
// capped, so a hostile description (itself under the TIFF reader's metadata budget) can neither
// exhaust the stack nor make a tree many times its size.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ds {

struct XmlElement {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;  // in document order
  std::vector<std::unique_ptr<XmlElement>> children;            // elements only
  std::string text;  // the element's own character data (text and CDATA), concatenated

  // The value of attribute `key`, or nullptr.
  const std::string* attribute(const std::string& key) const;
  // The first child element named `name`, or nullptr.
  const XmlElement* child(const std::string& name) const;
  // Every child element named `name`, in order.
  std::vector<const XmlElement*> children_named(const std::string& name) const;
  // The first element named `name` in document order, this one included, or nullptr.
  const XmlElement* find(const std::string& name) const;
};

// The root element of `xml`. Throws std::runtime_error with a short reason ("line 3: unclosed
// element <Array>") when `xml` is not well-formed.
std::unique_ptr<XmlElement> parse_xml(const std::string& xml);

}  // namespace ds
