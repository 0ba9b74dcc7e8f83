// Annotated regions of a slide, read from the files pathologists draw them in: QuPath's GeoJSON
// export (a FeatureCollection, one Feature, or a bare array of features; Polygon and
// MultiPolygon with holes; the class from properties.classification), ASAP's XML
// (Annotation/Coordinates; the class is the annotation's group) and Aperio ImageScope's XML
// (Annotation/Regions/Region/Vertices; the class is the layer's Name, negative regions are holes).
// Coordinates are level-0 pixels with the origin at the top-left, as the tools write them. Every
// problem is an InputError naming the file and the feature (GeoJSON index from 0, ASAP
// annotation index and name, Aperio annotation and region).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "slide/windows/geometry.h"

namespace ds {

struct Annotation {
  std::string cls;                // class name; empty when the annotation has none
  std::vector<Polygon> polygons;  // a MultiPolygon has several
  std::string where;              // how messages name it; "" for "feature <index>"
};

struct SlideAnnotations {
  std::string path;  // the file they came from, for messages
  std::vector<Annotation> items;
};

// By content: '{' or '[' first is GeoJSON, '<' is XML: ASAP's when the root element is
// <ASAP_Annotations>, Aperio ImageScope's when it is <Annotations>. XML with a DTD is refused
// (slide/windows/xml_tags.h).
SlideAnnotations read_annotations(const std::string& path);
SlideAnnotations parse_geojson_annotations(const std::string& text, const std::string& path);
SlideAnnotations parse_asap_annotations(const std::string& text, const std::string& path);
SlideAnnotations parse_aperio_annotations(const std::string& text, const std::string& path);

// InputError naming the file and annotation when a class name is refused by `reason` (a
// safe_names.h check: "" accepts); unclassified annotations pass.
void check_annotation_classes(const SlideAnnotations& a, std::string (*reason)(const std::string&));

// InputError naming the file and feature when a vertex lies outside [0, width] x [0, height].
void check_annotations_inside(const SlideAnnotations& a, int64_t width, int64_t height);

// The annotation file of a slide in `dir`: <stem>.geojson, <stem>.json or <stem>.xml (the first
// that exists), where <stem> is the slide's file name without its extension; nullopt if none.
std::optional<std::string> find_annotation_file(const std::string& dir, const std::string& slide_path);

// read_annotations of the slide's file in `dir`, checked against the slide's level-0 size;
// nullopt when the slide has no annotation file.
std::optional<SlideAnnotations> load_slide_annotations(const std::string& dir, const std::string& slide_path,
                                                       int64_t width, int64_t height);

}  // namespace ds
