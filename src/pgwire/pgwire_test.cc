#include "pgwire/pgwire.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "base/strings.h"
#include "io/checksum.h"
#include "pgwire/wire.h"
#include "sql/sql.h"

namespace sluice {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A WarehouseSession over a plain DuckDB connection, enough to exercise the protocol:
// statements split on ';', PostgreSQL-ish command tags and transaction status.
class DuckSession : public WarehouseSession {
 public:
  DuckSession(std::unique_ptr<Connection> conn, std::string db, std::string user)
      : conn_(std::move(conn)), db_(std::move(db)), user_(std::move(user)) {}

  absl::StatusOr<std::vector<WarehouseResult>> Execute(const std::string& sql) override {
    std::vector<WarehouseResult> out;
    for (std::string_view stmt : Split(sql, ';', /*skip_empty=*/false)) {
      if (StripWhitespace(stmt).empty()) continue;
      absl::StatusOr<WarehouseResult> r = Run(std::string(stmt), nullptr);
      if (!r.ok()) return r.status();
      out.push_back(std::move(*r));
    }
    return out;
  }
  absl::StatusOr<WarehouseResult> ExecuteParams(const std::string& sql,
                                                const std::vector<std::optional<std::string>>& params) override {
    return Run(sql, &params);
  }
  absl::StatusOr<WarehouseResult> Describe(const std::string& sql) override {
    WarehouseResult r;
    if (!IsQuery(sql) || sql.find('$') != std::string::npos) return r;
    absl::StatusOr<QueryResult> d = conn_->Query("DESCRIBE " + sql);
    if (!d.ok()) return Error(d.status());
    for (const auto& row : d->rows) {
      r.columns.push_back(row[0].value_or(""));
      r.types.push_back(row[1].value_or("VARCHAR"));
    }
    return r;
  }
  void Cancel() override { conn_->Interrupt(); }
  char TransactionStatus() const override { return txn_; }
  const std::string& database() const override { return db_; }
  const std::string& user() const override { return user_; }

 private:
  static std::string FirstWord(std::string_view sql) {
    sql = StripWhitespace(sql);
    size_t n = 0;
    while (n < sql.size() && isalpha(static_cast<unsigned char>(sql[n]))) ++n;
    return AsciiUpper(sql.substr(0, n));
  }
  static bool IsQuery(std::string_view sql) {
    std::string w = FirstWord(sql);
    return w == "SELECT" || w == "WITH" || w == "SHOW" || w == "VALUES" || w == "FROM" || w == "TABLE";
  }
  static absl::Status Error(const absl::Status& st) {
    std::string m(st.message());
    std::string state = "XX000";
    if (m.find("INTERRUPT") != std::string::npos || m.find("nterrupt") != std::string::npos) {
      state = "57014";
    } else if (m.find("Parser Error") != std::string::npos) {
      state = "42601";
    } else if (m.find("Catalog Error") != std::string::npos) {
      state = "42P01";
    }
    return WarehouseError(state, m);
  }

  absl::StatusOr<WarehouseResult> Run(const std::string& sql_in, const std::vector<std::optional<std::string>>* params) {
    std::string sql = StandInForTheWarehouse(sql_in);
    std::string word = FirstWord(sql);
    if (txn_ == 'E' && word != "ROLLBACK" && word != "COMMIT") {
      return WarehouseError("25P02", "current transaction is aborted, commands ignored until end of transaction block");
    }
    absl::StatusOr<QueryResult> q;
    if (params) {
      absl::StatusOr<std::unique_ptr<PreparedStatement>> p = conn_->Prepare(sql);
      if (!p.ok()) {
        q = p.status();
      } else {
        std::vector<SqlValue> values;
        for (const auto& v : *params) values.push_back(v ? SqlValue::Text(*v) : SqlValue::Null());
        q = (*p)->Execute(values);
      }
    } else {
      q = conn_->Query(sql);
    }
    if (!q.ok()) {
      if (txn_ == 'T') txn_ = 'E';
      return Error(q.status());
    }
    WarehouseResult r;
    if (word == "BEGIN") txn_ = 'T';
    if (word == "COMMIT" || word == "ROLLBACK") txn_ = 'I';
    if (IsQuery(sql)) {
      r.has_result_set = true;
      r.columns = q->columns;
      r.types = q->types;
      r.rows = q->rows;
      for (auto& row : r.rows) {
        for (size_t i = 0; i < row.size(); ++i) {
          if (row[i] && q->types[i] == "BOOLEAN") row[i] = *row[i] == "true" ? "t" : "f";
        }
      }
      r.command_tag = StrCat("SELECT ", r.rows.size());
      if (sql.find("raise_notice") != std::string::npos) r.notices.push_back("INFO: hello from a notice");
    } else if (word == "INSERT") {
      r.command_tag = StrCat("INSERT 0 ", q->rows.empty() ? "0" : q->rows[0][0].value_or("0"));
    } else if (word == "CREATE") {
      r.command_tag = "CREATE TABLE";
    } else {
      r.command_tag = word;
    }
    return r;
  }

