// Block-style YAML for configuration files other tools read (axolotl's config.yml), from a JSON
// value. Every scalar is written in a form YAML 1.1 (PyYAML's yaml.safe_load) and YAML 1.2 read
// back as the same JSON value: strings double-quoted with JSON's escapes (a YAML double-quoted
// scalar accepts them all), so "no", "on", "1e-4" or "null" stay strings; floats always with a
// '.' and a signed exponent ("2.0e-05"), which PyYAML needs to read a float rather than a
// string; empty objects and arrays inline as {} and [].
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace qls {

// `value` must be an object. Object keys are written bare and must be plain identifiers
// ([A-Za-z0-9_]+); InternalError otherwise. Key order is the object's.
std::string to_block_yaml(const nlohmann::ordered_json& value);

// One scalar as to_block_yaml writes it (a string, number, bool or null).
std::string yaml_scalar(const nlohmann::ordered_json& value);

}  // namespace qls
