#include "s3/notifications.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace sluice {
namespace {

// A destination that refuses the first deliveries is retried until it accepts; the outbox
// row goes only then.
TEST(NotificationsTest, FailedDeliveryIsRetriedAndTheRowKeptUntilAccepted) {
  std::string tmpl = ::testing::TempDir() + "/notifications_test_XXXXXX";
  std::string dir = ::mkdtemp(tmpl.data());
  auto store = ObjectStore::Open(dir + "/s3");
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->CreateBucket("b", "us-east-1").ok());
  Notifications n(**store, "us-east-1");
  std::atomic<int> calls{0};
  std::atomic<int> accepted{0};
  n.SetQueues({[&](const std::string&, const std::string& message) {
                 if (message.find("Records") == std::string::npos) return absl::OkStatus();  // s3:TestEvent
                 if (++calls < 3) return absl::UnavailableError("queue down");
                 ++accepted;
                 return absl::OkStatus();
               },
               [](const std::string&) { return true; }});
  ASSERT_TRUE(n.Put("b", "<NotificationConfiguration><QueueConfiguration><Id>q</Id>"
                         "<Queue>arn:aws:sqs:us-east-1:000000000000:q</Queue>"
                         "<Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>")
                  .ok());
  auto f = (*store)->NewObjectFile();
  ASSERT_TRUE(f.ok());
  ObjectMeta m;
  m.key = "k";
  m.etag = "e";
  ASSERT_TRUE((*store)->PutObject("b", m, std::move(*f)).ok());
  auto rows = (*store)->ReadOutbox(0, 10);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);  // committed with the object, before any delivery
  n.Start();
  for (int i = 0; i < 100 && (accepted == 0 || !(*store)->ReadOutbox(0, 10)->empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  n.Stop();
  EXPECT_EQ(accepted.load(), 1);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_TRUE((*store)->ReadOutbox(0, 10)->empty());
}

}  // namespace
}  // namespace sluice
