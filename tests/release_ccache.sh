# release_ccache.sh -- sourced by the appliance image's test build (tests/appliance/
# test_image.sh, in this tree's build/release): a compiler cache in build/ccache-release, so
# that running appliance.image again after a change recompiles only what changed even when
# build/release was removed. integration.first_run (tools/run in a copy of the tree) used to
# read it too; the release build is now a unity build, whose generated units name each
# source by its absolute path, so a copy elsewhere cannot hit it and builds
# cold instead (about 2.5 minutes on 2 cores). CMake 3.25 has no relocatable unity sources.
#
# use_release_ccache ROOT: exports ccache as the compiler launcher for a first configure of
# the checkout at ROOT ($SRC is this tree). Does nothing without ccache.
use_release_ccache() {
    command -v ccache >/dev/null || return 0
    export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
    export CCACHE_DIR="$SRC/build/ccache-release" CCACHE_BASEDIR="$1" CCACHE_NOHASHDIR=1
}
