// Geometry and window selection by annotation on shapes whose answers are known by hand (the
// random shapes against shapely are in tests/test_annotations.py): a square with a square hole,
// a concave L, overlapping polygons of one class (the sampled union), restrict_windows for
// prediction, the GeoJSON parser's accepted forms, the Aperio ImageScope reader on its committed
// fixture (classes, holes, the ellipse against pi a b), XML refusals, and contours of known
// window sets.
#include <catch2/catch.hpp>

#include <cmath>

#include "base/error.h"
#include "infer/class_contours.h"
#include "slide/windows/annotated_windows.h"
#include "slide/windows/annotations.h"
#include "slide/windows/geometry.h"

using namespace ds;

static Polygon rect(double x0, double y0, double x1, double y1) {
  return Polygon{{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}}};
}

TEST_CASE("square_overlap: holes, concave rings, orientation") {
  Polygon p = rect(0, 0, 100, 100);
  p.rings.push_back({{40, 40}, {40, 60}, {60, 60}, {60, 40}});  // hole, other orientation
  CHECK(polygon_area(p) == Approx(10000 - 400));
  CHECK(square_overlap(p, 0, 0, 100) == Approx(9600));
  CHECK(square_overlap(p, 50, 50, 20) == Approx(400 - 100));
  CHECK(square_overlap(p, 90, 90, 20) == Approx(100));
  CHECK(square_overlap(p, 200, 200, 10) == 0);
  CHECK_FALSE(point_in_polygon(p, {50, 50}));
  CHECK(point_in_polygon(p, {10, 50}));
  // An L: the square [0,100]^2 without [50,100]x[0,50], clockwise.
  Polygon l{{{{0, 0}, {0, 100}, {100, 100}, {100, 50}, {50, 50}, {50, 0}}}};
  CHECK(square_overlap(l, 25, 25, 50) == Approx(2500 - 625));
  CHECK(square_overlap(l, 60, 10, 30) == 0);
}

TEST_CASE("covered_fraction: exact for apart polygons, sampled for overlapping ones") {
  Polygon a = rect(0, 0, 50, 100), b = rect(50, 0, 100, 100);  // touching boxes: sampled
  CHECK(covered_fraction({&a, &b}, 0, 0, 100) == Approx(1.0).margin(0.03));
  Polygon c = rect(0, 0, 80, 80), d = rect(20, 20, 100, 100);  // overlapping: the union counts once
  CHECK(covered_fraction({&c, &d}, 0, 0, 100) == Approx((6400 + 6400 - 3600) / 10000.0).margin(0.03));
  Polygon e = rect(0, 0, 30, 100), f = rect(60, 0, 100, 100);  // apart: exact
  CHECK(covered_fraction({&e, &f}, 0, 0, 100) == Approx(0.7));
}

TEST_CASE("label_windows and restrict_windows") {
  SlideAnnotations a;
  a.path = "x.geojson";
  a.items.push_back({"tumor", {rect(0, 0, 100, 100)}, ""});
  a.items.push_back({"", {rect(100, 0, 200, 100)}, ""});
  std::vector<Window> w = {{0, 0}, {50, 0}, {100, 0}, {150, 0}, {300, 0}, {75, 0}};
  auto l = label_windows(w, 100, a, 0.5, "normal");
  REQUIRE(l.size() == 5);  // all but the window at 300
  CHECK(l[0].cls == "tumor");
  CHECK(l[1].cls == "normal");  // half each: the first class by name
  CHECK(l[2].cls == "normal");  // unclassified: the slide's class
  CHECK(l[3].cover == Approx(0.5));
  CHECK(l[4].window.x == 75);
  CHECK(l[4].cls == "normal");
  CHECK(l[4].cover == Approx(0.75));
  auto r = restrict_windows(w, 100, a, 0.9);
  CHECK(r.size() == 4);  // not 150 (half outside) nor 300
  CHECK_THROWS_AS(label_windows(w, 100, a, 0.0, "n"), InputError);
}

TEST_CASE("GeoJSON forms: collection, feature, bare array, MultiPolygon, derived class names") {
  const std::string poly = R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,0]]]})";
  auto one = parse_geojson_annotations(R"({"type":"Feature","geometry":)" + poly + "}", "f");
  REQUIRE(one.items.size() == 1);
  CHECK(one.items[0].cls.empty());
  CHECK(one.items[0].polygons[0].rings[0].size() == 3);  // closing vertex dropped
  auto arr = parse_geojson_annotations(
      R"([{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1]]],[[[5,5],[6,5],[6,6]]]]},
          "properties":{"classification":{"names":["Tumor","Positive"]}}}])",
      "f");
  REQUIRE(arr.items.size() == 1);
  CHECK(arr.items[0].polygons.size() == 2);
  CHECK(arr.items[0].cls == "Tumor: Positive");
  CHECK_THROWS_WITH(
      parse_geojson_annotations(
          R"({"type":"FeatureCollection","features":[{"geometry":{"type":"Point","coordinates":[1,1]}}]})",
          "f.geojson"),
      Catch::Contains("f.geojson: feature 0"));
}

