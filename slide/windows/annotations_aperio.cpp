// Aperio ImageScope XML annotations in (the .xml ImageScope saves beside a slide):
//   <Annotations MicronsPerPixel="...">
//     <Annotation Id="1" Name="tumor" LineColor="65280" ...>      one layer
//       <Attributes>...</Attributes>
//       <Regions><RegionAttributeHeaders>...</RegionAttributeHeaders>
//         <Region Id="1" Type="0" Text="" NegativeROA="0" ...>
//           <Attributes/><Vertices><Vertex X="..." Y="..." Z="0"/>...</Vertices>
//         </Region>
//       </Regions><Plots/>
//     </Annotation>
//   </Annotations>
// Coordinates are level-0 pixels, origin top-left. Region Type (as ImageScope writes it and the
// readers cited in docs/formats.md take it): 0 (or absent) a freehand outline, 1 a rectangle (its
// four corners), 2 an ellipse (two opposite corners of its bounding box; traced here as a
// 128-gon), 3 an arrow, which bounds no area and is refused, as is any other type. The class is
// the layer's Name, else the region's Text, else none. A region with NegativeROA="1" is a hole:
// it is cut out of every positive region of its layer whose outline holds all its vertices; one
// that crosses such an outline is refused (a hole must lie inside), one inside none cuts nothing
// (outside the layer's regions there is nothing to cut), and a positive region inside a negative
// one is kept.
#include <cmath>
#include <cstdint>

#include "base/error.h"
#include "slide/windows/annotations.h"
#include "slide/windows/xml_tags.h"

