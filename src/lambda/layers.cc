// Layers: zips published once (unpacked under <dir>/layers/<name>/<version>/) that functions
// reference; a worker's /opt is the function's layers merged in order.
#include <filesystem>

#include "base/strings.h"
#include "base/time.h"
#include "base/json.h"
#include "io/checksum.h"
#include "io/file.h"
#include "lambda/service.h"

namespace sluice::lambda {
namespace {

absl::Status NoLayer(const std::string& what) {
  return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException",
                      StrCat("The resource you requested does not exist. (", what, ")"));
}

bool ValidLayerName(const std::string& n) {
  return !n.empty() && n.size() <= 64 &&
         std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
}

}  // namespace

absl::Status LambdaService::LoadLayers(SqliteDb& db) {
  RETURN_IF_ERROR(db.Exec("CREATE TABLE IF NOT EXISTS layers(arn TEXT PRIMARY KEY, name TEXT NOT NULL, "
                          "version INTEGER NOT NULL, doc TEXT NOT NULL);"));
  ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("SELECT name, version, doc FROM layers"));
  q->Reset();
  std::lock_guard lock(layers_mu_);
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    layers_[q->Text(0)][q->Int(1)] = ParseJson(q->Text(2), kMaxStoredJsonDepth);
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> LambdaService::PublishLayerVersion(const std::string& layer, const Json& in) {
  if (!ValidLayerName(layer)) {
    return LambdaStatus(absl::StatusCode::kInvalidArgument, "ValidationException",
                        StrCat("1 validation error detected: Value '", layer,
                               "' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression "
                               "pattern: [a-zA-Z0-9-_]+"));
  }
  if (!in.contains("Content") || !in["Content"].is_object()) {
    return LambdaStatus(absl::StatusCode::kInvalidArgument, "InvalidParameterValueException", "Content is required");
  }
  ASSIGN_OR_RETURN(std::string zip, FetchZip(in["Content"]));
  int64_t version;
  {
    std::lock_guard lock(layers_mu_);
    auto& versions = layers_[layer];
    version = versions.empty() ? 1 : versions.rbegin()->first + 1;
    versions[version] = Json();  // reserved while unpacking
  }
  std::string dir = StrCat(dir_, "/layers/", layer, "/", version);
  absl::Status st = UnzipInto(zip, dir);
  std::string layer_arn = StrCat("arn:aws:lambda:", options_.region, ":", options_.account, ":layer:", layer);
  Json doc = {{"Content", {{"CodeSha256", Base64Encode(Sha256(zip))}, {"CodeSize", zip.size()}}},
              {"LayerArn", layer_arn},
              {"LayerVersionArn", StrCat(layer_arn, ":", version)},
              {"Description", in.value("Description", "")},
              {"CreatedDate", absl::FormatTime("%Y-%m-%dT%H:%M:%E3S+0000", absl::Now(), absl::UTCTimeZone())},
              {"Version", version}};
  for (const char* k : {"CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"}) {
    if (in.contains(k)) doc[k] = in[k];
  }
  if (st.ok()) {
    std::string arn = doc["LayerVersionArn"], text = doc.dump();
    st = writer_->Write([arn, layer, version, text](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("INSERT OR REPLACE INTO layers(arn, name, version, doc) VALUES(?, ?, ?, ?)"));
      return q->Bind(1, arn).Bind(2, layer).Bind(3, version).Bind(4, text).Run();
    });
  }
  std::lock_guard lock(layers_mu_);
  if (!st.ok()) {
    layers_[layer].erase(version);
    return st;
  }
  layers_[layer][version] = doc;
  return doc;
}

absl::StatusOr<Json> LambdaService::GetLayerVersion(const std::string& layer, int64_t version) {
  std::lock_guard lock(layers_mu_);
  auto it = layers_.find(layer);
  if (it == layers_.end() || !it->second.contains(version) || it->second[version].is_null()) {
    return NoLayer(StrCat(layer, ":", version));
  }
  return it->second[version];
}

