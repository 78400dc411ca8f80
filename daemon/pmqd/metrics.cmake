# pmqd's Prometheus endpoint (metrics_http.c, metrics_text.c) needs libmicrohttpd
# (Debian libmicrohttpd-dev, in daemon/deps.txt). Without it pmqd still builds,
# and --metrics-listen says what to install (metrics_off.c).
pkg_check_modules(MHD IMPORTED_TARGET libmicrohttpd)
if(MHD_FOUND)
  target_sources(pmqd PRIVATE ${CMAKE_CURRENT_LIST_DIR}/metrics_http.c ${CMAKE_CURRENT_LIST_DIR}/metrics_text.c)
  target_link_libraries(pmqd PRIVATE PkgConfig::MHD)
  set(PMQD_METRICS ON CACHE INTERNAL "pmqd serves /metrics")
else()
  message(STATUS "pmqd: libmicrohttpd not found: built without /metrics (apt-get install libmicrohttpd-dev)")
  target_sources(pmqd PRIVATE ${CMAKE_CURRENT_LIST_DIR}/metrics_off.c)
  set(PMQD_METRICS OFF CACHE INTERNAL "pmqd serves /metrics")
endif()