namespace ds {

namespace {

constexpr int kEllipseVertices = 128;
constexpr double kPi = 3.14159265358979323846;
// Vertex-in-outline tests spent placing holes: a hostile file of many vertex-heavy regions would
// otherwise cost hours (real layers need well under a million).
constexpr int64_t kMaxHoleTests = int64_t{1} << 30;

struct Region {
  std::string where;  // "annotation 0 ('tumor') region 2 (Id 7)"
  std::string cls;
  bool negative = false;
  Ring ring;
};

Ring ellipse_ring(const Ring& corners) {
  const double cx = (corners[0].x + corners[1].x) / 2, cy = (corners[0].y + corners[1].y) / 2;
  const double rx = std::fabs(corners[1].x - corners[0].x) / 2, ry = std::fabs(corners[1].y - corners[0].y) / 2;
  Ring r;
  for (int i = 0; i < kEllipseVertices; ++i) {
    const double t = 2 * kPi * i / kEllipseVertices;
    r.push_back({cx + rx * std::cos(t), cy + ry * std::sin(t)});
  }
  return r;
}

// The region's outline from its vertices and Type.
Ring region_ring(Ring v, const std::string& type, const std::string& path, const std::string& where) {
  if (v.size() >= 2 && v.front().x == v.back().x && v.front().y == v.back().y) v.pop_back();  // closed
  if (type == "2") {
    if (v.size() != 2)
      throw InputError(path, where + ": an ellipse has " + std::to_string(v.size()) +
                                 " vertices (2 expected: opposite corners of its bounding box)");
    if (v[0].x == v[1].x || v[0].y == v[1].y) throw InputError(path, where + ": an ellipse of zero width or height");
    return ellipse_ring(v);
  }
  if (type == "3") throw InputError(path, where + ": an arrow (Type 3) bounds no area");
  if (type != "0" && type != "1")
    throw InputError(path, where + ": region Type '" + type +
                               "' is not a freehand outline (0), rectangle (1) or "
                               "ellipse (2)");
  if (v.size() < 3) throw InputError(path, where + ": fewer than 3 distinct vertices");
  return v;
}

// A layer's regions as annotation items: each positive region with the negative ones inside it
// as holes.
void add_layer(const std::vector<Region>& regions, const std::string& path, SlideAnnotations& out, int64_t& tests) {
  const size_t first = out.items.size();
  std::vector<const Region*> positive;
  for (const Region& r : regions)
    if (!r.negative) {
      out.items.push_back({r.cls, {Polygon{{r.ring}}}, r.where});
      positive.push_back(&r);
    }
  for (const Region& n : regions) {
    if (!n.negative) continue;
    for (size_t i = 0; i < positive.size(); ++i) {
      const Polygon outline{{positive[i]->ring}};
      const Box b = polygon_box(outline);
      size_t inside = 0;
      for (const Point& q : n.ring) {
        const bool in_box = q.x >= b.x0 && q.x <= b.x1 && q.y >= b.y0 && q.y <= b.y1;
        if (in_box) tests += (int64_t)positive[i]->ring.size();
        if (tests > kMaxHoleTests)
          throw InputError(path, n.where + ": placing the negative regions takes more than " +
                                     std::to_string(kMaxHoleTests) + " vertex tests (too many vertices)");
        inside += in_box && point_in_polygon(outline, q);
      }
      if (inside == n.ring.size()) out.items[first + i].polygons[0].rings.push_back(n.ring);
      else if (inside > 0)
        throw InputError(path, n.where + ": a negative region (a hole) crosses the outline of " + positive[i]->where +
                                   "; draw it inside");
    }
  }
}

}  // namespace

SlideAnnotations parse_aperio_annotations(const std::string& text, const std::string& path) {
  SlideAnnotations out;
  out.path = path;
  XmlTagScanner sc(text, path);
  XmlTag tag;
  bool in_layer = false, in_region = false;
  size_t layer = 0, region = 0;
  std::string layer_name, type, region_id;
  std::vector<Region> regions;  // of the layer being read
  Ring vertices;
  int64_t tests = 0;
  if (xml_root_name(text, path) != "Annotations")
    throw InputError(path, "not an Aperio ImageScope annotation file (the root element is not <Annotations>)");
  while (sc.next(tag)) {
    if (tag.name == "Annotation" && !tag.closing) {
      if (in_layer) sc.fail("<Annotation> inside another");
      in_layer = !tag.self_closing;
      regions.clear();
      region = 0;
      layer_name = tag.attr("Name") ? *tag.attr("Name") : "";
    } else if (tag.name == "Annotation") {
      if (!in_layer) sc.fail("</Annotation> without <Annotation>");
      if (in_region) sc.fail("unterminated <Region> in annotation " + std::to_string(layer));
      add_layer(regions, path, out, tests);
      in_layer = false;
      ++layer;
    } else if (tag.name == "Region" && !tag.closing) {
      if (!in_layer) sc.fail("<Region> outside an <Annotation>");
      if (in_region) sc.fail("<Region> inside another");
      Region r;
      region_id = tag.attr("Id") ? *tag.attr("Id") : "?";
      r.where = "annotation " + std::to_string(layer) + " ('" + layer_name + "') region " + std::to_string(region) +
                " (Id " + region_id + ")";
      const std::string* text_attr = tag.attr("Text");
      r.cls = !layer_name.empty() ? layer_name : text_attr ? *text_attr : "";
      const std::string* neg = tag.attr("NegativeROA");
      r.negative = neg && *neg != "0";
      type = tag.attr("Type") ? *tag.attr("Type") : "0";
      regions.push_back(r);
      vertices.clear();
      in_region = !tag.self_closing;
      if (tag.self_closing) throw InputError(path, r.where + ": no vertices");
    } else if (tag.name == "Region") {
      if (!in_region) sc.fail("</Region> without <Region>");
      Region& r = regions.back();
      r.ring = region_ring(vertices, type, path, r.where);
      in_region = false;
      ++region;
    } else if (tag.name == "Vertex" && !tag.closing) {
      if (!in_region) sc.fail("<Vertex> outside a <Region>");
      Point q;
      const std::string* x = tag.attr("X");
      const std::string* y = tag.attr("Y");
      if (!x || !y || !parse_xml_number(*x, q.x) || !parse_xml_number(*y, q.y))
        throw InputError(path, regions.back().where + ": a Vertex without numeric X and Y");
      vertices.push_back(q);
    }
  }
  if (in_layer) sc.fail("unterminated <Annotation> " + std::to_string(layer));
  return out;
}

}  // namespace ds