absl::StatusOr<Json> LambdaService::LayerVersionByArn(const std::string& arn) {
  // arn:aws:lambda:<region>:<account>:layer:<name>:<version>
  auto parts = Split(arn, ':');
  int64_t version = 0;
  if (parts.size() != 8 || parts[5] != "layer" || !ParseNumber(parts[7], &version)) {
    return LambdaStatus(absl::StatusCode::kInvalidArgument, "ValidationException",
                        StrCat("1 validation error detected: Value '", arn, "' at 'arn' failed to satisfy constraint: "
                               "Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:"
                               "\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+"));
  }
  auto doc = GetLayerVersion(std::string(parts[6]), version);
  if (!doc.ok()) {
    return LambdaStatus(absl::StatusCode::kInvalidArgument, "InvalidParameterValueException",
                        StrCat("Layer version ", arn, " does not exist."));
  }
  return doc;
}

absl::StatusOr<Json> LambdaService::ListLayerVersions(const std::string& layer) {
  std::lock_guard lock(layers_mu_);
  Json out = {{"LayerVersions", Json::array()}};
  auto it = layers_.find(layer);
  if (it == layers_.end()) return out;
  for (auto v = it->second.rbegin(); v != it->second.rend(); ++v) {  // newest first, as AWS lists them
    if (!v->second.is_null()) out["LayerVersions"].push_back(v->second);
  }
  return out;
}

Json LambdaService::ListLayers() {
  std::lock_guard lock(layers_mu_);
  Json out = {{"Layers", Json::array()}};
  for (const auto& [name, versions] : layers_) {
    for (auto v = versions.rbegin(); v != versions.rend(); ++v) {
      if (v->second.is_null()) continue;
      out["Layers"].push_back({{"LayerName", name}, {"LayerArn", v->second["LayerArn"]}, {"LatestMatchingVersion", v->second}});
      break;
    }
  }
  return out;
}

absl::Status LambdaService::DeleteLayerVersion(const std::string& layer, int64_t version) {
  std::string arn;
  {
    std::lock_guard lock(layers_mu_);
    auto it = layers_.find(layer);
    if (it == layers_.end() || !it->second.contains(version)) return absl::OkStatus();  // AWS: idempotent
    arn = it->second[version].value("LayerVersionArn", "");
  }
  RETURN_IF_ERROR(writer_->Write([arn](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("DELETE FROM layers WHERE arn=?"));
    return q->Bind(1, arn).Run();
  }));
  std::lock_guard lock(layers_mu_);
  layers_[layer].erase(version);
  // The unpacked files stay: functions that reference the version keep working, as on AWS.
  return absl::OkStatus();
}

absl::StatusOr<std::string> LambdaService::OptDir(const Function& f) {
  const Json& layers = f.config.contains("Layers") ? f.config["Layers"] : Json::array();
  if (!layers.is_array() || layers.empty()) return std::string();
  std::string opt = StrCat(dir_, "/functions/", f.name, "/opt", f.revision < 0 ? "-v" : "-", std::abs(f.revision));
  std::lock_guard lock(opt_mu_);
  std::error_code ec;
  if (std::filesystem::exists(opt, ec)) return opt;
  std::string tmp = opt + ".tmp";
  std::filesystem::remove_all(tmp, ec);
  RETURN_IF_ERROR(MakeDirs(tmp));
  for (const auto& l : layers) {
    auto parts = Split(l.value("Arn", ""), ':');
    if (parts.size() != 8) continue;
    std::string src = StrCat(dir_, "/layers/", parts[6], "/", parts[7]);
    std::filesystem::copy(src, tmp,
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return absl::InternalError(StrCat("cannot assemble the layers of ", f.name, ": ", ec.message()));
  }
  std::filesystem::rename(tmp, opt, ec);
  if (ec) return absl::InternalError(StrCat("cannot assemble the layers of ", f.name, ": ", ec.message()));
  return opt;
}

}  // namespace sluice::lambda
