# The modules of libsqz, in dependency order. Adding a module: a folder src/<name>/ and a line here.
sqz_module(core    LIBS Threads::Threads PkgConfig::JANSSON PkgConfig::LIBCRYPTO m)
sqz_module(kernels DEPS sqz_core)
sqz_module(quant   DEPS sqz_kernels LIBS PkgConfig::OPENBLAS)
# ISA tiers are compiled per file and chosen at run time from CPUID (no -march=native).
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/dot_avx2.c PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/dot_avx512.c PROPERTIES
  COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512vnni")
sqz_module(format  DEPS sqz_core sqz_kernels)
sqz_module(tok     DEPS sqz_format LIBS PkgConfig::PCRE2 PkgConfig::UTF8PROC)
include(${CMAKE_SOURCE_DIR}/cmake/grammars.cmake)
sqz_module(metrics DEPS sqz_core sqz_grammars LIBS PkgConfig::PCRE2 PkgConfig::UTF8PROC)
sqz_module(sandbox DEPS sqz_core LIBS PkgConfig::SECCOMP z)
sqz_module(engine  DEPS sqz_tok sqz_kernels LIBS PkgConfig::OPENBLAS)
set(SQZ_ALL_MODULES sqz_engine sqz_tok sqz_format sqz_metrics sqz_sandbox sqz_quant sqz_kernels sqz_core)