  // DuckDB's pg_catalog lacks pieces psql's \dt and \d use; the warehouse is to
  // provide them (see README.md). These textual patches stand in for it so the protocol
  // side of psql's catalog commands is exercised here.
  std::string StandInForTheWarehouse(std::string sql) {
    if (!shims_) {
      (void)conn_->Execute("CREATE MACRO pg_get_userbyid(x) AS 'test'");
      shims_ = true;
    }
    auto replace = [&sql](std::string_view from, std::string_view to) {
      for (size_t p = 0; (p = sql.find(from, p)) != std::string::npos; p += to.size()) {
        sql.replace(p, from.size(), to);
      }
    };
    replace("pg_catalog.pg_get_userbyid", "pg_get_userbyid");
    replace("::regtype", "");
    replace("::regclass", "");
    replace("c.relhasoids", "false");
    replace("d.adrelid, true)", "d.adrelid)");
    replace("pg_catalog.pg_collation c,", "(SELECT 0 AS oid, '' AS collname, 0 AS typcollation) c,");
    replace("pg_catalog.pg_inherits i", "(SELECT 0 AS inhparent, 0 AS inhrelid, 0 AS inhseqno) i");
    return sql;
  }

  std::unique_ptr<Connection> conn_;
  bool shims_ = false;
  std::string db_, user_;
  char txn_ = 'I';
};

// Runs a command, returning its exit status and combined output.
struct Command {
  int status = -1;
  std::string output;
};
Command RunCommand(const std::string& cmd) {
  Command c;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return c;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) c.output.append(buf, n);
  int st = pclose(f);
  c.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return c;
}

// A minimal protocol client over a blocking socket, for what psql cannot show: binary
// formats, exact message sequences, broken messages, cancels.
class RawClient {
 public:
  struct Message {
    char type = 0;
    std::string body;
  };

  explicit RawClient(uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  // Startup + MD5 auth. Returns the messages up to ReadyForQuery (or the error).
  std::vector<Message> Login(const std::string& user, const std::string& password, const std::string& db = "dev") {
    pgwire::MessageWriter w;
    std::string body;
    w.Int32(196608);
    for (auto [k, v] : {std::pair<std::string, std::string>{"user", user}, {"database", db}}) {
      w.String(k);
      w.String(v);
    }
    w.Byte('\0');
    pgwire::MessageWriter framed;
    framed.Int32(static_cast<int32_t>(w.size() + 4));
    framed.Bytes(w.buffer());
    Send(framed.buffer());
    Message m = Read();
    if (m.type != 'R') return {m};
    pgwire::MessageReader r(m.body);
    EXPECT_EQ(r.Int32(), 5);
    std::string salt(r.Bytes(4));
    pgwire::MessageWriter p;
    p.Begin('p');
    p.String("md5" + HexEncode(Md5(HexEncode(Md5(password + user)) + salt)));
    p.End();
    Send(p.buffer());
    std::vector<Message> out = ReadUntilReady();
    for (const Message& msg : out) {
      if (msg.type == 'K') {
        pgwire::MessageReader k(msg.body);
        pid_ = k.Int32();
        secret_ = k.Int32();
      }
    }
    return out;
  }

  void Send(const std::string& bytes) {
    boost::system::error_code ec;
    asio::write(socket_, asio::buffer(bytes), ec);
  }

  void Query(const std::string& sql) {
    pgwire::MessageWriter w;
    w.Begin('Q');
    w.String(sql);
    w.End();
    Send(w.buffer());
  }

  // Waits up to `timeout` for a message; type 0 on EOF or timeout.
  Message Read(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    Message m;
    std::string header;
    if (!ReadExact(5, &header, timeout)) return m;
    pgwire::MessageReader r(std::string_view(header).substr(1));
    int32_t len = r.Int32();
    if (!ReadExact(static_cast<size_t>(len - 4), &m.body, timeout)) return m;
    m.type = header[0];
    return m;
  }

  std::vector<Message> ReadUntilReady() {
    std::vector<Message> out;
    for (;;) {
      Message m = Read();
      out.push_back(m);
      if (m.type == 'Z' || m.type == 0 || (m.type == 'E' && m.body.find("FATAL") != std::string::npos)) return out;
    }
  }

  // True when the server closed the connection within `timeout`.
  bool SeesEof(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    for (;;) {
      Message m = Read(timeout);
      if (m.type == 0) return eof_;
    }
  }

  int32_t pid() const { return pid_; }
  int32_t secret() const { return secret_; }

 private:
  bool ReadExact(size_t n, std::string* out, std::chrono::milliseconds timeout) {
    out->clear();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out->size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{socket_.native_handle(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[65536];
      ssize_t got = ::recv(socket_.native_handle(), buf, std::min(sizeof buf, n - out->size()), 0);
      if (got <= 0) {
        eof_ = true;
        return false;
      }
      out->append(buf, static_cast<size_t>(got));
    }
    return true;
  }

  asio::io_context io_;
  tcp::socket socket_;
  int32_t pid_ = 0, secret_ = 0;
  bool eof_ = false;
};

std::string Types(const std::vector<RawClient::Message>& ms) {
  std::string t;
  for (const auto& m : ms) t.push_back(m.type ? m.type : '0');
  return t;
}

// The SQLSTATE of an ErrorResponse body.
std::string SqlState(const std::string& body) {
  for (size_t i = 0; i < body.size();) {
    char field = body[i++];
    if (!field) break;
    size_t end = body.find('\0', i);
    if (field == 'C') return body.substr(i, end - i);
    i = end + 1;
  }
  return "";
}

class PgServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(DatabaseOptions{});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    PgServerOptions options;
    options.port = 0;
    auto server = PgServer::Start(options, [this](const std::string& database, const std::string& user)
                                               -> absl::StatusOr<std::unique_ptr<WarehouseSession>> {
      if (!database.empty() && database != "dev") {
        return WarehouseError("3D000", StrCat("database \"", database, "\" does not exist"));
      }
      ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, db_->Connect());
      return std::make_unique<DuckSession>(std::move(conn), "dev", user);
    });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  bool HavePsql() { return access("/usr/bin/psql", X_OK) == 0; }

