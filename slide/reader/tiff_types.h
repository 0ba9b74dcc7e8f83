// The byte size of each TIFF field type, shared by the raw directory readers (tiff_dir's check of
// libtiff's offset arrays and ndpi_ifd, which parses NDPI without libtiff). 0 for an unknown type.
#pragma once
#include <cstdint>

namespace ds {

inline uint64_t tiff_type_size(uint16_t type) {
  switch (type) {
    case 1:
    case 2:
    case 6:
    case 7: return 1;  // BYTE, ASCII, SBYTE, UNDEFINED
    case 3:
    case 8: return 2;  // SHORT, SSHORT
    case 4:
    case 9:
    case 11:
    case 13: return 4;  // LONG, SLONG, FLOAT, IFD
    case 5:
    case 10:
    case 12:
    case 16:
    case 17:
    case 18: return 8;  // RATIONAL, SRATIONAL, DOUBLE, LONG8, SLONG8, IFD8
    default: return 0;
  }
}

}  // namespace ds
