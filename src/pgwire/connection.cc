#include "pgwire/connection.h"

#include <sys/socket.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <optional>
#include <vector>

#include "base/ids.h"
#include "base/strings.h"
#include "io/checksum.h"
#include "pgwire/pg_types.h"
#include "pgwire/query_text.h"
#include "spdlog/spdlog.h"

namespace sluice::pgwire {
namespace {

namespace asio = boost::asio;

constexpr int32_t kSslRequest = 80877103;
constexpr int32_t kGssEncRequest = 80877104;
constexpr int32_t kCancelRequest = 80877102;
constexpr int32_t kMaxStartupLength = 10000;
constexpr uint32_t kMaxMessageLength = 1u << 30;
constexpr size_t kFlushThreshold = 256 << 10;

// A client that broke the protocol; the connection ends after a FATAL 08P01.
struct ProtocolViolation {
  std::string message;
};

int32_t RandomInt32() {
  uint32_t v = 0;
  (void)ParseNumber(RandomHex(8), &v, 16);
  return static_cast<int32_t>(v & 0x7fffffff);
}

// A notice's severity from a "LEVEL: text" prefix (RAISE INFO/NOTICE/WARNING); NOTICE
// when there is none.
std::pair<std::string, std::string> SplitNotice(const std::string& notice) {
  for (const char* level : {"INFO", "NOTICE", "WARNING", "LOG", "DEBUG"}) {
    std::string prefix = StrCat(level, ":");
    if (notice.compare(0, prefix.size(), prefix) == 0) {
      return {level, std::string(StripWhitespace(std::string_view(notice).substr(prefix.size())))};
    }
  }
  return {"NOTICE", notice};
}

std::string CommandTag(const WarehouseResult& r) {
  if (!r.command_tag.empty()) return r.command_tag;
  if (r.has_result_set) return StrCat("SELECT ", r.rows.size());
  return "OK";
}

}  // namespace

void CancelRegistry::Add(int32_t pid, int32_t secret, WarehouseSession* session) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_[pid] = {secret, session};
}

void CancelRegistry::Remove(int32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(pid);
}

void CancelRegistry::Cancel(int32_t pid, int32_t secret) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(pid);
  if (it == sessions_.end() || it->second.first != secret) return;
  it->second.second->Cancel();
}

// A prepared statement (Parse).
struct Connection::Statement {
  std::string sql;
  std::vector<uint32_t> param_types;  // one per parameter; 0: unspecified
  bool empty = false;
};

// A bound statement (Bind), run at its first Describe or Execute.
struct Connection::Portal {
  std::shared_ptr<const Statement> statement;
  std::vector<std::optional<std::string>> params;
  std::vector<int16_t> result_formats;  // as sent: none (text), one for all, or one per column
  std::optional<WarehouseResult> result;
  std::vector<PgType> types;
  std::vector<int16_t> formats;  // effective, per column
  size_t next_row = 0;
  bool notices_sent = false;
  bool suspended = false;
};

// The protocol state machine of one connection.
class Connection::Protocol {
 public:
  explicit Protocol(Connection& c) : c_(c) {}
  ~Protocol() {
    if (pid_) c_.ctx_.cancels.Remove(pid_);
  }

  void Run() {
    try {
      if (!Startup()) return;
      while (!c_.shutdown_.load()) {
        char type;
        std::string body;
        if (!ReadMessage(&type, &body)) return;
        if (!Dispatch(type, body)) return;
      }
    } catch (const ProtocolViolation& v) {
      Fatal("08P01", v.message);
    }
  }

 private:
  // ---- Socket I/O. Errors (the client went away, Shutdown()) end the connection.
  bool ReadExact(size_t n, std::string* out) {
    out->resize(n);
    boost::system::error_code ec;
    asio::read(c_.socket_, asio::buffer(out->data(), n), ec);
    return !ec;
  }

  bool Flush() {
    if (out_.buffer().empty() || write_failed_) return !write_failed_;
    boost::system::error_code ec;
    asio::write(c_.socket_, asio::buffer(out_.buffer()), ec);
    out_.buffer().clear();
    if (ec) write_failed_ = true;
    return !ec;
  }

