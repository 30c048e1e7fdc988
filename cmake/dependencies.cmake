# Everything but DuckDB comes from Debian 12 packages (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(absl REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(simdjson REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PUGIXML REQUIRED IMPORTED_TARGET pugixml)
include(GoogleTest)

# DuckDB: scripts/fetch-duckdb.sh puts the pinned official build in .cache/duckdb;
# -DSLUICE_DUCKDB_DIR=/path (with lib/libduckdb.so and include/duckdb.h) uses another.
set(SLUICE_DUCKDB_DIR "$ENV{SLUICE_DUCKDB_DIR}" CACHE PATH "libduckdb installation")
if(NOT SLUICE_DUCKDB_DIR)
  set(SLUICE_DUCKDB_DIR ${PROJECT_SOURCE_DIR}/.cache/duckdb)
endif()
find_library(DUCKDB_LIBRARY duckdb PATHS ${SLUICE_DUCKDB_DIR}/lib NO_DEFAULT_PATH)
find_path(DUCKDB_INCLUDE_DIR duckdb.h PATHS ${SLUICE_DUCKDB_DIR}/include NO_DEFAULT_PATH)
if(NOT DUCKDB_LIBRARY OR NOT DUCKDB_INCLUDE_DIR)
  message(FATAL_ERROR "libduckdb not found in ${SLUICE_DUCKDB_DIR}: run scripts/fetch-duckdb.sh "
                      "or pass -DSLUICE_DUCKDB_DIR=<dir with lib/ and include/>")
endif()
add_library(duckdb SHARED IMPORTED)
set_target_properties(duckdb PROPERTIES IMPORTED_LOCATION ${DUCKDB_LIBRARY}
                      INTERFACE_INCLUDE_DIRECTORIES ${DUCKDB_INCLUDE_DIR})
