# The settings every LLVM build of the bootstrap shares: stage1's cross toolchain (llvm
# mode, stages/recipes/toolchain.yml) and the root's native compiler (stages/recipes/
# llvm.yml). Loaded with `cmake -C` (recipe field `cmake_caches`), as LLVM's own
# clang/cmake/caches do; what differs per build (backends, triples, compilers, link jobs)
# stays in the recipes.

# clang, lld and the LLVM binutils; nothing else
set(LLVM_ENABLE_PROJECTS "clang;lld" CACHE STRING "")
set(LLVM_INSTALL_BINUTILS_SYMLINKS OFF CACHE BOOL "")
set(LLVM_ENABLE_ASSERTIONS OFF CACHE BOOL "")
set(LLVM_INCLUDE_TESTS OFF CACHE BOOL "")
set(LLVM_INCLUDE_BENCHMARKS OFF CACHE BOOL "")
set(LLVM_INCLUDE_EXAMPLES OFF CACHE BOOL "")
set(LLVM_INCLUDE_DOCS OFF CACHE BOOL "")
set(CLANG_ENABLE_ARCMT OFF CACHE BOOL "")
set(CLANG_ENABLE_STATIC_ANALYZER OFF CACHE BOOL "")
set(CLANG_PLUGIN_SUPPORT OFF CACHE BOOL "")

# no optional host libraries: the result must not depend on what the build machine has
set(LLVM_ENABLE_ZLIB OFF CACHE BOOL "")
set(LLVM_ENABLE_ZSTD OFF CACHE BOOL "")
set(LLVM_ENABLE_LIBXML2 OFF CACHE BOOL "")
set(LLVM_ENABLE_LIBEDIT OFF CACHE BOOL "")

# the LLVM/musl toolchain's defaults: compiler-rt, libunwind, libc++, lld
set(CLANG_DEFAULT_RTLIB compiler-rt CACHE STRING "")
set(CLANG_DEFAULT_UNWINDLIB libunwind CACHE STRING "")
set(CLANG_DEFAULT_CXX_STDLIB libc++ CACHE STRING "")
set(CLANG_DEFAULT_LINKER lld CACHE STRING "")
set(CLANG_DEFAULT_OBJCOPY llvm-objcopy CACHE STRING "")