  Command Psql(const std::string& args, const std::string& password = "test", const std::string& stdin_text = "") {
    std::string input = "/dev/null";
    if (!stdin_text.empty()) {
      input = testing::TempDir() + "/psql_input.sql";
      std::ofstream(input) << stdin_text;
    }
    return RunCommand(StrCat("PGPASSWORD='", password, "' PGCONNECT_TIMEOUT=10 /usr/bin/psql -X -h 127.0.0.1 -p ",
                      server_->port(), " ", args, " < ", input));
  }

  std::unique_ptr<Database> db_;
  std::unique_ptr<PgServer> server_;
};

#define REQUIRE_PSQL() \
  if (!HavePsql()) GTEST_SKIP() << "psql is not installed"

TEST_F(PgServerTest, PsqlRunsASimpleQuery) {
  REQUIRE_PSQL();
  Command c = Psql("-U test -d dev -At -c \"SELECT 1 AS a, 'x' AS b, true AS c, 2.50::DECIMAL(4,2) AS d\"");
  EXPECT_EQ(c.status, 0) << c.output;
  EXPECT_EQ(c.output, "1|x|t|2.50\n");
}

TEST_F(PgServerTest, PsqlRunsAMultiStatementQuery) {
  REQUIRE_PSQL();
  Command c = Psql(
      "-U test -d dev -At -c \"CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2); SELECT sum(a) FROM t\"");
  EXPECT_EQ(c.status, 0) << c.output;
  EXPECT_NE(c.output.find("3\n"), std::string::npos) << c.output;
}

