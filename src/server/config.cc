#include "server/config.h"

#include "base/json.h"
#include "base/strings.h"
#include "io/file.h"
#include "nlohmann/json.hpp"

namespace sluice {

absl::StatusOr<Config> LoadOrCreateConfig(const std::string& data_dir) {
  std::string path = data_dir + "/config.json";
  auto text = ReadFile(path);
  if (absl::IsNotFound(text.status())) {
    nlohmann::json j = {{"access_keys", {{{"access_key_id", "test"}, {"secret_access_key", "test"}}}},
                        {"region", "us-east-1"},
                        {"redshift", {{"users", {{{"user", "test"}, {"password", "test"}}}}}}};
    RETURN_IF_ERROR(WriteFileAtomically(path, j.dump(2) + "\n"));
    text = ReadFile(path);
  }
  if (!text.ok()) return text.status();
  auto j = ParseJson(*text);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(StrCat(path, " is not valid JSON; fix it or delete it to get the defaults"));
  }
  Config c;
  c.region = j.value("region", c.region);
  if (j.contains("duckdb") && j["duckdb"].is_object()) {
    c.duckdb_memory_limit = j["duckdb"].value("memory_limit", "");
    c.duckdb_threads = j["duckdb"].value("threads", 0);
  }
  if (j.contains("http") && j["http"].is_object()) {
    c.http_write_timeout_seconds = j["http"].value("write_timeout_seconds", c.http_write_timeout_seconds);
    if (c.http_write_timeout_seconds < 1) {
      return absl::InvalidArgumentError(StrCat(path, ": http.write_timeout_seconds must be at least 1"));
    }
  }
  if (j.contains("glue") && j["glue"].is_object()) {
    c.glue_python = j["glue"].value("python", c.glue_python);
    c.glue_spark_submit = j["glue"].value("spark_submit", "");
  }
  if (j.contains("lambda") && j["lambda"].is_object()) {
    c.lambda_python = j["lambda"].value("python", c.lambda_python);
    c.lambda_retry_delay_scale = j["lambda"].value("retry_delay_scale", 1.0);
  }
  if (j.contains("redshift") && j["redshift"].is_object() && j["redshift"].contains("users")) {
    if (!j["redshift"]["users"].is_array()) return absl::InvalidArgumentError(StrCat(path, ": redshift.users must be a list"));
    for (const auto& u : j["redshift"]["users"]) {
      if (!u.is_object() || !u.contains("user") || !u.contains("password") || !u["user"].is_string() ||
          !u["password"].is_string()) {
        return absl::InvalidArgumentError(StrCat(path, ": each redshift user needs string fields user and password"));
      }
      c.warehouse_users[u["user"].get<std::string>()] = u["password"].get<std::string>();
    }
  } else {
    c.warehouse_users["test"] = "test";  // like the default access key
  }
  if (j.contains("access_keys")) {
    if (!j["access_keys"].is_array()) {
      return absl::InvalidArgumentError(StrCat(path, ": access_keys must be a list"));
    }
    for (const auto& k : j["access_keys"]) {
      if (!k.is_object() || !k.contains("access_key_id") || !k.contains("secret_access_key") ||
          !k["access_key_id"].is_string() || !k["secret_access_key"].is_string()) {
        return absl::InvalidArgumentError(
            StrCat(path, ": each access key needs string fields access_key_id and secret_access_key"));
      }
      c.access_keys[k["access_key_id"].get<std::string>()] = k["secret_access_key"].get<std::string>();
    }
  }
  if (c.access_keys.empty()) {
    return absl::InvalidArgumentError(StrCat(path, " defines no access keys, so no request could be signed"));
  }
  return c;
}

}  // namespace sluice
