# The etcd witness (daemon/witness): needs libcurl and jansson (Debian
# libcurl4-openssl-dev, libjansson-dev, in daemon/deps.txt). Without them pmqd
# still builds and a --witness* flag says what to install (witness_off.c).
pkg_check_modules(CURL IMPORTED_TARGET libcurl)
pkg_check_modules(JANSSON IMPORTED_TARGET jansson)
target_include_directories(pmqd PRIVATE ${CMAKE_CURRENT_LIST_DIR})
if(CURL_FOUND AND JANSSON_FOUND AND PMQ_REPL_CTL)
  target_sources(pmqd PRIVATE ${CMAKE_CURRENT_LIST_DIR}/witness.c ${CMAKE_CURRENT_LIST_DIR}/etcd.c)
  target_link_libraries(pmqd PRIVATE PkgConfig::CURL PkgConfig::JANSSON)
  set(PMQD_WITNESS ON CACHE INTERNAL "pmqd has the etcd witness")
else()
  message(STATUS "pmqd: libcurl or jansson not found: built without the etcd witness (apt-get install libcurl4-openssl-dev libjansson-dev)")
  target_sources(pmqd PRIVATE ${CMAKE_CURRENT_LIST_DIR}/witness_off.c)
  set(PMQD_WITNESS OFF CACHE INTERNAL "pmqd has the etcd witness")
endif()
