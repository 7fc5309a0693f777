# The Debian package: `cmake --preset package && cmake --build --preset package &&
# cpack --preset package` writes build-package/qlora-studio_<version>_<arch>.deb from the install
# rules in the top-level CMakeLists.txt (programs, desktop entry, icon, demo model and data set).
#
# The package is CPU-only until the CUDA backend lands: Debian 12's archive does not carry
# CUDA 13's runtime and cuBLAS, so a binary linked against them would depend on files no
# Debian package provides. The `package` preset therefore builds with QLS_CUDA=OFF, Release,
# without tests. Its Release flags are Debian's -O2 (the hot loops keep their -O3, see
# core/CMakeLists.txt): the whole core at -O3 meets GCC 12's false -Wrestrict on
# `"literal" + std::string&&` (GCC bug 105329), and -O2 is what the default preset builds and
# the tests run.

# cpack refuses a CUDA build rather than write a package that cannot install. The check runs
# when cpack does, not at configure time, since the default preset builds CUDA and reads this.
if(QLS_HAVE_CUDA)
  set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_BINARY_DIR}/qls_cpack_refuse.cmake)
  file(WRITE ${CPACK_PROJECT_CONFIG_FILE}
       "message(FATAL_ERROR \"this build links the CUDA runtime, which no Debian package provides: \"
        \"build the package with the 'package' preset (QLS_CUDA=OFF)\")\n")
endif()

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "qlora-studio")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "QLoRA Studio")
# The project has no published address yet: both are cache variables for whoever releases it.
set(QLS_PACKAGE_MAINTAINER "QLoRA Studio developers <qlora-studio@example.org>"
    CACHE STRING "Maintainer field of the Debian package")
set(QLS_PACKAGE_HOMEPAGE "https://example.org/qlora-studio" CACHE STRING "Homepage of the Debian package")
set(CPACK_PACKAGE_CONTACT "${QLS_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "desktop studio to finetune language models with QLoRA")
# One paragraph, lines under 80 columns as Debian's control files want them.
set(CPACK_PACKAGE_DESCRIPTION
    "QLoRA Studio finetunes open language models (Llama, Mistral, Qwen2, SmolLM2,
TinyLlama) with QLoRA: a frozen 4-bit NF4/FP4 base and trained LoRA adapters.
It estimates whether a model fits in memory, previews which tokens of a data
set are trained, draws loss and memory live, compares 4-bit quantization error
per layer, and exports PEFT adapters, merged weights and GGUF files for
llama.cpp and Ollama. This build trains on the CPU. It contains the studio
(qlora-studio), the command line (qlora) and a small demo model and data set.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
# Debian ships stripped programs; the Release build has no debug information to lose.
set(CPACK_STRIP_FILES ON)
# Directories the package creates are 0755 whatever the umask of the build.
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # qlora-studio_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${QLS_PACKAGE_HOMEPAGE}")
# dpkg-shlibdeps (package dpkg-dev) reads the programs' NEEDED entries and writes the Depends
# on libqt6widgets6, libqcustomplot2.1-qt6, libopenblas0, libpcre2-8-0, libicu72, libcurl4, libssl3, libc6, ...
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# What no binary links but the studio loads at run time: Qt's platform plugins (xcb, wayland,
# and the offscreen one that `--screenshot` and headless use need) live in qt6-qpa-plugins,
# which libqt6gui6 only recommends. Without it qlora-studio aborts before opening a window.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "qt6-qpa-plugins")

include(CPack)