  bool ReadMessage(char* type, std::string* body) {
    std::string header;
    if (!ReadExact(5, &header)) return false;
    *type = header[0];
    MessageReader r(std::string_view(header).substr(1));
    uint32_t len = static_cast<uint32_t>(r.Int32());
    if (len < 4 || len > kMaxMessageLength) throw ProtocolViolation{StrCat("invalid message length ", len)};
    return ReadExact(len - 4, body);
  }

  // ---- Responses.
  void SendError(const absl::Status& status, const char* severity = "ERROR") {
    out_.Begin('E');
    out_.Byte('S');
    out_.String(severity);
    out_.Byte('V');
    out_.String(severity);
    out_.Byte('C');
    out_.String(SqlStateOf(status));
    out_.Byte('M');
    out_.String(std::string(status.message()));
    out_.Byte('\0');
    out_.End();
  }

  void Fatal(std::string_view sqlstate, std::string message) {
    SendError(WarehouseError(sqlstate, std::move(message)), "FATAL");
    Flush();
  }

  void SendNotices(const std::vector<std::string>& notices) {
    for (const std::string& n : notices) {
      auto [level, text] = SplitNotice(n);
      out_.Begin('N');
      out_.Byte('S');
      out_.String(level);
      out_.Byte('V');
      out_.String(level);
      out_.Byte('C');
      out_.String(level == "WARNING" ? "01000" : "00000");
      out_.Byte('M');
      out_.String(text);
      out_.Byte('\0');
      out_.End();
    }
  }

  void SendParameterStatus(std::string_view name, std::string_view value) {
    out_.Begin('S');
    out_.String(name);
    out_.String(value);
    out_.End();
  }

  void SendReadyForQuery() {
    out_.Begin('Z');
    out_.Byte(session_ ? session_->TransactionStatus() : 'I');
    out_.End();
    Flush();
  }

  void SendRowDescription(const WarehouseResult& r, const std::vector<PgType>& types,
                          const std::vector<int16_t>& formats) {
    out_.Begin('T');
    out_.Int16(static_cast<int16_t>(r.columns.size()));
    for (size_t i = 0; i < r.columns.size(); ++i) {
      out_.String(r.columns[i]);
      out_.Int32(0);  // table oid
      out_.Int16(0);  // column number
      out_.Int32(static_cast<int32_t>(types[i].oid));
      out_.Int16(types[i].size);
      out_.Int32(types[i].typmod);
      out_.Int16(formats.empty() ? 0 : formats[i]);
    }
    out_.End();
  }