TEST_CASE("Aperio ImageScope XML: layers, region types, negative regions") {
  // tests/fixtures/annotations/make_aperio.py says what the fixture holds.
  const SlideAnnotations a = read_annotations(std::string(DS_FIXTURES) + "/annotations/aperio_imagescope.xml");
  REQUIRE(a.items.size() == 4);  // the two negative regions are holes, not items
  CHECK(a.items[0].cls == "tumor");
  REQUIRE(a.items[0].polygons.size() == 1);
  CHECK(a.items[0].polygons[0].rings.size() == 2);      // the star and the pentagon inside it
  CHECK(a.items[0].polygons[0].rings[0].size() == 24);  // the repeated closing vertex dropped
  CHECK(a.items[1].cls == "tumor");
  CHECK(a.items[1].polygons[0].rings.size() == 1);  // the stray negative region cuts nothing
  CHECK(polygon_area(a.items[1].polygons[0]) == Approx(80 * 80));
  CHECK(a.items[2].cls == "stroma");  // no layer Name: the region's Text
  const Polygon& ellipse = a.items[2].polygons[0];
  CHECK(ellipse.rings[0].size() == 128);
  const double pi_ab = std::acos(-1.0) * 80 * 60;  // corners (420, 250), (580, 370)
  CHECK(polygon_area(ellipse) < pi_ab);
  CHECK(polygon_area(ellipse) > pi_ab * (1 - 5e-4));  // an inscribed 128-gon: 4.0e-4 short
  CHECK(point_in_polygon(ellipse, {500, 310}));
  CHECK_FALSE(point_in_polygon(ellipse, {425, 255}));  // a corner of the box, outside the ellipse
  CHECK(a.items[3].cls.empty());
  CHECK(a.items[3].where == "annotation 1 ('') region 1 (Id 2)");
}

TEST_CASE("XML annotations: DTDs and unknown roots refused, ASAP and Aperio told apart by the root") {
  auto fails_with = [](const std::string& xml, const std::string& needle) {
    try {
      (void)parse_aperio_annotations(xml, "x.xml");
      (void)parse_asap_annotations(xml, "x.xml");
    } catch (const InputError& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
      CHECK(std::string(e.what()).rfind("x.xml: ", 0) == 0);
      return;
    }
    FAIL("no error for " << xml);
  };
  fails_with("<!DOCTYPE Annotations [<!ENTITY a \"b\">]><Annotations/>", "DTD");
  fails_with("<?xml version=\"1.0\"?><!ENTITY a \"b\"><Annotations/>", "DTD");
  fails_with("<ASAP_Annotations/>", "not an Aperio ImageScope annotation file");
  fails_with(
      "<Annotations><Annotation><Regions><Region Type=\"2\"><Vertices><Vertex X=\"1\" Y=\"1\"/>"
      "</Vertices></Region></Regions></Annotation></Annotations>",
      "an ellipse has 1 vertices");
  fails_with(
      "<Annotations><Annotation><Regions><Region Type=\"4\"><Vertices><Vertex X=\"1\" Y=\"1\"/>"
      "</Vertices></Region></Regions></Annotation></Annotations>",
      "region Type '4'");
  // An ASAP file holds an <Annotations> element too, below its root: it still reads as ASAP.
  const SlideAnnotations asap = parse_asap_annotations(
      "<ASAP_Annotations><Annotations><Annotation Name=\"a\" Type=\"Polygon\" PartOfGroup=\"t\"><Coordinates>"
      "<Coordinate Order=\"0\" X=\"0\" Y=\"0\"/><Coordinate Order=\"1\" X=\"9\" Y=\"0\"/>"
      "<Coordinate Order=\"2\" X=\"0\" Y=\"9\"/></Coordinates></Annotation></Annotations></ASAP_Annotations>",
      "x.xml");
  CHECK(asap.items.size() == 1);
}

TEST_CASE("union_outline: an L of windows with a hole") {
  // A 3x3 ring of 10-px windows on a 10-px grid, centre missing: one polygon with one hole.
  std::vector<Square> s;
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x)
      if (x != 1 || y != 1) s.push_back({x * 10, y * 10, 10});
  auto p = union_outline(s, grid_step_of(s));
  REQUIRE(p.size() == 1);
  REQUIRE(p[0].rings.size() == 2);
  CHECK(polygon_area(p[0]) == Approx(800));
  CHECK(p[0].rings[0].size() == 4);
  // Diagonal neighbours: two polygons.
  auto d = union_outline({{0, 0, 10}, {10, 10, 10}}, 10);
  CHECK(d.size() == 2);
}
