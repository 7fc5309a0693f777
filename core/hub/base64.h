// Standard base64 (RFC 4648, padded) through OpenSSL: the Hub's commit API carries small files
// inline in it.
#pragma once
#include <string>
#include <string_view>

namespace qls {

std::string base64_encode(std::string_view bytes);

}  // namespace qls