  // Sends rows [from, to); binary columns are encoded from their text.
  absl::Status SendDataRows(const WarehouseResult& r, const std::vector<PgType>& types,
                            const std::vector<int16_t>& formats, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      const auto& row = r.rows[i];
      out_.Begin('D');
      out_.Int16(static_cast<int16_t>(r.columns.size()));
      for (size_t col = 0; col < r.columns.size(); ++col) {
        const std::optional<std::string>* v = col < row.size() ? &row[col] : nullptr;
        if (!v || !v->has_value()) {
          out_.Int32(-1);
        } else if (!formats.empty() && formats[col] == 1) {
          ASSIGN_OR_RETURN(std::string bin, EncodeBinary(types[col].oid, **v));
          out_.Int32(static_cast<int32_t>(bin.size()));
          out_.Bytes(bin);
        } else {
          out_.Int32(static_cast<int32_t>((*v)->size()));
          out_.Bytes(**v);
        }
      }
      out_.End();
      if (out_.size() > kFlushThreshold && !Flush()) return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  void SendCommandComplete(const std::string& tag) {
    out_.Begin('C');
    out_.String(tag);
    out_.End();
  }

  static std::vector<PgType> TypesOf(const WarehouseResult& r) {
    std::vector<PgType> types;
    for (size_t i = 0; i < r.columns.size(); ++i) {
      types.push_back(PgTypeOf(i < r.types.size() ? r.types[i] : "VARCHAR"));
    }
    return types;
  }

  // ---- Startup and authentication.
  bool Startup() {
    std::string body;
    MessageReader r("");
    int32_t code = 0;
    for (;;) {
      std::string len_bytes;
      if (!ReadExact(4, &len_bytes)) return false;
      int32_t len = MessageReader(len_bytes).Int32();
      if (len < 8 || len > kMaxStartupLength) throw ProtocolViolation{"invalid length of startup packet"};
      if (!ReadExact(static_cast<size_t>(len) - 4, &body)) return false;
      r = MessageReader(body);
      code = r.Int32();
      if (code == kSslRequest || code == kGssEncRequest) {
        out_.Byte('N');  // no SSL/GSS encryption: the client continues in plain text
        if (!Flush()) return false;
        continue;
      }
      break;
    }
    if (code == kCancelRequest) {
      int32_t pid = r.Int32();
      int32_t secret = r.Int32();
      if (!r.failed()) c_.ctx_.cancels.Cancel(pid, secret);
      return false;
    }
    if ((code >> 16) != 3) {
      Fatal("0A000", StrCat("unsupported frontend protocol ", code >> 16, ".", code & 0xffff,
                            ": server supports 3.0 to 3.0"));
      return false;
    }
    std::map<std::string, std::string> params;
    for (;;) {
      std::string key = r.String();
      if (r.failed()) throw ProtocolViolation{"invalid startup packet layout: expected terminator as last byte"};
      if (key.empty()) break;
      params[key] = r.String();
    }
    if (r.failed()) throw ProtocolViolation{"invalid startup packet layout: expected terminator as last byte"};
    if (c_.ctx_.open_connections.load() > c_.ctx_.options.max_connections) {
      Fatal("53300", "sorry, too many clients already");
      return false;
    }
    std::string user = params.count("user") ? params["user"] : "";
    if (user.empty()) {
      Fatal("28000", "no PostgreSQL user name specified in startup packet");
      return false;
    }
    if (!Authenticate(user)) return false;

    // The database: "" (not named) opens the warehouse's default.
    std::string database = params.count("database") ? params["database"] : "";
    absl::StatusOr<std::unique_ptr<WarehouseSession>> session = c_.ctx_.factory(database, user);
    if (!session.ok()) {
      Fatal(SqlStateOf(session.status()), std::string(session.status().message()));
      return false;
    }
    {
      std::lock_guard<std::mutex> lock(c_.mu_);
      c_.session_ = std::move(*session);
      session_ = c_.session_.get();
    }
    pid_ = c_.ctx_.next_pid.fetch_add(1) + 1;
    int32_t secret = RandomInt32();
    c_.ctx_.cancels.Add(pid_, secret, session_);

    out_.Begin('R');
    out_.Int32(0);  // AuthenticationOk
    out_.End();
    SendParameterStatus("server_version", c_.ctx_.options.server_version);
    SendParameterStatus("server_encoding", "UTF8");
    SendParameterStatus("client_encoding", "UTF8");
    SendParameterStatus("DateStyle", "ISO, MDY");
    SendParameterStatus("IntervalStyle", "postgres");
    SendParameterStatus("integer_datetimes", "on");
    SendParameterStatus("standard_conforming_strings", "on");
    SendParameterStatus("TimeZone", "UTC");
    SendParameterStatus("is_superuser", "on");
    SendParameterStatus("session_authorization", user);
    SendParameterStatus("application_name", params.count("application_name") ? params["application_name"] : "");
    out_.Begin('K');
    out_.Int32(pid_);
    out_.Int32(secret);
    out_.End();
    SendReadyForQuery();
    return !write_failed_;
  }

  bool Authenticate(const std::string& user) {
    const auto& users = c_.ctx_.options.users;
    auto it = users.find(user);
    std::string expected;
    out_.Begin('R');
    if (c_.ctx_.options.auth == PgAuthMethod::kMd5) {
      std::string salt;
      for (int i = 0; i < 4; ++i) salt.push_back(static_cast<char>(RandomInt32() & 0xff));
      out_.Int32(5);  // AuthenticationMD5Password
      out_.Bytes(salt);
      // "md5" + md5hex(md5hex(password + user) + salt)
      if (it != users.end()) expected = StrCat("md5", HexEncode(Md5(StrCat(HexEncode(Md5(it->second + user)), salt))));
    } else {
      out_.Int32(3);  // AuthenticationCleartextPassword
      if (it != users.end()) expected = it->second;
    }
    out_.End();
    if (!Flush()) return false;
    char type;
    std::string body;
    // A client without a password hangs up here (psql then asks for one).
    if (!ReadMessage(&type, &body)) return false;
    if (type != 'p') throw ProtocolViolation{StrCat("expected password response, got message type ", int{type})};
    MessageReader r(body);
    std::string password = r.String();
    if (r.failed()) throw ProtocolViolation{"invalid password packet"};
    if (it == users.end() || password != expected) {
      Fatal("28P01", StrCat("password authentication failed for user \"", user, "\""));
      return false;
    }
    return true;
  }

  // ---- Messages after startup. False: close the connection.
  bool Dispatch(char type, const std::string& body) {
    MessageReader r(body);
    if (ignore_till_sync_ && type != 'S' && type != 'X') return true;
    switch (type) {
      case 'Q':
        SimpleQuery(r);
        return !write_failed_;
      case 'P':
        Guard([&] { return Parse(r); });
        return !write_failed_;
      case 'B':
        Guard([&] { return Bind(r); });
        return !write_failed_;
      case 'D':
        Guard([&] { return Describe(r); });
        return !write_failed_;
      case 'E':
        Guard([&] { return Execute(r); });
        return !write_failed_;
      case 'C':
        Guard([&] { return Close(r); });
        return !write_failed_;
      case 'S':
        ignore_till_sync_ = false;
        if (session_->TransactionStatus() == 'I') portals_.clear();
        SendReadyForQuery();
        return !write_failed_;
      case 'H':
        return Flush();
      case 'X':
        return false;
      case 'd':
      case 'c':
      case 'f':
        return true;  // COPY data outside COPY: ignored, as PostgreSQL does
      case 'F':
        Guard([&] { return WarehouseError("0A000", "function call messages are not supported"); });
        return !write_failed_;
      default:
        throw ProtocolViolation{StrCat("invalid frontend message type ", static_cast<int>(type))};
    }
  }

  // Runs one extended-protocol message; an error is reported and the rest of the batch
  // is skipped until Sync.
  template <typename F>
  void Guard(F f) {
    absl::Status st = f();
    if (!st.ok()) {
      SendError(st);
      ignore_till_sync_ = true;
    }
    if (out_.size() > kFlushThreshold) Flush();
  }

  void SimpleQuery(MessageReader& r) {
    std::string sql = r.String();
    if (r.failed()) throw ProtocolViolation{"invalid query message"};
    if (IsEmptyQuery(sql)) {
      out_.Empty('I');
    } else {
      absl::StatusOr<std::vector<WarehouseResult>> results = session_->Execute(RewriteQuery(sql));
      if (!results.ok()) {
        SendError(results.status());
      } else {
        for (const WarehouseResult& res : *results) {
          SendNotices(res.notices);
          if (res.has_result_set) {
            std::vector<PgType> types = TypesOf(res);
            SendRowDescription(res, types, {});
            (void)SendDataRows(res, types, {}, 0, res.rows.size());  // text never fails
          }
          SendCommandComplete(CommandTag(res));
        }
      }
    }
    SendReadyForQuery();
  }

  absl::Status Parse(MessageReader& r) {
    std::string name = r.String();
    std::string sql = r.String();
    int16_t n = r.Int16();
    auto st = std::make_shared<Statement>();
    for (int i = 0; i < n && !r.failed(); ++i) st->param_types.push_back(static_cast<uint32_t>(r.Int32()));
    if (r.failed() || n < 0) throw ProtocolViolation{"invalid Parse message"};
    if (!name.empty() && statements_.count(name)) {
      return WarehouseError("42P05", StrCat("prepared statement \"", name, "\" already exists"));
    }
    st->empty = IsEmptyQuery(sql);
    st->sql = RewriteQuery(sql);
    size_t count = CountParameters(sql);
    if (st->param_types.size() < count) st->param_types.resize(count, oid::kUnspecified);
    statements_[name] = std::move(st);
    out_.Empty('1');
    return absl::OkStatus();
  }

  absl::Status Bind(MessageReader& r) {
    std::string portal_name = r.String();
    std::string stmt_name = r.String();
    int16_t nformats = r.Int16();
    std::vector<int16_t> formats;
    for (int i = 0; i < nformats && !r.failed(); ++i) formats.push_back(r.Int16());
    int16_t nparams = r.Int16();
    std::vector<std::optional<std::string>> raw;
    for (int i = 0; i < nparams && !r.failed(); ++i) {
      int32_t len = r.Int32();
      if (len == -1) {
        raw.emplace_back();
      } else if (len < -1) {
        throw ProtocolViolation{"invalid Bind message: negative parameter length"};
      } else {
        raw.emplace_back(std::string(r.Bytes(static_cast<size_t>(len))));
      }
    }
    int16_t nresults = r.Int16();
    std::vector<int16_t> result_formats;
    for (int i = 0; i < nresults && !r.failed(); ++i) result_formats.push_back(r.Int16());
    if (r.failed() || nformats < 0 || nparams < 0 || nresults < 0) throw ProtocolViolation{"invalid Bind message"};

    auto it = statements_.find(stmt_name);
    if (it == statements_.end()) {
      return WarehouseError("26000", StrCat("prepared statement \"", stmt_name, "\" does not exist"));
    }
    const std::shared_ptr<const Statement>& st = it->second;
    if (nformats > 1 && nformats != nparams) {
      throw ProtocolViolation{StrCat("bind message has ", nformats, " parameter formats but ", nparams, " parameters")};
    }
    if (static_cast<size_t>(nparams) < CountParameters(st->sql) ||
        (static_cast<size_t>(nparams) < st->param_types.size())) {
      return WarehouseError("08P01", StrCat("bind message supplies ", nparams, " parameters, but prepared statement \"",
                                            stmt_name, "\" requires ", st->param_types.size()));
    }
    for (int16_t f : formats) {
      if (f != 0 && f != 1) return WarehouseError("22023", StrCat("unsupported format code: ", f));
    }
    for (int16_t f : result_formats) {
      if (f != 0 && f != 1) return WarehouseError("22023", StrCat("unsupported format code: ", f));
    }
    if (!portal_name.empty() && portals_.count(portal_name)) {
      return WarehouseError("42P03", StrCat("cursor \"", portal_name, "\" already exists"));
    }
    auto portal = std::make_unique<Portal>();
    portal->statement = st;
    portal->result_formats = std::move(result_formats);
    for (size_t i = 0; i < raw.size(); ++i) {
      int16_t f = formats.empty() ? 0 : formats.size() == 1 ? formats[0] : formats[i];
      if (!raw[i] || f == 0) {
        portal->params.push_back(std::move(raw[i]));
        continue;
      }
      uint32_t type = i < st->param_types.size() ? st->param_types[i] : oid::kUnspecified;
      ASSIGN_OR_RETURN(std::string text, DecodeBinary(type, *raw[i]));
      portal->params.emplace_back(std::move(text));
    }
    portals_[portal_name] = std::move(portal);
    out_.Empty('2');
    return absl::OkStatus();
  }

  // Runs the portal's statement once; its rows are kept for Execute.
  absl::Status RunPortal(Portal& p) {
    if (p.result) return absl::OkStatus();
    if (p.statement->empty) {
      p.result = WarehouseResult{};
      return absl::OkStatus();
    }
    WarehouseResult result;
    if (p.params.empty()) {
      // Statements without parameters go through Execute, which takes every statement
      // kind (transaction control, SET, COPY, CALL).
      ASSIGN_OR_RETURN(std::vector<WarehouseResult> rs, session_->Execute(p.statement->sql));
      if (!rs.empty()) result = std::move(rs.back());
    } else {
      ASSIGN_OR_RETURN(result, session_->ExecuteParams(p.statement->sql, p.params));
    }
    p.types = TypesOf(result);
    for (size_t i = 0; i < result.columns.size(); ++i) {
      int16_t f = p.result_formats.empty()       ? 0
                  : p.result_formats.size() == 1 ? p.result_formats[0]
                  : i < p.result_formats.size()  ? p.result_formats[i]
                                                 : 0;
      p.formats.push_back(f == 1 && HasBinaryFormat(p.types[i].oid) ? 1 : 0);
    }
    p.result = std::move(result);
    return absl::OkStatus();
  }

  absl::Status Describe(MessageReader& r) {
    char kind = Subtype(r);
    std::string name = r.String();
    if (r.failed()) throw ProtocolViolation{"invalid Describe message"};
    if (kind == 'S') {
      auto it = statements_.find(name);
      if (it == statements_.end()) {
        return WarehouseError("26000", StrCat("prepared statement \"", name, "\" does not exist"));
      }
      const Statement& st = *it->second;
      WarehouseResult described;
      if (!st.empty) {
        ASSIGN_OR_RETURN(described, session_->Describe(st.sql));
      }
      out_.Begin('t');
      out_.Int16(static_cast<int16_t>(st.param_types.size()));
      for (uint32_t t : st.param_types) out_.Int32(static_cast<int32_t>(t == oid::kUnspecified ? oid::kText : t));
      out_.End();
      if (described.columns.empty()) {
        out_.Empty('n');
      } else {
        SendRowDescription(described, TypesOf(described), {});
      }
      return absl::OkStatus();
    }
    if (kind != 'P') throw ProtocolViolation{StrCat("invalid DESCRIBE message subtype ", int{kind})};
    auto it = portals_.find(name);
    if (it == portals_.end()) return WarehouseError("34000", StrCat("portal \"", name, "\" does not exist"));
    Portal& p = *it->second;
    RETURN_IF_ERROR(RunPortal(p));
    if (p.result->has_result_set) {
      SendRowDescription(*p.result, p.types, p.formats);
    } else {
      out_.Empty('n');
    }
    return absl::OkStatus();
  }

  // Describe and Close start with 'S' (statement) or 'P' (portal).
  static char Subtype(MessageReader& r) {
    std::string_view k = r.Bytes(1);
    return k.empty() ? '\0' : k[0];
  }

  absl::Status Execute(MessageReader& r) {
    std::string name = r.String();
    int32_t max_rows = r.Int32();
    if (r.failed()) throw ProtocolViolation{"invalid Execute message"};
    auto it = portals_.find(name);
    if (it == portals_.end()) return WarehouseError("34000", StrCat("portal \"", name, "\" does not exist"));
    Portal& p = *it->second;
    if (p.statement->empty) {
      out_.Empty('I');
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(RunPortal(p));
    const WarehouseResult& res = *p.result;
    if (!p.notices_sent) {
      SendNotices(res.notices);
      p.notices_sent = true;
    }
    if (!res.has_result_set) {
      SendCommandComplete(CommandTag(res));
      return absl::OkStatus();
    }
    size_t from = p.next_row;
    size_t to = res.rows.size();
    if (max_rows > 0 && to - from > static_cast<size_t>(max_rows)) to = from + static_cast<size_t>(max_rows);
    RETURN_IF_ERROR(SendDataRows(res, p.types, p.formats, from, to));
    p.next_row = to;
    if (to < res.rows.size()) {
      p.suspended = true;
      out_.Empty('s');  // PortalSuspended
    } else {
      SendCommandComplete(p.suspended || from > 0 ? StrCat("SELECT ", to - from) : CommandTag(res));
    }
    return absl::OkStatus();
  }

  absl::Status Close(MessageReader& r) {
    char kind = Subtype(r);
    std::string name = r.String();
    if (r.failed()) throw ProtocolViolation{"invalid Close message"};
    if (kind == 'S') {
      statements_.erase(name);
    } else if (kind == 'P') {
      portals_.erase(name);
    } else {
      throw ProtocolViolation{StrCat("invalid CLOSE message subtype ", int{kind})};
    }
    out_.Empty('3');
    return absl::OkStatus();
  }

  Connection& c_;
  WarehouseSession* session_ = nullptr;
  MessageWriter out_;
  bool write_failed_ = false;
  bool ignore_till_sync_ = false;
  int32_t pid_ = 0;
  std::map<std::string, std::shared_ptr<const Statement>> statements_;
  std::map<std::string, std::unique_ptr<Portal>> portals_;
};

Connection::Connection(boost::asio::ip::tcp::socket socket, ServerContext& ctx) : socket_(std::move(socket)), ctx_(ctx) {
  boost::system::error_code ec;
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ec);
}

Connection::~Connection() {
  boost::system::error_code ec;
  socket_.close(ec);
}

void Connection::Run() {
  {
    Protocol p(*this);
    p.Run();
  }
  // The session is unregistered from cancels (~Protocol) before it is destroyed.
  std::unique_ptr<WarehouseSession> session;
  {
    std::lock_guard<std::mutex> lock(mu_);
    session = std::move(session_);
  }
  session.reset();
  boost::system::error_code ec;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
}

void Connection::Shutdown() {
  shutdown_.store(true);
  ::shutdown(socket_.native_handle(), SHUT_RDWR);
  std::lock_guard<std::mutex> lock(mu_);
  if (session_) session_->Cancel();
}

}  // namespace sluice::pgwire
