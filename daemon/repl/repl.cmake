# Replication (docs/failover.md): included by daemon/CMakeLists.txt.
pkg_check_modules(CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
set(PMQ_REPL_DIR ${CMAKE_CURRENT_LIST_DIR})
target_sources(pmqd PRIVATE ${PMQ_REPL_DIR}/repl.c ${PMQ_REPL_DIR}/repl_proto.c ${PMQ_REPL_DIR}/repl_group_proto.c ${PMQ_REPL_DIR}/repl_seal.c ${PMQ_REPL_DIR}/standby.c ${PMQ_REPL_DIR}/standby_accept.c
  ${PMQ_REPL_DIR}/replicator.c ${PMQ_REPL_DIR}/replicator_ship.c ${PMQ_REPL_DIR}/repl_key.c ${PMQ_REPL_DIR}/repl_api.c ${CMAKE_SOURCE_DIR}/src/crc32c.c)
target_include_directories(pmqd PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(pmqd PRIVATE PkgConfig::CRYPTO)
set(PMQ_REPL_CTL ON)
# the protocol alone, for the unit tests and the fuzz target
add_library(pmq_repl_proto STATIC ${PMQ_REPL_DIR}/repl_proto.c ${PMQ_REPL_DIR}/repl_group_proto.c ${PMQ_REPL_DIR}/repl_seal.c ${PMQ_REPL_DIR}/repl_key.c
  ${CMAKE_CURRENT_SOURCE_DIR}/common/safe_file.c ${CMAKE_SOURCE_DIR}/src/crc32c.c)
target_include_directories(pmq_repl_proto PUBLIC ${CMAKE_SOURCE_DIR}/include ${PMQ_REPL_DIR}
  ${CMAKE_CURRENT_SOURCE_DIR}/common PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_options(pmq_repl_proto PRIVATE ${PMQ_WARN})
target_link_libraries(pmq_repl_proto PUBLIC PkgConfig::CRYPTO)
