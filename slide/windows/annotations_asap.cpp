// ASAP XML annotations in (CAMELYON's format):
//   <ASAP_Annotations><Annotations>
//     <Annotation Name="..." Type="Polygon" PartOfGroup="tumor" Color="#F4FA58">
//       <Coordinates><Coordinate Order="0" X="..." Y="..."/>...</Coordinates>
//     </Annotation>
//   </Annotations><AnnotationGroups>...</AnnotationGroups></ASAP_Annotations>
// The class is PartOfGroup ("None" or absent: unclassified); Polygon, Rectangle and Spline (its
// control points) bound areas, dots and point sets do not and are refused. Only start and end
// tags and their attributes matter here: slide/windows/xml_tags.h scans them.
#include <algorithm>

#include "base/error.h"
#include "slide/windows/annotations.h"
#include "slide/windows/xml_tags.h"

namespace ds {

SlideAnnotations parse_asap_annotations(const std::string& text, const std::string& path) {
  SlideAnnotations out;
  out.path = path;
  XmlTagScanner sc(text, path);
  XmlTag tag;
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
      if (!x || !y || !parse_xml_number(*x, q.x) || !parse_xml_number(*y, q.y))
        throw InputError(path, where() + "a Coordinate without numeric X and Y");
      if (o && !parse_xml_number(*o, order)) throw InputError(path, where() + "Order is not a number");
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
