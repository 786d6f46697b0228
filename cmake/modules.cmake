# The modules of libsqz, in dependency order. Adding a module: a folder src/<name>/ and a line here.
sqz_module(core    LIBS Threads::Threads PkgConfig::JANSSON PkgConfig::LIBCRYPTO m)
sqz_module(kernels DEPS sqz_core)
sqz_module(quant   DEPS sqz_kernels LIBS PkgConfig::OPENBLAS)
sqz_module(prune   DEPS sqz_quant sqz_format sqz_kernels LIBS PkgConfig::OPENBLAS)
# ISA tiers are compiled per file and chosen at run time from CPUID (no -march=native). The files whose
# rounding is specified op by op (llama.cpp parity, scalar references) are compiled without FMA contraction.
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/dot_ref.c PROPERTIES COMPILE_OPTIONS "-ffp-contract=off")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/dot_avx2.c PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-ffp-contract=off")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/gemv_avx2.c PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-ffp-contract=off")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/dot_avx512.c PROPERTIES
  COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-ffp-contract=off")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/gemv_avx512.c PROPERTIES
  COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-ffp-contract=off")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/sparse_avx2.c PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/sparse_avx512.c PROPERTIES
  COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mavx512vbmi")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/gemm_avx2.c PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/gemm_avx512.c PROPERTIES
  COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-ffp-contract=off")
# AMX: gated at run time by sqz_amx_ready() (CPUID and the kernel's permission), not by the tier check.
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/gemm_amx.c PROPERTIES
  COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mamx-tile;-mamx-int8;-ffp-contract=off")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/qgroup_avx2.c PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/x86/qgroup_avx512.c PROPERTIES
  COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-ffp-contract=off")
sqz_module(format  DEPS sqz_core sqz_kernels)
sqz_module(tok     DEPS sqz_format LIBS PkgConfig::PCRE2 PkgConfig::UTF8PROC)
include(${CMAKE_SOURCE_DIR}/cmake/grammars.cmake)
sqz_module(metrics DEPS sqz_core sqz_grammars LIBS PkgConfig::PCRE2 PkgConfig::UTF8PROC)
sqz_module(sandbox DEPS sqz_core LIBS PkgConfig::SECCOMP z)
sqz_module(engine  DEPS sqz_tok sqz_kernels sqz_quant LIBS PkgConfig::OPENBLAS)
sqz_module(train   DEPS sqz_tok sqz_format sqz_kernels sqz_prune LIBS PkgConfig::OPENBLAS)
sqz_module(store   DEPS sqz_core LIBS PkgConfig::SQLITE3)
sqz_module(report  DEPS sqz_store LIBS PkgConfig::CAIRO PkgConfig::PANGOCAIRO)
sqz_module(eval    DEPS sqz_store sqz_quant sqz_engine sqz_metrics sqz_sandbox sqz_compress LIBS PkgConfig::YAML)
sqz_module(compress DEPS sqz_engine sqz_quant sqz_prune sqz_format sqz_tok LIBS PkgConfig::OPENBLAS PkgConfig::JANSSON)
set(SQZ_ALL_MODULES sqz_compress sqz_eval sqz_report sqz_store sqz_train sqz_engine sqz_tok sqz_format sqz_metrics sqz_sandbox sqz_quant sqz_kernels sqz_core sqz_prune)