TEST_F(PgServerTest, AnErrorLeavesTheSessionUsable) {
  REQUIRE_PSQL();
  Command c = Psql("-U test -d dev -At", "test", "SELECT * FROM missing_table;\nSELECT 40 + 2;\n");
  EXPECT_EQ(c.status, 0) << c.output;
  EXPECT_NE(c.output.find("ERROR:"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("missing_table"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("42\n"), std::string::npos) << c.output;
}

TEST_F(PgServerTest, WrongPasswordIsRejected) {
  REQUIRE_PSQL();
  Command c = Psql("-U test -d dev -c 'SELECT 1'", "wrong");
  EXPECT_EQ(c.status, 2) << c.output;
  EXPECT_NE(c.output.find("password authentication failed for user \"test\""), std::string::npos) << c.output;
  Command unknown = Psql("-U nobody -d dev -c 'SELECT 1'", "test");
  EXPECT_NE(unknown.output.find("password authentication failed for user \"nobody\""), std::string::npos)
      << unknown.output;
}

TEST_F(PgServerTest, UnknownDatabaseIsRejected) {
  REQUIRE_PSQL();
  Command c = Psql("-U test -d nope -c 'SELECT 1'");
  EXPECT_EQ(c.status, 2) << c.output;
  EXPECT_NE(c.output.find("database \"nope\" does not exist"), std::string::npos) << c.output;
}

TEST_F(PgServerTest, PsqlDescribesTables) {
  REQUIRE_PSQL();
  Command c = Psql("-U test -d dev", "test",
                   "CREATE TABLE people (id INTEGER, name VARCHAR, score DECIMAL(10,2));\n\\dt\n\\d people\n\\dn\n");
  EXPECT_EQ(c.status, 0) << c.output;
  EXPECT_NE(c.output.find(" main   | people | table | test"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("Table \"main.people\""), std::string::npos) << c.output;
  EXPECT_NE(c.output.find(" score  | numeric(10,2) |"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("List of schemas"), std::string::npos) << c.output;
  EXPECT_EQ(c.output.find("ERROR"), std::string::npos) << c.output;
}

TEST_F(PgServerTest, PsqlShowsNotices) {
  REQUIRE_PSQL();
  Command c = Psql("-U test -d dev -At -c \"SELECT 'raise_notice' AS x\"");
  EXPECT_EQ(c.status, 0) << c.output;
  EXPECT_NE(c.output.find("INFO:  hello from a notice"), std::string::npos) << c.output;
}

TEST_F(PgServerTest, SimpleQueryMessageSequence) {
  RawClient c(server_->port());
  EXPECT_EQ(Types(c.Login("test", "test")), "RSSSSSSSSSSSKZ");
  c.Query("SELECT 1 AS a; SELECT 2 AS b");
  EXPECT_EQ(Types(c.ReadUntilReady()), "TDCTDCZ");
  c.Query(" ; -- nothing\n");
  EXPECT_EQ(Types(c.ReadUntilReady()), "IZ");
  c.Query("SELEC 1");
  auto ms = c.ReadUntilReady();
  ASSERT_EQ(Types(ms), "EZ");
  EXPECT_EQ(SqlState(ms[0].body), "42601");
  c.Query("BEGIN");
  ms = c.ReadUntilReady();
  ASSERT_EQ(Types(ms), "CZ");
  EXPECT_EQ(ms.back().body, "T");
  c.Query("SELECT * FROM missing");
  ms = c.ReadUntilReady();
  ASSERT_EQ(Types(ms), "EZ");
  EXPECT_EQ(ms.back().body, "E");  // a failed transaction
  c.Query("ROLLBACK");
  ms = c.ReadUntilReady();
  EXPECT_EQ(ms.back().body, "I");
}

// Builds extended-protocol messages.
std::string Parse(const std::string& name, const std::string& sql, const std::vector<int32_t>& types) {
  pgwire::MessageWriter w;
  w.Begin('P');
  w.String(name);
  w.String(sql);
  w.Int16(static_cast<int16_t>(types.size()));
  for (int32_t t : types) w.Int32(t);
  w.End();
  return w.buffer();
}
std::string Bind(const std::string& portal, const std::string& stmt, const std::vector<int16_t>& formats,
                 const std::vector<std::optional<std::string>>& params, const std::vector<int16_t>& result_formats) {
  pgwire::MessageWriter w;
  w.Begin('B');
  w.String(portal);
  w.String(stmt);
  w.Int16(static_cast<int16_t>(formats.size()));
  for (int16_t f : formats) w.Int16(f);
  w.Int16(static_cast<int16_t>(params.size()));
  for (const auto& p : params) {
    w.Int32(p ? static_cast<int32_t>(p->size()) : -1);
    if (p) w.Bytes(*p);
  }
  w.Int16(static_cast<int16_t>(result_formats.size()));
  for (int16_t f : result_formats) w.Int16(f);
  w.End();
  return w.buffer();
}
std::string Simple(char type, char subtype, const std::string& name) {
  pgwire::MessageWriter w;
  w.Begin(type);
  if (subtype) w.Byte(subtype);
  w.String(name);
  w.End();
  return w.buffer();
}
std::string Execute(const std::string& portal, int32_t max_rows) {
  pgwire::MessageWriter w;
  w.Begin('E');
  w.String(portal);
  w.Int32(max_rows);
  w.End();
  return w.buffer();
}
std::string Sync() {
  pgwire::MessageWriter w;
  w.Empty('S');
  return w.buffer();
}

// The fields of a RowDescription: (type oid, format) per column.
std::vector<std::pair<int32_t, int16_t>> Fields(const std::string& body) {
  pgwire::MessageReader r(body);
  int16_t n = r.Int16();
  std::vector<std::pair<int32_t, int16_t>> out;
  for (int i = 0; i < n; ++i) {
    r.String();
    r.Int32();
    r.Int16();
    int32_t oid = r.Int32();
    r.Int16();
    r.Int32();
    out.emplace_back(oid, r.Int16());
  }
  return out;
}
std::vector<std::optional<std::string>> Values(const std::string& body) {
  pgwire::MessageReader r(body);
  int16_t n = r.Int16();
  std::vector<std::optional<std::string>> out;
  for (int i = 0; i < n; ++i) {
    int32_t len = r.Int32();
    if (len < 0) {
      out.emplace_back();
    } else {
      out.emplace_back(std::string(r.Bytes(static_cast<size_t>(len))));
    }
  }
  return out;
}

TEST_F(PgServerTest, ExtendedQueryWithBinaryParametersAndResults) {
  RawClient c(server_->port());
  c.Login("test", "test");
  std::string int4_41("\0\0\0\x29", 4);
  c.Send(Parse("s1", "SELECT $1::INTEGER + 1 AS a, 2.5::DOUBLE AS b, DATE '2000-01-02' AS d, 'x' AS s, "
                     "12.50::DECIMAL(6,2) AS n, NULL::BIGINT AS z, true AS t",
               {23}) +
         Bind("", "s1", {1}, {int4_41}, {1}) + Simple('D', 'P', "") + Execute("", 0) + Sync());
  auto ms = c.ReadUntilReady();
  ASSERT_EQ(Types(ms), "12TDCZ");
  auto fields = Fields(ms[2].body);
  std::vector<std::pair<int32_t, int16_t>> want = {{23, 1}, {701, 1}, {1082, 1}, {1043, 1}, {1700, 1}, {20, 1}, {16, 1}};
  EXPECT_EQ(fields, want);
  auto v = Values(ms[3].body);
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(*v[0], std::string("\0\0\0\x2a", 4));
  EXPECT_EQ(*v[1], std::string("\x40\x04\0\0\0\0\0\0", 8));
  EXPECT_EQ(*v[2], std::string("\0\0\0\x01", 4));
  EXPECT_EQ(*v[3], "x");
  EXPECT_EQ(*v[4], std::string("\0\x02\0\0\0\0\0\x02\0\x0c\x13\x88", 12));
  EXPECT_FALSE(v[5].has_value());
  EXPECT_EQ(*v[6], std::string("\x01", 1));
  EXPECT_EQ(ms[4].body, std::string("SELECT 1\0", 9));

  // Describe of the statement: parameter types, then columns (text).
  c.Send(Parse("s2", "SELECT 1 AS one, 'a' AS two", {}) + Simple('D', 'S', "s2") + Sync());
  ms = c.ReadUntilReady();
  ASSERT_EQ(Types(ms), "1tTZ");
  std::vector<std::pair<int32_t, int16_t>> want2 = {{23, 0}, {1043, 0}};
  EXPECT_EQ(Fields(ms[2].body), want2);
}

TEST_F(PgServerTest, CloseAndFlush) {
  RawClient c(server_->port());
  c.Login("test", "test");
  pgwire::MessageWriter flush;
  flush.Empty('H');
  // Flush sends what is pending without a Sync.
  c.Send(Parse("a", "SELECT 1", {}) + Simple('C', 'S', "a") + flush.buffer());
  EXPECT_EQ(c.Read().type, '1');
  EXPECT_EQ(c.Read().type, '3');
  c.Send(Parse("a", "SELECT 2", {}) + Parse("a", "SELECT 3", {}) + Sync());
  auto ms = c.ReadUntilReady();
  ASSERT_EQ(Types(ms), "1EZ");
  EXPECT_EQ(SqlState(ms[1].body), "42P05");
  c.Send(Simple('C', 'S', "a") + Bind("", "a", {}, {}, {}) + Sync());
  ms = c.ReadUntilReady();
  ASSERT_EQ(Types(ms), "3EZ");
  EXPECT_EQ(SqlState(ms[1].body), "26000");
}

TEST_F(PgServerTest, ExecuteWithARowLimitSuspendsThePortal) {
  RawClient c(server_->port());
  c.Login("test", "test");
  c.Send(Parse("", "SELECT * FROM range(5)", {}) + Bind("p", "", {}, {}, {}) + Execute("p", 2) + Execute("p", 2) +
         Execute("p", 2) + Sync());
  EXPECT_EQ(Types(c.ReadUntilReady()), "12DDsDDsDCZ");
}

TEST_F(PgServerTest, AnExtendedQueryErrorSkipsToSync) {
  RawClient c(server_->port());
  c.Login("test", "test");
  c.Send(Parse("", "SELECT * FROM missing", {}) + Bind("", "", {}, {}, {}) + Execute("", 0) +
         Parse("x", "SELECT 1", {}) + Sync());
  auto ms = c.ReadUntilReady();
  ASSERT_EQ(Types(ms), "12EZ");
  EXPECT_EQ(SqlState(ms[2].body), "42P01");
  // Statement "x" was never parsed; the session still works.
  c.Send(Bind("", "x", {}, {}, {}) + Sync());
  ms = c.ReadUntilReady();
  ASSERT_EQ(Types(ms), "EZ");
  EXPECT_EQ(SqlState(ms[0].body), "26000");
  c.Send(Parse("", "SELECT 7", {}) + Bind("", "", {}, {}, {}) + Execute("", 0) + Sync());
  EXPECT_EQ(Types(c.ReadUntilReady()), "12DCZ");
}

TEST_F(PgServerTest, CancelRequestStopsTheRunningQuery) {
  RawClient c(server_->port());
  c.Login("test", "test");
  ASSERT_NE(c.pid(), 0);
  c.Query("SELECT sum(i) FROM range(1000000000000) t(i)");
  // The cancel may arrive before the statement starts: repeat until the error comes.
  RawClient::Message m;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    RawClient canceller(server_->port());
    pgwire::MessageWriter w;
    w.Int32(16);
    w.Int32(80877102);
    w.Int32(c.pid());
    w.Int32(c.secret());
    canceller.Send(w.buffer());
    EXPECT_TRUE(canceller.SeesEof());
    m = c.Read(std::chrono::milliseconds(200));
    if (m.type) break;
  }
  ASSERT_EQ(m.type, 'E');
  EXPECT_EQ(SqlState(m.body), "57014");
  EXPECT_EQ(Types(c.ReadUntilReady()), "Z");
  c.Query("SELECT 1");
  EXPECT_EQ(Types(c.ReadUntilReady()), "TDCZ");
}

TEST_F(PgServerTest, AMalformedMessageClosesOnlyThatConnection) {
  RawClient good(server_->port());
  good.Login("test", "test");
  for (std::string bad : {std::string("Q\0\0\0\x02", 5), std::string("Q\x7f\xff\xff\xff", 5),
                          std::string("Z\0\0\0\x04", 5), std::string("P\0\0\0\x06xy", 7)}) {
    RawClient c(server_->port());
    c.Login("test", "test");
    c.Send(bad);
    RawClient::Message m = c.Read();
    ASSERT_EQ(m.type, 'E') << bad;
    EXPECT_EQ(SqlState(m.body), "08P01");
    EXPECT_TRUE(c.SeesEof());
  }
  RawClient garbage(server_->port());
  garbage.Send("GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(garbage.SeesEof());
  good.Query("SELECT 1");
  EXPECT_EQ(Types(good.ReadUntilReady()), "TDCZ");
}

TEST_F(PgServerTest, SslRequestIsDeclined) {
  RawClient c(server_->port());
  pgwire::MessageWriter w;
  w.Int32(8);
  w.Int32(80877103);
  c.Send(w.buffer());
  // The answer is one byte, 'N'; then a normal startup follows.
  std::string reply;
  RawClient::Message m = c.Read(std::chrono::milliseconds(500));  // 'N' is too short for a message
  EXPECT_EQ(m.type, 0);
  EXPECT_EQ(Types(c.Login("test", "test")).back(), 'Z');
}

TEST_F(PgServerTest, TwentyConcurrentSessions) {
  constexpr int kSessions = 20;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kSessions; ++i) {
    clients.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_EQ(Types(clients.back()->Login("test", "test")).back(), 'Z');
  }
  EXPECT_EQ(server_->active_connections(), kSessions);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      clients[i]->Query(StrCat("SELECT ", i, " AS n, count(*) FROM range(100000)"));
      auto ms = clients[i]->ReadUntilReady();
      if (Types(ms) == "TDCZ" && Values(ms[1].body)[0] == StrCat(i)) ok.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kSessions);
  if (HavePsql()) {
    std::vector<std::thread> psqls;
    std::atomic<int> psql_ok{0};
    for (int i = 0; i < kSessions; ++i) {
      psqls.emplace_back([&, i] {
        Command c = Psql(StrCat("-U test -d dev -At -c 'SELECT ", i, "'"));
        if (c.status == 0 && c.output == StrCat(i, "\n")) psql_ok.fetch_add(1);
      });
    }
    for (auto& t : psqls) t.join();
    EXPECT_EQ(psql_ok.load(), kSessions);
  }
}

// libpq, loaded at run time: psql needs it, so it is there whenever psql is, and the
// build does not depend on libpq-dev.
class Libpq {
 public:
  Libpq() {
    handle_ = dlopen("libpq.so.5", RTLD_NOW);
    if (!handle_) return;
    Load(connectdb, "PQconnectdb");
    Load(status, "PQstatus");
    Load(error_message, "PQerrorMessage");
    Load(exec_params, "PQexecParams");
    Load(prepare, "PQprepare");
    Load(exec_prepared, "PQexecPrepared");
    Load(result_status, "PQresultStatus");
    Load(error_field, "PQresultErrorField");
    Load(ntuples, "PQntuples");
    Load(ftype, "PQftype");
    Load(getvalue, "PQgetvalue");
    Load(getlength, "PQgetlength");
    Load(getisnull, "PQgetisnull");
    Load(cmd_tuples, "PQcmdTuples");
    Load(clear, "PQclear");
    Load(finish, "PQfinish");
    Load(send_query, "PQsendQuery");
    Load(get_result, "PQgetResult");
    Load(get_cancel, "PQgetCancel");
    Load(cancel, "PQcancel");
    Load(free_cancel, "PQfreeCancel");
  }
  // Never dlclose()d: libpq keeps process-wide state (OpenSSL, GSSAPI) for the process.
  bool ok() const { return handle_ && loaded_; }

  using Conn = void;
  using Result = void;
  Conn* (*connectdb)(const char*) = nullptr;
  int (*status)(const Conn*) = nullptr;
  char* (*error_message)(const Conn*) = nullptr;
  Result* (*exec_params)(Conn*, const char*, int, const unsigned*, const char* const*, const int*, const int*,
                         int) = nullptr;
  Result* (*prepare)(Conn*, const char*, const char*, int, const unsigned*) = nullptr;
  Result* (*exec_prepared)(Conn*, const char*, int, const char* const*, const int*, const int*, int) = nullptr;
  int (*result_status)(const Result*) = nullptr;
  char* (*error_field)(const Result*, int) = nullptr;
  int (*ntuples)(const Result*) = nullptr;
  unsigned (*ftype)(const Result*, int) = nullptr;
  char* (*getvalue)(const Result*, int, int) = nullptr;
  int (*getlength)(const Result*, int, int) = nullptr;
  int (*getisnull)(const Result*, int, int) = nullptr;
  char* (*cmd_tuples)(Result*) = nullptr;
  void (*clear)(Result*) = nullptr;
  void (*finish)(Conn*) = nullptr;
  int (*send_query)(Conn*, const char*) = nullptr;
  Result* (*get_result)(Conn*) = nullptr;
  void* (*get_cancel)(Conn*) = nullptr;
  int (*cancel)(void*, char*, int) = nullptr;
  void (*free_cancel)(void*) = nullptr;

  static constexpr int kConnectionOk = 0;
  static constexpr int kCommandOk = 1;
  static constexpr int kTuplesOk = 2;
  static constexpr int kFatalError = 7;
  static constexpr int kSqlState = 'C';

 private:
  template <typename F>
  void Load(F& f, const char* name) {
    f = reinterpret_cast<F>(dlsym(handle_, name));
    if (!f) loaded_ = false;
  }
  void* handle_ = nullptr;
  bool loaded_ = true;
};

class LibpqTest : public PgServerTest {
 protected:
  void SetUp() override {
    PgServerTest::SetUp();
    if (!pq_.ok()) GTEST_SKIP() << "libpq.so.5 is not installed";
    conn_ = pq_.connectdb(StrCat("host=127.0.0.1 port=", server_->port(),
                                 " user=test password=test dbname=dev connect_timeout=10")
                              .c_str());
    ASSERT_EQ(pq_.status(conn_), Libpq::kConnectionOk) << pq_.error_message(conn_);
  }
  void TearDown() override {
    if (conn_) pq_.finish(conn_);
    PgServerTest::TearDown();
  }
  Libpq pq_;
  Libpq::Conn* conn_ = nullptr;
};

TEST_F(LibpqTest, ExecParamsWithTextAndBinaryResults) {
  const char* values[] = {"41", "hello"};
  Libpq::Result* r = pq_.exec_params(conn_, "SELECT $1::INTEGER + 1 AS a, $2 AS b, NULL::DATE AS c", 2, nullptr,
                                     values, nullptr, nullptr, 0);
  ASSERT_EQ(pq_.result_status(r), Libpq::kTuplesOk) << pq_.error_message(conn_);
  EXPECT_EQ(pq_.ntuples(r), 1);
  EXPECT_EQ(pq_.ftype(r, 0), 23u);
  EXPECT_EQ(std::string(pq_.getvalue(r, 0, 0)), "42");
  EXPECT_EQ(std::string(pq_.getvalue(r, 0, 1)), "hello");
  EXPECT_EQ(pq_.getisnull(r, 0, 2), 1);
  pq_.clear(r);

  // Binary parameters (typed int8) and binary results.
  std::string eight("\0\0\0\0\0\0\x01\x00", 8);  // 256
  const char* bin_values[] = {eight.data()};
  int lengths[] = {8};
  int formats[] = {1};
  unsigned types[] = {20};
  r = pq_.exec_params(conn_, "SELECT $1::BIGINT * 2 AS v, 1.25::DOUBLE AS d, TIMESTAMP '2000-01-01 00:00:01' AS t", 1,
                      types, bin_values, lengths, formats, 1);
  ASSERT_EQ(pq_.result_status(r), Libpq::kTuplesOk) << pq_.error_message(conn_);
  EXPECT_EQ(pq_.ftype(r, 0), 20u);
  EXPECT_EQ(std::string(pq_.getvalue(r, 0, 0), pq_.getlength(r, 0, 0)), std::string("\0\0\0\0\0\0\x02\x00", 8));
  EXPECT_EQ(pq_.ftype(r, 1), 701u);
  EXPECT_EQ(std::string(pq_.getvalue(r, 0, 1), pq_.getlength(r, 0, 1)), std::string("\x3f\xf4\0\0\0\0\0\0", 8));
  EXPECT_EQ(pq_.ftype(r, 2), 1114u);
  EXPECT_EQ(std::string(pq_.getvalue(r, 0, 2), pq_.getlength(r, 0, 2)), std::string("\0\0\0\0\0\x0f\x42\x40", 8));
  pq_.clear(r);
}

TEST_F(LibpqTest, PreparedStatementsRunManyTimes) {
  Libpq::Result* r = pq_.exec_params(conn_, "CREATE TABLE kv (k INTEGER, v VARCHAR)", 0, nullptr, nullptr, nullptr,
                                     nullptr, 0);
  ASSERT_EQ(pq_.result_status(r), Libpq::kCommandOk) << pq_.error_message(conn_);
  pq_.clear(r);
  r = pq_.prepare(conn_, "ins", "INSERT INTO kv VALUES ($1, $2)", 2, nullptr);
  ASSERT_EQ(pq_.result_status(r), Libpq::kCommandOk) << pq_.error_message(conn_);
  pq_.clear(r);
  for (int i = 0; i < 5; ++i) {
    std::string k = StrCat(i), v = StrCat("v", i);
    const char* values[] = {k.c_str(), v.c_str()};
    r = pq_.exec_prepared(conn_, "ins", 2, values, nullptr, nullptr, 0);
    ASSERT_EQ(pq_.result_status(r), Libpq::kCommandOk) << pq_.error_message(conn_);
    EXPECT_EQ(std::string(pq_.cmd_tuples(r)), "1");
    pq_.clear(r);
  }
  r = pq_.exec_params(conn_, "SELECT count(*), max(v) FROM kv", 0, nullptr, nullptr, nullptr, nullptr, 0);
  ASSERT_EQ(pq_.result_status(r), Libpq::kTuplesOk);
  EXPECT_EQ(std::string(pq_.getvalue(r, 0, 0)), "5");
  EXPECT_EQ(std::string(pq_.getvalue(r, 0, 1)), "v4");
  pq_.clear(r);
  // An error names its SQLSTATE and leaves the connection usable.
  r = pq_.exec_params(conn_, "SELECT * FROM nope", 0, nullptr, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(pq_.result_status(r), Libpq::kFatalError);
  EXPECT_EQ(std::string(pq_.error_field(r, Libpq::kSqlState)), "42P01");
  pq_.clear(r);
  r = pq_.exec_prepared(conn_, "ins", 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(pq_.result_status(r), Libpq::kFatalError);
  pq_.clear(r);
  r = pq_.exec_params(conn_, "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(pq_.result_status(r), Libpq::kTuplesOk);
  pq_.clear(r);
}

TEST_F(LibpqTest, PQcancelStopsTheRunningQuery) {
  ASSERT_EQ(pq_.send_query(conn_, "SELECT sum(i) FROM range(1000000000000) t(i)"), 1);
  void* cancel = pq_.get_cancel(conn_);
  ASSERT_NE(cancel, nullptr);
  // libpq reads the result on this thread; cancel (repeatedly, in case the first
  // arrives before the statement starts) from another until the result is in.
  std::atomic<bool> done{false};
  std::thread canceller([&] {
    char err[256];
    while (!done.load()) {
      pq_.cancel(cancel, err, sizeof err);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  Libpq::Result* r = pq_.get_result(conn_);
  done.store(true);
  canceller.join();
  pq_.free_cancel(cancel);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(pq_.result_status(r), Libpq::kFatalError);
  EXPECT_EQ(std::string(pq_.error_field(r, Libpq::kSqlState)), "57014");
  pq_.clear(r);
  while ((r = pq_.get_result(conn_)) != nullptr) pq_.clear(r);
  r = pq_.exec_params(conn_, "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(pq_.result_status(r), Libpq::kTuplesOk);
  pq_.clear(r);
}

TEST_F(PgServerTest, ManyQueriesOnOneSession) {
  RawClient c(server_->port());
  c.Login("test", "test");
  constexpr int kQueries = 2000;
  auto start = std::chrono::steady_clock::now();
  int ok = 0;
  for (int i = 0; i < kQueries; ++i) {
    c.Query("SELECT 1");
    if (Types(c.ReadUntilReady()) == "TDCZ") ++ok;
  }
  double simple_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < kQueries; ++i) {
    c.Send(Parse("", "SELECT $1::INTEGER", {23}) + Bind("", "", {0}, {StrCat(i)}, {1}) + Execute("", 0) + Sync());
    if (Types(c.ReadUntilReady()) == "12DCZ") ++ok;
  }
  double extended_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ok, 2 * kQueries);
  printf("%d simple queries: %.0f ms (%.0f us each); %d extended: %.0f ms (%.0f us each)\n", kQueries, simple_ms,
         simple_ms * 1000 / kQueries, kQueries, extended_ms, extended_ms * 1000 / kQueries);
}

TEST_F(PgServerTest, StopClosesOpenConnections) {
  RawClient c(server_->port());
  c.Login("test", "test");
  server_->Stop();
  EXPECT_TRUE(c.SeesEof());
  EXPECT_EQ(server_->active_connections(), 0);
}

}  // namespace
}  // namespace sluice
