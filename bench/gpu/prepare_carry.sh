#!/usr/bin/env bash
# Fills build-gpu-carry/ (ignored by git: /build*/) with what bench/gpu/check.sh needs on a bare
# GPU machine that has CUDA, cmake, a compiler and PyTorch but no apt and no network:
#   include/     header-only libraries (toml++, CLI11, nlohmann/json) and zlib's headers
#   googletest/  GoogleTest sources (built by the tests' CMake when no GTest is installed)
#   cmake/       tiny CMake package files for toml++ (header-only) and nlohmann_json
#   fashion-mnist/  the idx files of the time-to-accuracy run
#   libjpeg/     libjpeg-turbo's libjpeg (data/ reads JPEGs with it), its headers and .pc file, and bin/pkg-config,
#                a minimal stand-in used only where the machine has no pkg-config
# About 35 MB. Run it on this (Debian) machine, then carry build-gpu-carry with the tree.
# oneDNN is not carried (40 MB, and a Debian binary may not load there): the GPU build is
# configured with BIGBATCH_DNNL=OFF unless the GPU machine has its own oneDNN.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
carry="$root/build-gpu-carry"
rm -rf "$carry"
mkdir -p "$carry/include" "$carry/cmake/tomlplusplus" "$carry/cmake/nlohmann_json"
cp -r /usr/include/toml++ /usr/include/CLI /usr/include/nlohmann "$carry/include/"
cp /usr/include/zlib.h /usr/include/zconf.h "$carry/include/"
cp -r /usr/src/googletest "$carry/googletest"
cp -r /usr/share/datasets/fashion-mnist "$carry/fashion-mnist"

# toml++ as a header-only INTERFACE target (Debian's package links its shared library).
cat >"$carry/cmake/tomlplusplus/tomlplusplusConfig.cmake" <<'CMAKE'
if(NOT TARGET tomlplusplus::tomlplusplus)
  add_library(tomlplusplus::tomlplusplus INTERFACE IMPORTED)
  set_target_properties(tomlplusplus::tomlplusplus PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_LIST_DIR}/../../include"
    INTERFACE_COMPILE_DEFINITIONS "TOML_HEADER_ONLY=1")
endif()
set(tomlplusplus_FOUND TRUE)
CMAKE
cat >"$carry/cmake/nlohmann_json/nlohmann_jsonConfig.cmake" <<'CMAKE'
if(NOT TARGET nlohmann_json::nlohmann_json)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_LIST_DIR}/../../include")
endif()
set(nlohmann_json_FOUND TRUE)
CMAKE
cat >"$carry/cmake/nlohmann_json/nlohmann_jsonConfigVersion.cmake" <<'CMAKE'
set(PACKAGE_VERSION "3.11.2")
set(PACKAGE_VERSION_COMPATIBLE TRUE)
CMAKE
# libjpeg (libjpeg-turbo): Debian's build needs only libc; the .pc file points into the carry
# (relocated by check.sh through PKG_CONFIG_PATH and the prefix variable).
lj="$(ls /usr/lib/x86_64-linux-gnu/libjpeg.so.62* 2>/dev/null | head -n 1 || true)"
if [[ -n "$lj" && -f /usr/include/jpeglib.h ]]; then
  mkdir -p "$carry/libjpeg/lib" "$carry/libjpeg/include" "$carry/libjpeg/pkgconfig" "$carry/bin"
  cp "$lj" "$carry/libjpeg/lib/libjpeg.so.62"
  ln -s libjpeg.so.62 "$carry/libjpeg/lib/libjpeg.so"
  cp /usr/include/jpeglib.h /usr/include/jerror.h /usr/include/jmorecfg.h /usr/include/x86_64-linux-gnu/jconfig.h \
    "$carry/libjpeg/include/"
  cat >"$carry/libjpeg/pkgconfig/libjpeg.pc" <<'PC'
prefix=CARRY_LIBJPEG
libdir=${prefix}/lib
includedir=${prefix}/include

Name: libjpeg
Description: libjpeg-turbo's libjpeg API (carried by bench/gpu/prepare_carry.sh)
Version: 2.1.5
Libs: -L${libdir} -ljpeg
Cflags: -I${includedir}
PC
  cp "$root/bench/gpu/pkg-config-lite" "$carry/bin/pkg-config"
  chmod +x "$carry/bin/pkg-config"
else
  echo "prepare_carry: warning: no libjpeg here (Debian: libjpeg-dev); not carried" >&2
fi
du -sh "$carry"
