# release_ccache.sh -- sourced by the two tests that build the release preset from scratch:
# the appliance image's test build (tests/appliance/test_image.sh, in this tree's
# build/release) and integration.first_run (tools/run in a copy of the tree). Both compile
# the same sources with the same flags, so a compiler cache in build/ccache-release lets the
# second build take the first one's objects: compiling is about 80% of a release build (the
# LTO link still runs). CTest runs the two one after the other (RESOURCE_LOCK release_build)
# so the cache is full when the second starts. Each build hashes paths relative to its own
# checkout (CCACHE_BASEDIR), so the copy's paths match this tree's; the AES-NI wolfSSL must
# then be named by a path inside each checkout too (first_run links it there).
#
# use_release_ccache ROOT: exports ccache as the compiler launcher for a first configure of
# the checkout at ROOT ($SRC is this tree). Does nothing without ccache.
use_release_ccache() {
    command -v ccache >/dev/null || return 0
    export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
    export CCACHE_DIR="$SRC/build/ccache-release" CCACHE_BASEDIR="$1" CCACHE_NOHASHDIR=1
}
